package io.trainq.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Address;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The single node of the version under test serves the queue arguments trainq relies on. */
@Tag("broker")
@Timeout(120)
class RabbitBrokerIT {

  private static final int DELIVERY_LIMIT = 2;

  private static RabbitBroker broker;

  @BeforeAll
  static void broker() {
    broker = RabbitBroker.single();
  }

  @Test
  void singleNodeFollowsThePortPlanAndRunsTheVersionUnderTest() throws Exception {
    boolean v40 = broker.version().equals("4.0");
    int port = v40 ? 5672 : 5682;
    assertThat(broker.nodeNames()).containsExactly(v40 ? "tq40s1@localhost" : "tq310s1@localhost");
    assertThat(broker.addresses()).extracting(Address::getPort).containsExactly(port);
    assertThat(broker.addressList()).isEqualTo("127.0.0.1:" + port);
    assertThat(broker.uri(0)).isEqualTo("amqp://trainq:trainq@127.0.0.1:" + port + "/%2F");
    assertThat(broker.managementPort(0)).isEqualTo(port + 10000);
    try (Connection connection = broker.newConnection("testkit-version")) {
      assertThat(connection.getServerProperties().get("version")).asString().startsWith(broker.version() + ".");
      assertThat(connection.getAddress().isLoopbackAddress()).isTrue();
    }
    assertThat(broker.runningNodes()).containsExactlyElementsOf(broker.nodeNames());
  }

  @Test
  void quorumQueueWithDeadLetteringTakesConfirmedPublishesAndAcks() throws Exception {
    String queue = RabbitBroker.uniqueName("it-tasks");
    String dead = RabbitBroker.uniqueName("it-dead");
    try (Connection connection = broker.newConnection("testkit-quorum")) {
      Channel channel = connection.createChannel();
      channel.queueDeclare(dead, true, false, false, Map.of("x-queue-type", "quorum"));
      // The task queue's declaration in the RabbitMQ contract (docs/ARCHITECTURE.md).
      AMQP.Queue.DeclareOk declared = channel.queueDeclare(queue, true, false, false, Map.of(
          "x-queue-type", "quorum",
          "x-delivery-limit", DELIVERY_LIMIT,
          "x-dead-letter-exchange", "",
          "x-dead-letter-routing-key", dead,
          "x-dead-letter-strategy", "at-least-once",
          "x-overflow", "reject-publish"));
      assertThat(declared.getQueue()).isEqualTo(queue);
      assertThat(broker.quorumLeader(queue)).isEqualTo(broker.nodeName(0));

      int n = 200;
      List<String> published = Amqp.publishConfirmed(connection, queue, "task", n);
      assertThat(broker.readyCount(queue)).isEqualTo(n);
      // The management API lags; it catches up within a few seconds.
      assertThat(broker.awaitQueueDepth(queue, new QueueDepth(n, 0), Duration.ofSeconds(30)).total()).isEqualTo(n);

      List<String> consumed = Amqp.consumeAndAck(connection, queue, n, Duration.ofSeconds(30), Duration.ofMillis(300));
      assertThat(consumed).hasSize(n).doesNotHaveDuplicates().containsExactlyInAnyOrderElementsOf(published);
      assertThat(broker.readyCount(queue)).isZero();
      assertThat(broker.awaitQueueDepth(queue, new QueueDepth(0, 0), Duration.ofSeconds(30)).total()).isZero();

      // A rejected task is dead-lettered with its reason.
      Amqp.publishConfirmed(connection, queue, "rejected", 1);
      GetResponse got = channel.basicGet(queue, false);
      assertThat(got.getProps().getMessageId()).isEqualTo("rejected-0");
      channel.basicReject(got.getEnvelope().getDeliveryTag(), false);
      GetResponse deadLetter = awaitGet(channel, dead);
      assertThat(deadLetter.getProps().getMessageId()).isEqualTo("rejected-0");
      assertThat(String.valueOf(deadLetter.getProps().getHeaders().get("x-first-death-reason"))).isEqualTo("rejected");
      channel.basicAck(deadLetter.getEnvelope().getDeliveryTag(), false);

      // A task requeued past the delivery limit is dead-lettered too, not redelivered forever.
      Amqp.publishConfirmed(connection, queue, "requeued", 1);
      int deliveries = 0;
      GetResponse again;
      while ((again = awaitGetOrNull(channel, queue, Duration.ofSeconds(1))) != null
          && deliveries <= DELIVERY_LIMIT + 2) {
        deliveries++;
        channel.basicNack(again.getEnvelope().getDeliveryTag(), false, true);
      }
      assertThat(deliveries).isEqualTo(DELIVERY_LIMIT + 1);
      GetResponse exhausted = awaitGet(channel, dead);
      assertThat(exhausted.getProps().getMessageId()).isEqualTo("requeued-0");
      assertThat(String.valueOf(exhausted.getProps().getHeaders().get("x-first-death-reason")))
          .isEqualTo("delivery_limit");
      channel.basicAck(exhausted.getEnvelope().getDeliveryTag(), false);
      assertThat(broker.readyCount(dead)).isZero();
    } finally {
      broker.deleteQueue(queue);
      broker.deleteQueue(dead);
    }
  }

  /** basicGet until a message arrives; dead-lettering is asynchronous. */
  private static GetResponse awaitGet(Channel channel, String queue) throws Exception {
    GetResponse response = awaitGetOrNull(channel, queue, Duration.ofSeconds(10));
    assertThat(response).as("a message in %s", queue).isNotNull();
    return response;
  }

  private static GetResponse awaitGetOrNull(Channel channel, String queue, Duration timeout) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      GetResponse response = channel.basicGet(queue, false);
      if (response != null) {
        return response;
      }
      Thread.sleep(50);
    }
    return null;
  }
}
