package io.trainq.cli.local;

import static org.assertj.core.api.Assertions.assertThat;

import io.trainq.testkit.RabbitBroker;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two {@code trainq run} of one job at once: the second exits at once (exit 2) naming the first,
 * whether it shares the first's state directory (the file lock) or only its state (the broker's
 * exclusive consumer); the first runs to the end, its counts and utilization untouched.
 */
@Tag("broker")
class ConcurrentRunIT {
  private final RabbitBroker broker = RabbitBroker.single();

  @TempDir Path dir;

  private Process start(Path job, Path stateDir, Path out) throws IOException {
    return TrainqProcess.start(out, List.of("run", "-f", job.toString(), "--gpus", "2", "--plain", "--state-dir",
        stateDir.toString(), "--rabbitmq", broker.uri(0)));
  }

  @Test
  void aSecondRunOfTheSameJobExitsAtOnceNamingTheFirst() throws Exception {
    Path job = TrainqProcess.dummyJob(dir.resolve("twice.yaml"), "twice", 60, "1", "");
    Path state = dir.resolve("state");
    Path out1 = dir.resolve("first.txt");
    Process first = start(job, state, out1);
    long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
    while (!Files.readString(out1).matches("(?s).*\\b([1-9]\\d*)/60 done.*") && System.nanoTime() < deadline) {
      Thread.sleep(300);
    }
    assertThat(first.isAlive()).as(Files.readString(out1)).isTrue();

    // garbage carrying a real task's message id, on the job's queue: dead-lettered and counted apart
    Matcher queue = Pattern.compile("queue (tq\\.\\S+\\.tasks)").matcher(Files.readString(out1));
    assertThat(queue.find()).isTrue();
    String stateJson;
    try (var files = Files.list(state)) {
      stateJson = Files.readString(files.filter(f -> f.toString().endsWith(".json")).findFirst().orElseThrow());
    }
    Matcher uidMatch = Pattern.compile("\"uid\"\\s*:\\s*\"([^\"]+)\"").matcher(stateJson);
    assertThat(uidMatch.find()).as(stateJson).isTrue();
    String uid = uidMatch.group(1);
    try (var conn = broker.newConnection("ConcurrentRunIT"); var ch = conn.createChannel()) {
      ch.confirmSelect();
      ch.basicPublish("", queue.group(1), true, new com.rabbitmq.client.AMQP.BasicProperties.Builder().deliveryMode(2)
          .messageId(uid + ":3").build(), "not a task".getBytes(StandardCharsets.UTF_8));
      ch.waitForConfirmsOrDie(10_000);
    }

    // the same state directory: the file lock refuses it at once
    Path out2 = dir.resolve("second.txt");
    long t0 = System.nanoTime();
    TrainqProcess.Result second = TrainqProcess.await(start(job, state, out2), Duration.ofSeconds(60), out2);
    assertThat(second.code()).as(second.output()).isEqualTo(2);
    assertThat(second.output()).contains("is already running here").contains("pid " + first.pid());
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(30));

    // a copy of its state elsewhere (the same job uid, so the same queues): the broker refuses it
    Path copy = dir.resolve("copy");
    Files.createDirectories(copy);
    try (var files = Files.list(state)) {
      for (Path f : files.filter(f -> f.toString().endsWith(".json")).toList()) {
        Files.copy(f, copy.resolve(f.getFileName()));
      }
    }
    Path out3 = dir.resolve("third.txt");
    TrainqProcess.Result third = TrainqProcess.await(start(job, copy, out3), Duration.ofSeconds(90), out3);
    assertThat(third.code()).as(third.output()).isEqualTo(2);
    assertThat(third.output()).contains("already running from another state directory");

    TrainqProcess.Result done = TrainqProcess.await(first, Duration.ofMinutes(4), out1);
    assertThat(done.code()).as(done.output()).isZero();
    assertThat(TrainqProcess.summary(done.output(), "succeeded")).isEqualTo(60);
    assertThat(TrainqProcess.summary(done.output(), "dead-lettered")).isZero();
    assertThat(TrainqProcess.summary(done.output(), "rejected messages")).isEqualTo(1);
    assertThat(done.output()).containsPattern("(?m)^  -\\s+-\\s+malformed\\s+-\\s+.*token");
    Matcher util = Pattern.compile("GPU utilization\\s+(\\d+)%").matcher(done.output());
    assertThat(util.find()).as(done.output()).isTrue();
    assertThat(Integer.parseInt(util.group(1))).isBetween(1, 100);
  }
}
