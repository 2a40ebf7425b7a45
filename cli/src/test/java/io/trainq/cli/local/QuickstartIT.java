package io.trainq.cli.local;

import static org.assertj.core.api.Assertions.assertThat;

import io.trainq.testkit.RabbitBroker;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's first command, as a user runs it: the `trainq` launcher, the quickstart sample (tasks
 * that fail and tasks that kill their worker), real worker processes and a real RabbitMQ. Then a
 * run interrupted with SIGINT and continued, which must count every task exactly once.
 */
@Tag("broker")
class QuickstartIT {
  private static final Path ROOT = TrainqProcess.ROOT;
  private final RabbitBroker broker = RabbitBroker.single();

  @TempDir Path state;

  private Process start(Path job, String... extra) throws IOException {
    List<String> args = new java.util.ArrayList<>(List.of("run", "-f", job.toString(),
        "--gpus", "4", "--plain", "--state-dir", state.toString(), "--rabbitmq", broker.uri(0)));
    args.addAll(List.of(extra));
    return TrainqProcess.start(state.resolve("out-" + System.nanoTime() + ".txt"), args);
  }

  private Path lastOutput() throws IOException {
    try (var s = Files.list(state)) {
      return s.filter(f -> f.getFileName().toString().startsWith("out-")).sorted().reduce((a, b) -> b).orElseThrow();
    }
  }

  @Test
  void quickstartRunsEveryTaskToSuccessThroughFailuresAndWorkerCrashes() throws Exception {
    Process p = start(ROOT.resolve("samples/quickstart.yaml"));
    TrainqProcess.Result r = TrainqProcess.await(p, Duration.ofMinutes(6), lastOutput());
    assertThat(r.code()).as(r.output()).isZero();
    assertThat(r.output()).contains("TrainingJob default/quickstart Succeeded");
    // the first screen: no logging-binding warnings, no escape codes in plain output
    assertThat(r.output()).doesNotContain("SLF4J").doesNotContain("\u001b");
    assertThat(TrainqProcess.summary(r.output(), "tasks")).isEqualTo(100);
    assertThat(TrainqProcess.summary(r.output(), "succeeded")).isEqualTo(100);
    assertThat(TrainqProcess.summary(r.output(), "dead-lettered")).isZero();
    // 20% of attempts fail: with 100 tasks, no retries at all would be a broken retry path
    assertThat(TrainqProcess.summary(r.output(), "retries")).isPositive();
    // 5% of attempts kill their worker: over 100+ attempts none at all has a chance of 0.95^125 ≈ 0.2%;
    // without a restart the crash path (redelivery, counted once) was not exercised
    assertThat(TrainqProcess.summary(r.output(), "worker restarts")).as(r.output()).isPositive();
  }

  @Test
  void interruptedRunContinuesAndCountsEveryTaskOnce() throws Exception {
    Path job = TrainqProcess.dummyJob(state.resolve("resume.yaml"), "resume", 40, "1",
        "  retry: {maxAttempts: 3, backoff: {initial: 1s, max: 2s}}\n");
    Process first = start(job);
    Path out = lastOutput();
    // wait for some progress, then Ctrl-C (SIGINT) the runner
    long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
    while (!Files.readString(out).matches("(?s).*\\b([1-9]\\d*)/40 done.*") && System.nanoTime() < deadline) {
      Thread.sleep(500);
    }
    assertThat(Files.readString(out)).as("a task done within 3 minutes, before the interruption")
        .matches("(?s).*\\b([1-9]\\d*)/40 done.*");
    new ProcessBuilder("kill", "-INT", Long.toString(javaPid(first))).start().waitFor();
    TrainqProcess.Result stopped = TrainqProcess.await(first, Duration.ofMinutes(2), out);
    assertThat(stopped.code()).as(stopped.output()).isEqualTo(130);
    // interrupted in the middle: some tasks done, not all, or nothing is continued below
    int stoppedAt = count(stopped.output(), "Stopped at (\\d+)/40\\.");
    assertThat(stoppedAt).as(stopped.output()).isBetween(1, 39);

    Process second = start(job);
    TrainqProcess.Result done = TrainqProcess.await(second, Duration.ofMinutes(4), lastOutput());
    assertThat(done.code()).as(done.output()).isZero();
    // it continues from where it stopped, and counts each task once: the ones done before and the rest
    assertThat(count(done.output(), "Continuing TrainingJob .*\\((\\d+)/40 done before\\)")).as(done.output())
        .isEqualTo(stoppedAt);
    assertThat(TrainqProcess.summary(done.output(), "succeeded")).isEqualTo(40);
    assertThat(TrainqProcess.summary(done.output(), "tasks")).isEqualTo(40);
  }

  /**
   * The job's task queue deleted by hand mid-run: its workers exit with it, and the run finds the
   * unfinished tasks missing from the broker, declares the queue again, republishes them and starts
   * the workers again; every task ends succeeded, counted once.
   */
  @Test
  void aTaskQueueDeletedMidRunIsDeclaredAgainAndItsTasksRepublished() throws Exception {
    Path job = TrainqProcess.dummyJob(state.resolve("deleted.yaml"), "deleted", 40, "0.5",
        "  retry: {maxAttempts: 3, backoff: {initial: 1s, max: 2s}}\n");
    Process run = start(job);
    Path out = lastOutput();
    long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
    while (!Files.readString(out).matches("(?s).*\\b([4-9]|[1-3]\\d)/40 done.*") && System.nanoTime() < deadline) {
      Thread.sleep(200);
    }
    String before = Files.readString(out);
    assertThat(before).as("some tasks done, not all, within 3 minutes").matches("(?s).*\\b([4-9]|[1-3]\\d)/40 done.*");
    Matcher q = Pattern.compile("queue (tq\\.\\S+\\.tasks)").matcher(before);
    assertThat(q.find()).as(before).isTrue();
    com.rabbitmq.client.ConnectionFactory f = new com.rabbitmq.client.ConnectionFactory();
    f.setUri(broker.uri(0));
    try (com.rabbitmq.client.Connection c = f.newConnection("quickstart-it"); com.rabbitmq.client.Channel ch = c.createChannel()) {
      ch.queueDelete(q.group(1));
    }
    TrainqProcess.Result done = TrainqProcess.await(run, Duration.ofMinutes(3), out);
    assertThat(done.code()).as(done.output()).isZero();
    assertThat(done.output()).contains("task queue " + q.group(1) + " was deleted with").contains("republished ");
    assertThat(TrainqProcess.summary(done.output(), "succeeded")).isEqualTo(40);
    assertThat(TrainqProcess.summary(done.output(), "tasks")).isEqualTo(40);
    assertThat(TrainqProcess.summary(done.output(), "dead-lettered")).isZero();
  }

  @Test
  void overTlsWithAClientCertificateEveryTaskSucceedsAndAnUntrustedBrokerIsSaidAtOnce() throws Exception {
    Path job = TrainqProcess.dummyJob(state.resolve("tls.yaml"), "tls", 12, "0.2", "");
    String uri = "amqps://" + RabbitBroker.USERNAME + ":" + RabbitBroker.PASSWORD + "@localhost:" + broker.tlsPort(0) + "/%2F";
    List<String> args = List.of("run", "-f", job.toString(), "--gpus", "4", "--plain", "--state-dir", state.toString(),
        "--rabbitmq", uri);
    // the URI names the TLS port only: workers that did not speak TLS could not run a task
    Path out = state.resolve("out-tls.txt");
    TrainqProcess.Result r = TrainqProcess.await(TrainqProcess.start(out, args, java.util.Map.of(
        "TRAINQ_RABBITMQ_CA_FILE", broker.tlsFile("ca.crt").toString(),
        "TRAINQ_RABBITMQ_CERT_FILE", broker.tlsFile("client.crt").toString(),
        "TRAINQ_RABBITMQ_KEY_FILE", broker.tlsFile("client.key").toString())), Duration.ofMinutes(3), out);
    assertThat(r.code()).as(r.output()).isZero();
    assertThat(TrainqProcess.summary(r.output(), "succeeded")).isEqualTo(12);
    assertThat(r.output()).doesNotContain(RabbitBroker.PASSWORD + "@");

    // without the CA: the JVM's trusted CAs do not know the broker's
    Path job2 = TrainqProcess.dummyJob(state.resolve("tls2.yaml"), "tls-untrusted", 2, "0.1", "");
    Path out2 = state.resolve("out-tls2.txt");
    long t0 = System.nanoTime();
    TrainqProcess.Result refused = TrainqProcess.await(TrainqProcess.start(out2, List.of("run", "-f", job2.toString(), "--gpus", "2", "--plain",
        "--state-dir", state.resolve("s2").toString(), "--rabbitmq", uri)), Duration.ofMinutes(2), out2);
    assertThat(refused.code()).as(refused.output()).isNotZero();
    assertThat(refused.output()).contains("not signed by a CA trusted here").contains("TRAINQ_RABBITMQ_CA_FILE");
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).as("no minute of retries").isLessThan(Duration.ofSeconds(40));
  }

  private static int count(String output, String regex) {
    Matcher m = Pattern.compile(regex).matcher(output);
    assertThat(m.find()).as("/%s/ in:\n%s", regex, output).isTrue();
    return Integer.parseInt(m.group(1));
  }

  /** The wrapper and the launcher exec, so the process is the JVM itself. */
  private static long javaPid(Process p) {
    return p.pid();
  }
}
