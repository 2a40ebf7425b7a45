package io.trainq.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Losing the leader of a quorum queue loses nothing: after a SIGKILL of the node that
 * leads it, the two survivors serve every confirmed message and keep taking new ones.
 */
@Tag("broker")
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class QuorumLeaderFailoverIT {

  private static final Logger log = LoggerFactory.getLogger(QuorumLeaderFailoverIT.class);
  private static final int BEFORE = 1000;
  private static final int DURING = 200;

  private static RabbitBroker broker;

  @BeforeAll
  static void cluster() {
    broker = RabbitBroker.cluster();
  }

  @AfterAll
  static void leaveTheClusterHealthy() {
    if (broker != null) {
      broker.ensureAllNodesRunning();
    }
  }

  @Test
  void survivorsServeEveryConfirmedMessageAfterTheLeaderIsKilled() throws Exception {
    String queue = RabbitBroker.uniqueName("it-failover");
    String killed = null;
    try {
      try (Connection connection = broker.newConnection("failover-publisher")) {
        Channel channel = connection.createChannel();
        channel.queueDeclare(queue, true, false, false, Map.of("x-queue-type", "quorum"));
        channel.close();
      }
      List<String> before;
      try (Connection connection = broker.newConnection("failover-publisher")) {
        before = Amqp.publishConfirmed(connection, queue, "before", BEFORE);
      }
      assertThat(broker.readyCount(queue)).isEqualTo(BEFORE);

      String leader = broker.quorumLeader(queue);
      assertThat(broker.nodeNames()).contains(leader);
      String survivor = broker.nodeNames().stream().filter(n -> !n.equals(leader)).findFirst().orElseThrow();

      killed = leader;
      long killedAt = System.nanoTime();
      broker.killNode(leader);
      assertThat(broker.isReachable(leader)).as("%s after SIGKILL", leader).isFalse();

      String newLeader = broker.awaitQuorumLeader(queue, n -> !n.equals(leader), Duration.ofSeconds(60));
      log.info("{} led {}; {} leads it {} ms after the kill", leader, queue, newLeader,
          TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killedAt));
      assertThat(newLeader).isIn(broker.nodeNames()).isNotEqualTo(leader);

      try (Connection connection = broker.newConnection("failover-consumer", survivor)) {
        List<String> consumed = Amqp.consumeAndAck(connection, queue, BEFORE, Duration.ofSeconds(90),
            Duration.ofSeconds(1));
        assertThat(consumed).as("deliveries from %s after %s was killed", survivor, leader)
            .hasSize(BEFORE)
            .doesNotHaveDuplicates()
            .containsExactlyInAnyOrderElementsOf(before);

        // The queue keeps taking and serving work while the old leader is down.
        List<String> during = Amqp.publishConfirmed(connection, queue, "during", DURING);
        List<String> consumedDuring = Amqp.consumeAndAck(connection, queue, DURING, Duration.ofSeconds(60),
            Duration.ofSeconds(1));
        assertThat(consumedDuring).hasSize(DURING).containsExactlyInAnyOrderElementsOf(during);
      }
      assertThat(broker.readyCount(queue)).isZero();
      assertThat(broker.isReachable(leader)).as("%s is still down", leader).isFalse();

      broker.startNode(killed);
      killed = null;
      assertThat(broker.runningNodes()).containsExactlyInAnyOrderElementsOf(broker.nodeNames());
      assertThat(broker.readyCount(queue)).isZero();
    } finally {
      if (killed != null) {
        broker.startNode(killed);
      }
      broker.deleteQueue(queue);
    }
  }
}
