package io.trainq.worker;

import static org.assertj.core.api.Assertions.assertThat;

import io.trainq.protocol.RabbitSettings;
import io.trainq.protocol.WorkerEnv;
import io.trainq.testkit.RabbitBroker;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A worker the broker refuses (wrong password, unknown vhost) exits 2 at once with the broker's words,
 * instead of retrying for its whole connect timeout: no retry can fix the configuration.
 */
@Tag("broker")
class WorkerRefusedByBrokerIT {
  private final RabbitBroker broker = RabbitBroker.single();

  @TempDir Path dir;

  @ParameterizedTest(name = "{0}")
  @CsvSource({
    "wrong password, trainq, wrong-pw-4711, /, ACCESS_REFUSED",
    "unknown vhost, trainq, trainq, no-such-vhost, NOT_ALLOWED"
  })
  void exitsAtOnceWithCode2(String what, String user, String password, String vhost, String brokerWords) throws Exception {
    Map<String, String> env = new HashMap<>(WorkerConfigTest.operatorEnv());
    env.putAll(new RabbitSettings(RabbitSettings.parseAddresses("127.0.0.1:" + broker.amqpPort(0)), user, password, vhost, null)
        .toEnv());
    env.put(WorkerConfig.CONNECT_TIMEOUT_MS, "30000");
    long t0 = System.nanoTime();
    try (WorkerProcess w = WorkerProcess.start("refused", env, dir, List.of("true"))) {
      // the connect timeout is 30 s: exiting well before it means no retry happened
      assertThat(w.awaitExit(Duration.ofSeconds(15))).as(w.log()).isEqualTo(WorkerEnv.EXIT_BAD_CONFIG);
      assertThat(Duration.ofNanos(System.nanoTime() - t0)).as(what).isLessThan(Duration.ofSeconds(15));
      assertThat(w.log())
          .contains("trainq-worker: RabbitMQ at 127.0.0.1:" + broker.amqpPort(0) + " refused")
          .contains(brokerWords)
          .contains("user '" + user + "'")
          .doesNotContain("wrong-pw-4711");
    }
  }
}
