package io.trainq.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class OperatorConfigTest {

  @Test
  void readsTheChartsVariables() {
    OperatorConfig c = OperatorConfig.fromEnv(Map.ofEntries(
        Map.entry("TRAINQ_WATCH_NAMESPACES", "team-a, team-b,"),
        Map.entry("TRAINQ_OPERATOR_NAMESPACE", "trainq-system"),
        Map.entry("TRAINQ_POD_NAME", "trainq-operator-7d9f8c6b5-x2x4q"),
        Map.entry("TRAINQ_WORKER_IMAGE", "ghcr.io/trainq/trainq-worker:0.2.0"),
        Map.entry("TRAINQ_RABBITMQ_SECRET", "rabbit-default-user"),
        Map.entry("TRAINQ_RABBITMQ_ADDRESSES", "rabbit-0:5672,rabbit-1:5672"),
        Map.entry("TRAINQ_RABBITMQ_USERNAME", "u"),
        Map.entry("TRAINQ_RABBITMQ_PASSWORD", "p"),
        Map.entry("TRAINQ_LEADER_ELECTION", "true"),
        Map.entry("TRAINQ_LEADER_ELECTION_LEASE_DURATION", "20s"),
        Map.entry("TRAINQ_HTTP_PORT", "9090")));
    assertThat(c.watchNamespaces()).containsExactlyInAnyOrder("team-a", "team-b");
    assertThat(c.eventBindingKeys()).containsExactly("team-a.#", "team-b.#");
    assertThat(c.operatorNamespace()).isEqualTo("trainq-system");
    assertThat(c.identity()).isEqualTo("trainq-operator-7d9f8c6b5-x2x4q");
    assertThat(c.workerImage()).isEqualTo("ghcr.io/trainq/trainq-worker:0.2.0");
    assertThat(c.rabbitmqSecret()).isEqualTo("rabbit-default-user");
    assertThat(c.rabbitmq()).hasValueSatisfying(r -> {
      assertThat(r.addressList()).isEqualTo("rabbit-0:5672,rabbit-1:5672");
      assertThat(r.username()).isEqualTo("u");
    });
    assertThat(c.leaderElection()).isTrue();
    assertThat(c.leaseDuration()).isEqualTo(Duration.ofSeconds(20));
    assertThat(c.httpPort()).isEqualTo(9090);
  }

  @Test
  void defaults() {
    OperatorConfig c = OperatorConfig.fromEnv(Map.of());
    assertThat(c.watchNamespaces()).isEmpty();
    assertThat(c.eventBindingKeys()).isEqualTo(List.of("#"));
    assertThat(c.rabbitmq()).isEmpty();
    assertThat(c.leaderElection()).isFalse();
    assertThat(c.rabbitmqSecret()).isEqualTo("trainq-rabbitmq-default-user");
    assertThat(c.workerImage()).startsWith("ghcr.io/trainq/trainq-worker:").doesNotEndWith(":");
    assertThat(c.publishBatch()).isEqualTo(5000);
    assertThat(c.statusInterval()).isEqualTo(Duration.ofMillis(250));
  }

  @Test
  void kueueIsUsedWhereInstalledUnlessTurnedOff() {
    assertThat(OperatorConfig.fromEnv(Map.of()).kueue()).isTrue();
    assertThat(OperatorConfig.fromEnv(Map.of("TRAINQ_KUEUE", "auto")).kueue()).isTrue();
    assertThat(OperatorConfig.fromEnv(Map.of("TRAINQ_KUEUE", "off")).kueue()).isFalse();
    assertThatThrownBy(() -> OperatorConfig.fromEnv(Map.of("TRAINQ_KUEUE", "yes"))).hasMessageContaining("TRAINQ_KUEUE");
  }

  @Test
  void malformedValuesNameTheVariable() {
    assertThatThrownBy(() -> OperatorConfig.fromEnv(Map.of("TRAINQ_HTTP_PORT", "eighty")))
        .hasMessageContaining("TRAINQ_HTTP_PORT");
    assertThatThrownBy(() -> OperatorConfig.fromEnv(Map.of("TRAINQ_RESYNC_INTERVAL", "10 seconds")))
        .hasMessageContaining("TRAINQ_RESYNC_INTERVAL");
    assertThatThrownBy(() -> OperatorConfig.fromEnv(Map.of("TRAINQ_PUBLISH_BATCH", "0")))
        .hasMessageContaining("TRAINQ_PUBLISH_BATCH");
  }
}
