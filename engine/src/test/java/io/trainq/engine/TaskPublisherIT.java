package io.trainq.engine;

import static org.assertj.core.api.Assertions.assertThat;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import io.trainq.protocol.ConfirmingPublisher;
import io.trainq.protocol.JobSettings;
import io.trainq.protocol.JobTopology;
import io.trainq.protocol.Messages;
import io.trainq.protocol.TaskMessage;
import io.trainq.testkit.RabbitBroker;
import java.time.Duration;
import java.util.BitSet;
import java.util.HashMap;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("broker")
class TaskPublisherIT {
  static RabbitBroker broker;
  static Connection connection;
  static final JobSettings SETTINGS = new JobSettings(1, Duration.ofSeconds(1), Duration.ofSeconds(1), Duration.ofHours(1), null, 5);

  @BeforeAll
  static void connect() {
    broker = RabbitBroker.single();
    connection = broker.newConnection("TaskPublisherIT");
  }

  @AfterAll
  static void close() throws Exception {
    connection.close();
  }

  @Test
  void publishesEveryIndexOnceFromTheCursorInBoundedBatches() throws Exception {
    JobTopology job = new JobTopology("ns", RabbitBroker.uniqueName("pub"), UUID.randomUUID().toString());
    TopologyDeclarer d = new TopologyDeclarer(connection);
    assertThat(d.declare(job, SETTINGS).ok()).isTrue();
    TaskPlan plan = TaskPlan.ofCount(10_000);
    try (ConfirmingPublisher cp = new ConfirmingPublisher(connection.createChannel())) {
      TaskPublisher p = new TaskPublisher(cp, TaskPublisher.DEFAULT_WINDOW);
      long cursor = 0;
      int calls = 0;
      while (cursor < plan.size()) {
        TaskPublisher.Result r = p.publish(job, plan, cursor, 3000, Duration.ofSeconds(30));
        assertThat(r.complete()).isTrue();
        assertThat(r.cursor() - cursor).isEqualTo(Math.min(3000, plan.size() - cursor));
        cursor = r.cursor();
        calls++;
      }
      assertThat(calls).isEqualTo(4);
      assertThat(p.publish(job, plan, cursor, 3000, Duration.ofSeconds(5)).confirmed()).as("nothing past the end").isZero();
    }
    assertThat(broker.readyCount(job.taskQueue())).isEqualTo(10_000);
    BitSet seen = new BitSet();
    try (Channel ch = connection.createChannel()) {
      GetResponse g;
      while ((g = ch.basicGet(job.taskQueue(), true)) != null) {
        TaskMessage t = Messages.decodeTask(g.getBody());
        assertThat(seen.get(t.index())).as("index %d twice", t.index()).isFalse();
        seen.set(t.index());
        assertThat(g.getProps().getMessageId()).isEqualTo(job.uid() + ":" + t.index());
        assertThat(g.getProps().getDeliveryMode()).isEqualTo(2);
        assertThat(g.getProps().getType()).isEqualTo(Messages.TASK_TYPE);
        assertThat(t.attempt()).isEqualTo(1);
      }
    }
    assertThat(seen.cardinality()).isEqualTo(10_000);
    d.delete(job, SETTINGS);
  }

  @Test
  void anUnroutableTaskStopsTheCursorAndARepublishKeepsItsId() throws Exception {
    JobTopology job = new JobTopology("ns", RabbitBroker.uniqueName("pub"), UUID.randomUUID().toString());
    TaskPlan plan = TaskPlan.ofCount(50);
    try (ConfirmingPublisher cp = new ConfirmingPublisher(connection.createChannel())) {
      TaskPublisher p = new TaskPublisher(cp, 16);
      TaskPublisher.Result missing = p.publish(job, plan, 0, 50, Duration.ofSeconds(10));
      assertThat(missing.complete()).isFalse();
      assertThat(missing.cursor()).as("nothing is on a queue that does not exist").isZero();
      assertThat(missing.failure()).hasMessageContaining("unroutable");

      TopologyDeclarer d = new TopologyDeclarer(connection);
      assertThat(d.declare(job, SETTINGS).ok()).isTrue();
      assertThat(p.publish(job, plan, 0, 30, Duration.ofSeconds(10)).cursor()).isEqualTo(30);
      // a crash before the cursor was stored: publishing resumes from an older cursor
      assertThat(p.publish(job, plan, 20, 30, Duration.ofSeconds(10)).cursor()).isEqualTo(50);
      Map<String, Integer> ids = new HashMap<>();
      try (Channel ch = connection.createChannel()) {
        GetResponse g;
        while ((g = ch.basicGet(job.taskQueue(), true)) != null) {
          ids.merge(g.getProps().getMessageId(), 1, Integer::sum);
        }
      }
      assertThat(ids).hasSize(50);
      assertThat(ids.values().stream().filter(n -> n == 2).count()).as("indexes 20-29 twice, same id").isEqualTo(10);
      assertThat(ids.get(job.uid() + ":25")).isEqualTo(2);
      d.delete(job, SETTINGS);
    }
  }
}
