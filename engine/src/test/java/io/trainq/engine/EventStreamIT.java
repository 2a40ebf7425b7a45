package io.trainq.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import io.trainq.protocol.ConfirmingPublisher;
import io.trainq.protocol.JobSettings;
import io.trainq.protocol.JobTopology;
import io.trainq.protocol.Messages;
import io.trainq.protocol.TaskEvent;
import io.trainq.testkit.RabbitBroker;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("broker")
class EventStreamIT {
  static RabbitBroker broker;
  static Connection connection;

  @BeforeAll
  static void connect() {
    broker = RabbitBroker.single();
    connection = broker.newConnection("EventStreamIT");
  }

  @AfterAll
  static void close() throws Exception {
    connection.close();
  }

  static EventStream.Options options(String queue, String namespace) {
    return EventStream.Options.defaults().withQueue(queue).withBindingKeys(List.of(namespace + ".#"))
        .withStoreTimeout(Duration.ofSeconds(2));
  }

  static void publishEvents(JobTopology job, int from, int to, TaskEvent.Type type) throws Exception {
    try (ConfirmingPublisher p = new ConfirmingPublisher(connection.createChannel())) {
      List<CompletableFuture<Void>> fs = new ArrayList<>();
      for (int i = from; i < to; i++) {
        TaskEvent e = new TaskEvent(TaskEvent.SCHEMA, type, job.key(), job.uid(), i, 1, "w", 0, 0, 5L, 1.0, null, null,
            System.currentTimeMillis());
        fs.add(p.publish(JobTopology.EVENTS_EXCHANGE, job.key(), Messages.eventProperties(e), Messages.encodeEvent(e)));
      }
      for (CompletableFuture<Void> f : fs) {
        ConfirmingPublisher.await(f, Duration.ofSeconds(10));
      }
    }
  }

  @Test
  void acknowledgesOnlyWhatWasStoredAndHandsFailuresOverAgain() throws Exception {
    String ns = RabbitBroker.uniqueName("ns");
    String queue = RabbitBroker.uniqueName("events");
    JobTopology job = new JobTopology(ns, "j", UUID.randomUUID().toString());
    List<JobEvent> seen = new CopyOnWriteArrayList<>();
    AtomicInteger calls = new AtomicInteger();
    CompletableFuture<Void> firstStore = new CompletableFuture<>();
    try (EventStream s = EventStream.start(connection, options(queue, ns), batch -> {
      seen.addAll(batch);
      // the first batch is stored only when the test says so; the second fails once
      int call = calls.incrementAndGet();
      if (call == 1) {
        return firstStore;
      }
      if (call == 2) {
        return CompletableFuture.failedFuture(new IllegalStateException("API server unavailable"));
      }
      return CompletableFuture.completedFuture(null);
    }, "test-1")) {
      publishEvents(job, 0, 1, TaskEvent.Type.SUCCEEDED);
      await().atMost(Duration.ofSeconds(10)).until(() -> seen.size() == 1);
      Thread.sleep(300);
      assertThat(s.acknowledged()).as("not stored yet").isZero();
      assertThat(s.unacknowledged()).isEqualTo(1);
      firstStore.complete(null);
      await().atMost(Duration.ofSeconds(10)).until(() -> s.acknowledged() == 1);

      publishEvents(job, 1, 2, TaskEvent.Type.SUCCEEDED);
      await().atMost(Duration.ofSeconds(10)).until(() -> s.acknowledged() == 2);
      assertThat(calls.get()).as("the failed batch was handed over again").isEqualTo(3);
      assertThat(seen).extracting(JobEvent::index).containsExactly(0, 1, 1);
    }
    assertThat(broker.readyCount(queue)).isZero();
    broker.deleteQueue(queue);
  }

  /**
   * Batches stored out of order: a later batch's ack never takes an earlier, unstored one along
   * (it would be lost if the operator then crashed); once that one is stored too, it is acked, in
   * one ack as the oldest the channel holds.
   */
  @Test
  void aBatchStoredBeforeAnEarlierOneIsAckedWithoutIt() throws Exception {
    String ns = RabbitBroker.uniqueName("ns");
    String queue = RabbitBroker.uniqueName("events");
    JobTopology job = new JobTopology(ns, "j", UUID.randomUUID().toString());
    // batches of 10, each waiting up to 500 ms to fill, so the first one holds 10 events
    EventStream.Options o = new EventStream.Options(queue, List.of(ns + ".#"), 2000, 10, Duration.ofMillis(500),
        Duration.ofMinutes(1), Duration.ofSeconds(1));
    new TopologyDeclarer(connection).declareEventsQueue(queue, o.bindingKeys());
    publishEvents(job, 0, 50, TaskEvent.Type.SUCCEEDED);
    CompletableFuture<Void> firstStore = new CompletableFuture<>();
    List<Integer> firstBatch = new CopyOnWriteArrayList<>();
    AtomicInteger calls = new AtomicInteger();
    try (EventStream s = EventStream.start(connection, o, batch -> {
      if (calls.incrementAndGet() == 1) {
        batch.forEach(e -> firstBatch.add(e.index()));
        return firstStore;
      }
      return CompletableFuture.completedFuture(null);
    }, "test-order")) {
      await().atMost(Duration.ofSeconds(20)).until(() -> s.acknowledged() == 40);
      assertThat(firstBatch).as("the first batch").hasSize(10);
      Thread.sleep(300);
      assertThat(s.acknowledged()).isEqualTo(40);
      assertThat(s.multipleAcks()).as("no batch behind the unstored one is acked as a group").isZero();
      broker.awaitQueueDepth(queue, new io.trainq.testkit.QueueDepth(0, 10), Duration.ofSeconds(30));

      firstStore.complete(null);
      await().atMost(Duration.ofSeconds(10)).until(() -> s.acknowledged() == 50);
      assertThat(s.unacknowledged()).isZero();
      assertThat(s.multipleAcks()).isEqualTo(1);
    }
    // closing returned nothing: every event was acked exactly once, and the channel stayed open
    assertThat(broker.readyCount(queue)).isZero();
    broker.deleteQueue(queue);
  }

  @Test
  void unacknowledgedEventsGoToTheNextConsumerAndOnlyOneConsumesAtATime() throws Exception {
    String ns = RabbitBroker.uniqueName("ns");
    String queue = RabbitBroker.uniqueName("events");
    JobTopology job = new JobTopology(ns, "j", UUID.randomUUID().toString());
    List<Integer> first = Collections.synchronizedList(new ArrayList<>());
    List<Integer> second = Collections.synchronizedList(new ArrayList<>());
    EventStream a = EventStream.start(connection, options(queue, ns), batch -> {
      batch.forEach(e -> first.add(e.index()));
      return new CompletableFuture<>(); // never stored
    }, "a");
    EventStream b = EventStream.start(connection, options(queue, ns), batch -> {
      batch.forEach(e -> second.add(e.index()));
      return CompletableFuture.completedFuture(null);
    }, "b");
    try {
      publishEvents(job, 0, 100, TaskEvent.Type.STARTED);
      await().atMost(Duration.ofSeconds(10)).until(() -> first.size() >= 100);
      Thread.sleep(500);
      assertThat(second).as("single active consumer: the standby gets nothing").isEmpty();
      a.close();
      await().atMost(Duration.ofSeconds(10)).until(() -> b.acknowledged() == 100);
      assertThat(new java.util.TreeSet<>(second)).hasSize(100);
    } finally {
      a.close();
      b.close();
      broker.deleteQueue(queue);
    }
  }

  /** The broker's own dead letters (delivery limit, TTL) reach the stream with the right reason. */
  @Test
  void brokerDeadLettersArriveWithTheirReason() throws Exception {
    String ns = RabbitBroker.uniqueName("ns");
    String queue = RabbitBroker.uniqueName("events");
    List<JobEvent> seen = new CopyOnWriteArrayList<>();
    JobTopology limited = new JobTopology(ns, "limited", UUID.randomUUID().toString());
    JobTopology expiring = new JobTopology(ns, "expiring", UUID.randomUUID().toString());
    JobSettings limit1 = new JobSettings(2, Duration.ofMillis(100), Duration.ofMillis(100), Duration.ofHours(1), null, 1);
    JobSettings ttl = new JobSettings(1, Duration.ofMillis(100), Duration.ofMillis(100), Duration.ofHours(1), Duration.ofMillis(300), 5);
    TopologyDeclarer d = new TopologyDeclarer(connection);
    assertThat(d.declare(limited, limit1).ok()).isTrue();
    assertThat(d.declare(expiring, ttl).ok()).isTrue();
    try (EventStream s = EventStream.start(connection, options(queue, ns), batch -> {
      seen.addAll(batch);
      return CompletableFuture.completedFuture(null);
    }, "dl");
        ConfirmingPublisher cp = new ConfirmingPublisher(connection.createChannel())) {
      TaskPublisher p = new TaskPublisher(cp, 10);
      // a retried task (attempt 2) that went through the retry queue, then kills its worker twice
      io.trainq.protocol.TaskMessage t = new io.trainq.protocol.TaskMessage(limited.uid(), 3, 2, null);
      ConfirmingPublisher.await(cp.publish(JobTopology.RETRY_EXCHANGE, limited.retryQueue(Duration.ofMillis(100)), Messages.taskProperties(t),
          Messages.encodeTask(t)), Duration.ofSeconds(5));
      try (Channel ch = connection.createChannel()) {
        for (int delivery = 0; delivery < 2; delivery++) {
          GetResponse g = null;
          long deadline = System.currentTimeMillis() + 10_000;
          while (g == null && System.currentTimeMillis() < deadline) {
            g = ch.basicGet(limited.taskQueue(), false);
            if (g == null) {
              Thread.sleep(50);
            }
          }
          assertThat(g).as("delivery %d", delivery).isNotNull();
          ch.basicNack(g.getEnvelope().getDeliveryTag(), false, true);
        }
      }
      assertThat(p.publish(expiring, TaskPlan.ofCount(2), 0, 2, Duration.ofSeconds(5)).cursor()).isEqualTo(2);
      await().atMost(Duration.ofSeconds(20)).until(() -> seen.size() >= 3);
      assertThat(seen).filteredOn(e -> e.jobKey().equals(limited.key())).singleElement().satisfies(e -> {
        JobEvent.DeadLettered dl = (JobEvent.DeadLettered) e;
        assertThat(dl.reason()).isEqualTo("delivery-limit");
        assertThat(dl.index()).isEqualTo(3);
        assertThat(dl.attempt()).isEqualTo(2);
      });
      assertThat(seen).filteredOn(e -> e.jobKey().equals(expiring.key()))
          .extracting(e -> ((JobEvent.DeadLettered) e).reason(), JobEvent::index)
          .containsExactlyInAnyOrder(org.assertj.core.groups.Tuple.tuple("expired", 0), org.assertj.core.groups.Tuple.tuple("expired", 1));
    } finally {
      d.delete(limited, limit1);
      d.delete(expiring, ttl);
      broker.deleteQueue(queue);
    }
  }
}
