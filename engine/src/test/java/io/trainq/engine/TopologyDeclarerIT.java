package io.trainq.engine;

import static org.assertj.core.api.Assertions.assertThat;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import io.trainq.protocol.JobSettings;
import io.trainq.protocol.JobTopology;
import io.trainq.testkit.RabbitBroker;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("broker")
class TopologyDeclarerIT {
  static RabbitBroker broker;
  static Connection connection;

  @BeforeAll
  static void connect() {
    broker = RabbitBroker.single();
    connection = broker.newConnection("TopologyDeclarerIT");
  }

  @AfterAll
  static void close() throws Exception {
    connection.close();
  }

  static JobTopology newJob() {
    return new JobTopology("ns", RabbitBroker.uniqueName("job"), UUID.randomUUID().toString());
  }

  static JobSettings settings(int deliveryLimit, Duration ttl) {
    return new JobSettings(3, Duration.ofMillis(200), Duration.ofMillis(400), Duration.ofHours(1), ttl, deliveryLimit);
  }

  @Test
  void declaresIdempotentlyAndReportsAMismatchWithoutFailing() throws Exception {
    TopologyDeclarer d = new TopologyDeclarer(connection);
    JobTopology job = newJob();
    assertThat(d.declare(job, settings(5, null)).ok()).isTrue();
    assertThat(d.declare(job, settings(5, null)).ok()).as("declaring again is a no-op").isTrue();
    assertThat(d.inspect(job.taskQueue())).hasValueSatisfying(q -> assertThat(q.ready()).isZero());
    assertThat(d.inspect(job.retryQueue(Duration.ofMillis(200)))).isPresent();
    assertThat(d.inspect(job.retryQueue(Duration.ofMillis(400)))).isPresent();

    TopologyDeclarer.Result r = d.declare(job, settings(7, null));
    assertThat(r.ok()).isFalse();
    assertThat(r.object()).isEqualTo(job.taskQueue());
    assertThat(r.detail()).contains("PRECONDITION_FAILED").contains("x-delivery-limit");
    assertThat(connection.isOpen()).as("a mismatch closes only its own channel").isTrue();
    assertThat(d.declare(job, settings(5, null)).ok()).isTrue();
    d.delete(job, settings(5, null));
  }

  @Test
  void deadLettersAndRetriesAreRoutedAsTheContractSays() throws Exception {
    TopologyDeclarer d = new TopologyDeclarer(connection);
    JobTopology job = newJob();
    JobSettings s = settings(5, null);
    assertThat(d.declare(job, s).ok()).isTrue();
    try (Channel ch = connection.createChannel()) {
      ch.confirmSelect();
      // a worker-initiated dead letter goes to the dead-letter exchange with the job key
      ch.basicPublish(JobTopology.DEAD_LETTER_EXCHANGE, job.key(), true, new AMQP.BasicProperties(), "dead".getBytes(StandardCharsets.UTF_8));
      // a retry, published to the retry exchange with its queue's name, waits out its delay there, then returns to the task queue
      ch.basicPublish(JobTopology.RETRY_EXCHANGE, job.retryQueue(Duration.ofMillis(200)), true, new AMQP.BasicProperties(), "retry".getBytes(StandardCharsets.UTF_8));
      ch.waitForConfirmsOrDie(5000);
      assertThat(broker.readyCount(job.deadLetterQueue())).isEqualTo(1);
      GetResponse back = null;
      long deadline = System.currentTimeMillis() + 10_000;
      while (back == null && System.currentTimeMillis() < deadline) {
        back = ch.basicGet(job.taskQueue(), true);
        if (back == null) {
          Thread.sleep(50);
        }
      }
      assertThat(back).as("the retry came back to the task queue").isNotNull();
      assertThat(new String(back.getBody(), StandardCharsets.UTF_8)).isEqualTo("retry");
    }
    assertThat(d.delete(job, s)).containsExactlyInAnyOrder(job.taskQueue(), job.deadLetterQueue(),
        job.retryQueue(Duration.ofMillis(200)), job.retryQueue(Duration.ofMillis(400)));
    assertThat(d.inspect(job.taskQueue())).isEmpty();
    assertThat(d.inspect(job.deadLetterQueue())).isEmpty();
    assertThat(d.delete(job, s)).as("deleting again finds nothing").isEmpty();
  }

  @Test
  void theEventsQueueGetsEventsAndDeadLettersOfItsNamespacesOnly() throws Exception {
    TopologyDeclarer d = new TopologyDeclarer(connection);
    String queue = RabbitBroker.uniqueName("events");
    assertThat(d.declareEventsQueue(queue, List.of("team-a.#")).ok()).isTrue();
    try (Channel ch = connection.createChannel()) {
      ch.confirmSelect();
      ch.basicPublish(JobTopology.EVENTS_EXCHANGE, "team-a.job.123", false, new AMQP.BasicProperties(), new byte[] {1});
      ch.basicPublish(JobTopology.DEAD_LETTER_EXCHANGE, "team-a.job.123", false, new AMQP.BasicProperties(), new byte[] {2});
      ch.basicPublish(JobTopology.EVENTS_EXCHANGE, "team-b.job.456", false, new AMQP.BasicProperties(), new byte[] {3});
      ch.waitForConfirmsOrDie(5000);
    }
    // each binding key on both exchanges, and nothing else: a "#" or a missing dead-letter binding fails here
    assertThat(broker.bindings(queue)).containsExactlyInAnyOrder(
        new RabbitBroker.Binding(JobTopology.EVENTS_EXCHANGE, "team-a.#"),
        new RabbitBroker.Binding(JobTopology.DEAD_LETTER_EXCHANGE, "team-a.#"));
    // and what arrived is team-a's event and team-a's dead letter, each from its exchange
    // (a consumer: a quorum queue with single active consumer refuses basic.get)
    java.util.concurrent.BlockingQueue<String> arrived = new java.util.concurrent.LinkedBlockingQueue<>();
    try (Channel ch = connection.createChannel()) {
      ch.basicConsume(queue, true, (tag, m) -> arrived.add(m.getEnvelope().getExchange() + " "
          + m.getEnvelope().getRoutingKey() + " " + m.getBody()[0]), tag -> { });
      long deadline = System.currentTimeMillis() + 5000;
      while (arrived.size() < 2 && System.currentTimeMillis() < deadline) {
        Thread.sleep(20);
      }
      Thread.sleep(200);
    }
    assertThat(arrived).containsExactlyInAnyOrder(JobTopology.EVENTS_EXCHANGE + " team-a.job.123 1",
        JobTopology.DEAD_LETTER_EXCHANGE + " team-a.job.123 2");
    TopologyDeclarer.Result other = d.declareQueue(queue, java.util.Map.of("x-queue-type", "classic"));
    assertThat(other.ok()).isFalse();
    assertThat(other.detail()).contains("inequivalent arg");
    broker.deleteQueue(queue);
  }
}
