package io.trainq.cli.local;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class BrokerAlarmNoticeTest {

  @Test
  void saysOnceWhenTheWorkersAreBlockedAndOnceWhenAllMayPublishAgain() {
    List<String> said = new ArrayList<>();
    BrokerAlarmNotice n = new BrokerAlarmNotice(said::add);
    n.see("[worker 0] 2026-12-01T01:38:55Z WARN  RabbitMQ blocks connection trainq-worker local-0-6142: low on memory "
        + "(a resource alarm: publishing waits until it clears; nothing is lost)");
    n.see("[worker 1] 2026-12-01T01:38:55Z WARN  RabbitMQ blocks connection trainq-worker local-1-6142: low on memory "
        + "(a resource alarm: publishing waits until it clears; nothing is lost)");
    n.see("[worker 0] 2026-12-01T01:38:56Z INFO  [task 3] attempt 1 succeeded");
    n.see("[worker 0] 2026-12-01T01:39:08Z INFO  RabbitMQ unblocked connection trainq-worker local-0-6142: publishing goes on");
    assertThat(said).containsExactly("RabbitMQ blocks publishing (low on memory; a resource alarm): running tasks go on, "
        + "their outcomes and new tasks wait until it clears, and nothing is lost");
    n.see("[worker 1] 2026-12-01T01:39:08Z INFO  RabbitMQ unblocked connection trainq-worker local-1-6142: publishing goes on");
    assertThat(said).hasSize(2).last().isEqualTo("RabbitMQ lets the workers publish again: the resource alarm cleared");
  }
}
