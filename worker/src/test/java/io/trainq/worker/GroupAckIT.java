package io.trainq.worker;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import io.trainq.testkit.RabbitBroker;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A group of deliveries acked with one {@code multiple=true} ack, on a real quorum queue: only when
 * the group is the oldest the channel holds, never taking a delivery still running with it, and
 * never on a channel that replaced the deliveries' own.
 */
@Tag("broker")
class GroupAckIT {
  static RabbitBroker broker;

  Connection connection;
  Channel admin;
  String queue;
  Metrics metrics;
  Dispatcher dispatcher;
  TaskConsumer consumer;
  final List<Signal> signals = new CopyOnWriteArrayList<>();

  @BeforeAll
  static void broker() {
    broker = RabbitBroker.single();
  }

  @BeforeEach
  void consume() throws Exception {
    connection = broker.newConnection("group-ack-it");
    admin = connection.createChannel();
    queue = RabbitBroker.uniqueName("group-ack");
    admin.queueDeclare(queue, true, false, false, Map.of("x-queue-type", "quorum"));
    for (int i = 1; i <= 6; i++) {
      admin.basicPublish("", queue, null, String.valueOf(i).getBytes(UTF_8));
    }
    metrics = new Metrics(0, 6, () -> 0, "test", "it/group-ack", "group-ack-it");
    // no slots: every delivery waits in the dispatcher, where the test takes it
    dispatcher = new Dispatcher(List.of());
    consumer = new TaskConsumer(connection, queue, 6, dispatcher, metrics, signals::add);
    consumer.start();
  }

  @AfterEach
  void close() throws Exception {
    consumer.close();
    admin.queueDelete(queue);
    connection.close();
  }

  @Test
  void aGroupThatIsTheOldestHeldGoesInOneAckAndLeavesTheRestHeld() throws Exception {
    List<Delivery> d = take(6);

    // 2 and 3 are not the oldest held (1 is still running): acked one by one
    assertThat(consumer.ackAll(List.of(d.get(2), d.get(1)))).containsExactlyInAnyOrder(d.get(1), d.get(2));
    assertThat(metrics.multipleAcks.sum()).isZero();

    // 5, 1 and 4 are now the oldest held, with nothing in between: one multiple ack up to 5
    assertThat(consumer.ackAll(List.of(d.get(4), d.get(0), d.get(3)))).containsExactlyInAnyOrder(d.get(0), d.get(3), d.get(4));
    assertThat(metrics.multipleAcks.sum()).isEqualTo(1);

    // settled already: nothing is sent again (a second ack of a tag would close the channel)
    assertThat(consumer.ackAll(List.of(d.get(0), d.get(4)))).isEmpty();
    assertThat(consumer.ack(d.get(3))).isFalse();

    // the channel is still open, and only 6 was left unacked: it alone comes back once it closes
    assertThat(consumer.consuming()).isTrue();
    consumer.close();
    assertThat(remainingBodies(1)).containsExactly("6");
  }

  @Test
  void aDeliveryStillRunningBetweenTwoSettledOnesIsNotAckedWithThem() throws Exception {
    List<Delivery> d = take(6);
    consumer.nack(d.get(0), false); // 1 leaves the channel another way (dropped, as the test's queue has no dead-letter target)
    // 2, 3 and 5 settle while 4 runs: 2 and 3 together, 5 alone
    assertThat(consumer.ackAll(List.of(d.get(1), d.get(2), d.get(4)))).hasSize(3);
    assertThat(metrics.multipleAcks.sum()).isEqualTo(1);
    consumer.close();
    assertThat(remainingBodies(2)).containsExactlyInAnyOrder("4", "6");
  }

  @Test
  void deliveriesOfAClosedChannelAreNotAckedOnItsSuccessor() throws Exception {
    List<Delivery> old = take(6);
    consumer.ack(old.get(0));
    // the channel goes (as the broker closes it on a consumer timeout) and a new one consumes:
    // the five it held come back on it, under tags that the old deliveries' tags could name
    consumer.close();
    consumer.start();
    List<Delivery> now = take(5);
    assertThat(consumer.ackAll(old.subList(1, 6))).isEmpty();
    assertThat(consumer.ackAll(now.subList(0, 3))).hasSize(3);
    assertThat(metrics.multipleAcks.sum()).isEqualTo(1);
    consumer.close();
    List<String> bodies = new ArrayList<>();
    now.subList(3, 5).forEach(x -> bodies.add(new String(x.body(), UTF_8)));
    assertThat(remainingBodies(2)).containsExactlyInAnyOrderElementsOf(bodies);
  }

  /** The next n deliveries, oldest first. */
  private List<Delivery> take(int n) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    while (dispatcher.waiting() < n && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertThat(dispatcher.waiting()).as("deliveries waiting").isEqualTo(n);
    List<Delivery> d = new ArrayList<>(dispatcher.removeWaiting(x -> true));
    d.sort(java.util.Comparator.comparingLong(Delivery::tag));
    return d;
  }

  /** The bodies left in the queue once at least {@code expected} are back in it, in queue order. */
  private List<String> remainingBodies(int expected) throws Exception {
    // what a closed channel held is returned to the queue asynchronously
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    while (admin.queueDeclarePassive(queue).getMessageCount() < expected && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    List<String> bodies = new ArrayList<>();
    GetResponse r;
    while ((r = admin.basicGet(queue, true)) != null) {
      bodies.add(new String(r.getBody(), UTF_8));
    }
    return bodies;
  }
}
