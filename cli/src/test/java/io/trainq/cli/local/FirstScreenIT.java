package io.trainq.cli.local;

import static org.assertj.core.api.Assertions.assertThat;

import io.trainq.testkit.RabbitBroker;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * What a new user sees first, through the `trainq` launcher: a broker that refuses the login or the
 * vhost is one clear line and exit code 2 at once (no 30 s of retries), and nothing else is on the
 * screen: no SLF4J warnings, no terminal escape codes.
 */
@Tag("broker")
class FirstScreenIT {
  private static final Path ROOT = Path.of(System.getProperty("trainq.project.root", "..")).toAbsolutePath().normalize();
  private final RabbitBroker broker = RabbitBroker.single();

  @TempDir Path dir;

  @ParameterizedTest(name = "{0}")
  @CsvSource({
    "wrong password, trainq:wrong-pw-4711, %2F, ACCESS_REFUSED, refused the login of user 'trainq' (vhost '/')",
    "unknown vhost,  trainq:trainq,        no-such-vhost, NOT_ALLOWED, refused vhost 'no-such-vhost' for user 'trainq'"
  })
  void refusedByTheBrokerIsOneLineAndExit2(String what, String userInfo, String vhost, String brokerWords, String named)
      throws Exception {
    Path job = dir.resolve("job.yaml");
    Files.writeString(job, """
        apiVersion: trainq.io/v1alpha1
        kind: TrainingJob
        metadata: {name: first-screen}
        spec: {image: i, command: ["true"], tasks: {count: 2}}
        """);
    Path out = dir.resolve("out.txt");
    String uri = "amqp://" + userInfo + "@127.0.0.1:" + broker.amqpPort(0) + "/" + vhost;
    Process p = new ProcessBuilder(List.of(ROOT.resolve("trainq").toString(), "run", "-f", job.toString(), "--gpus", "1",
        "--plain", "--state-dir", dir.resolve("state").toString(), "--rabbitmq", uri))
        .directory(ROOT.toFile()).redirectErrorStream(true).redirectOutput(out.toFile()).start();
    // the connect timeout is 30 s: finishing well before it means no retry happened
    if (!p.waitFor(25, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError(what + ": trainq run still running after 25 s:\n" + Files.readString(out));
    }
    String output = Files.readString(out, StandardCharsets.UTF_8);
    assertThat(p.exitValue()).as(output).isEqualTo(2);
    assertThat(output)
        .contains("trainq run: RabbitMQ at 127.0.0.1:" + broker.amqpPort(0) + " " + named)
        .contains(brokerWords)
        .doesNotContain("wrong-pw-4711")
        .doesNotContain("SLF4J")
        .doesNotContain("\u001b");
    assertThat(output.lines().filter(l -> !l.startsWith("Building trainq")).toList())
        .as("the screen, build notice aside").hasSize(1);
  }
}
