package io.trainq.worker;

import static io.trainq.worker.JobFixture.indexes;
import static io.trainq.worker.JobFixture.ofType;
import static io.trainq.worker.JobFixture.range;
import static org.assertj.core.api.Assertions.assertThat;

import io.trainq.protocol.TaskEvent;
import io.trainq.protocol.TaskEvent.Type;
import io.trainq.protocol.WorkerEnv;
import io.trainq.testkit.RabbitBroker;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * How the worker keeps its slots busy between attempts, on a real broker with real processes:
 * outcomes group-committed, STARTED only for attempts past the delay, and the lookahead consumer
 * that follows how long attempts are.
 */
@Tag("broker")
class DispatchIT {
  static RabbitBroker broker;

  @TempDir
  Path dir;

  @BeforeAll
  static void broker() {
    broker = RabbitBroker.single();
  }

  /**
   * 300 instant tasks on 8 slots with the default STARTED delay: every task succeeds exactly once,
   * no STARTED is sent for any of them, and outcomes that ended together shared a message.
   */
  @Test
  void shortAttemptsAreGroupCommittedAndSendNoStartedEvent() throws Exception {
    int n = 300;
    try (JobFixture job = new JobFixture(broker, JobFixture.settings(3, Duration.ofMinutes(1)))) {
      job.publishTasks(n);
      Map<String, String> env = job.workerEnv(8);
      env.remove(WorkerEnv.STARTED_DELAY_MS);
      List<String> task = Scripts.sh(dir, "task.sh", "echo $i >> $D/runs.log");
      try (WorkerProcess w = WorkerProcess.start("w1", env, dir, task)) {
        job.awaitSucceeded(n, Duration.ofMinutes(2), w);
        List<TaskEvent> events = job.events();
        assertThat(ofType(events, Type.SUCCEEDED)).as(JobFixture.summary(events)).hasSize(n);
        assertThat(indexes(events, Type.SUCCEEDED)).isEqualTo(range(n));
        assertThat(ofType(events, Type.STARTED)).isEmpty();
        assertThat(events).hasSize(n);
        assertThat(job.eventMessages()).as("messages carrying the %d outcomes", n).isLessThan(n);
        assertThat(Scripts.lines(dir.resolve("runs.log"))).hasSize(n);
        awaitAcked(job);
      }
    }
  }

  /** With a 300 ms delay, the 2 s attempt sends STARTED (before its outcome) and the instant one does not. */
  @Test
  void onlyAnAttemptStillRunningAfterTheDelaySendsStarted() throws Exception {
    try (JobFixture job = new JobFixture(broker, JobFixture.settings(3, Duration.ofMinutes(1)))) {
      job.publishTasks(2);
      Map<String, String> env = job.workerEnv(2);
      env.put(WorkerEnv.STARTED_DELAY_MS, "300");
      List<String> task = Scripts.sh(dir, "task.sh", "[ $i = 1 ] && sleep 2; exit 0");
      try (WorkerProcess w = WorkerProcess.start("w1", env, dir, task)) {
        List<TaskEvent> events = job.awaitSucceeded(2, Duration.ofMinutes(1), w);
        assertThat(ofType(events, Type.STARTED)).extracting(TaskEvent::index).containsExactly(1);
        int started = events.indexOf(ofType(events, Type.STARTED).get(0));
        int succeeded = events.indexOf(ofType(events, Type.SUCCEEDED).stream().filter(e -> e.index() == 1).findFirst().orElseThrow());
        assertThat(started).isLessThan(succeeded);
        awaitAcked(job);
      }
    }
  }

  /**
   * Short attempts turn the lookahead consumer on (two consumers on the task queue); long ones turn
   * it off, and the delivery it held behind them goes back to the queue after the bound and still
   * runs exactly once.
   */
  @Test
  void theLookaheadFollowsHowLongAttemptsAre() throws Exception {
    try (JobFixture job = new JobFixture(broker, JobFixture.settings(3, Duration.ofMinutes(1)))) {
      Map<String, String> env = job.workerEnv(2);
      env.put(WorkerEnv.LOOKAHEAD_BELOW_MS, "500");
      // tasks 0-19 are instant, 20-22 take 4 s
      List<String> task = Scripts.sh(dir, "task.sh", "echo $i >> $D/runs.log; [ $i -ge 20 ] && sleep 4; exit 0");
      try (WorkerProcess w = WorkerProcess.start("w1", env, dir, task)) {
        for (int i = 0; i < 20; i++) {
          job.publishTask(i, com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode());
        }
        job.channel().waitForConfirmsOrDie(30_000);
        job.awaitSucceeded(20, Duration.ofMinutes(1), w);
        awaitConsumers(job, 2, w);

        for (int i = 20; i < 23; i++) {
          job.publishTask(i, com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode());
        }
        job.channel().waitForConfirmsOrDie(30_000);
        // two run, the third waits: held by the lookahead until the bound (1 s), then back in the queue
        awaitConsumers(job, 1, w);
        List<TaskEvent> events = job.awaitSucceeded(23, Duration.ofMinutes(1), w);
        assertThat(indexes(events, Type.SUCCEEDED)).isEqualTo(range(23));
        assertThat(ofType(events, Type.SUCCEEDED)).hasSize(23);
        assertThat(Scripts.lines(dir.resolve("runs.log"))).hasSize(23);
        assertThat(w.log()).contains("returned a delivery held");
        awaitAcked(job);
      }
    }
  }

  /**
   * The lookahead consumes on the main consumer's channel (a worker that dies returns what both hold
   * at once) with a prefetch of its own. When the broker closes the worker's connection, the client
   * recovers the main consumer with the main prefetch and the worker starts the lookahead again; the
   * tasks published after it all run exactly once.
   */
  @Test
  void theLookaheadSharesTheTaskChannelWithItsOwnPrefetchAndComesBackAfterAReconnect() throws Exception {
    try (JobFixture job = new JobFixture(broker, JobFixture.settings(3, Duration.ofMinutes(1)))) {
      Map<String, String> env = job.workerEnv(2);
      env.put(WorkerEnv.LOOKAHEAD, "3");
      String queue = job.topology.taskQueue();
      List<String> task = Scripts.sh(dir, "task.sh", "echo $i >> $D/runs.log");
      String name = RabbitBroker.uniqueName("w-la");
      try (WorkerProcess w = WorkerProcess.start(name, env, dir, task)) {
        job.publishTasks(20);
        job.awaitSucceeded(20, Duration.ofMinutes(1), w);
        List<RabbitBroker.QueueConsumer> before = broker.awaitConsumers(queue, DispatchIT::mainAndLookaheadOnOneChannel,
            Duration.ofSeconds(20));
        assertThat(before).extracting(RabbitBroker.QueueConsumer::tag).anyMatch(t -> t.startsWith("trainq-transient-lookahead-"));
        awaitAcked(job); // nothing for the broker to return when the connection goes

        broker.closeConnection("trainq-worker " + name);
        List<RabbitBroker.QueueConsumer> after = broker.awaitConsumers(queue,
            cs -> mainAndLookaheadOnOneChannel(cs) && !cs.get(0).channel().equals(before.get(0).channel()), Duration.ofSeconds(30));
        assertThat(after).hasSize(2);

        for (int i = 20; i < 40; i++) {
          job.publishTask(i, com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode());
        }
        job.channel().waitForConfirmsOrDie(30_000);
        List<TaskEvent> events = job.awaitSucceeded(40, Duration.ofMinutes(1), w);
        assertThat(indexes(events, Type.SUCCEEDED)).isEqualTo(range(40));
        assertThat(Scripts.lines(dir.resolve("runs.log"))).hasSize(40);
        assertThat(w.log()).contains("connection to RabbitMQ recovered");
        awaitAcked(job);
      }
    }
  }

  /** Two consumers on one channel: the main one with the prefetch of 2 slots, the lookahead with 3. */
  private static boolean mainAndLookaheadOnOneChannel(List<RabbitBroker.QueueConsumer> cs) {
    return cs.size() == 2 && cs.get(0).channel().equals(cs.get(1).channel())
        && cs.stream().map(RabbitBroker.QueueConsumer::prefetch).collect(java.util.stream.Collectors.toSet()).equals(Set.of(2, 3));
  }

  private static void awaitConsumers(JobFixture job, int n, WorkerProcess w) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    while (broker.consumerCount(job.topology.taskQueue()) != n) {
      assertThat(System.nanoTime()).as("%d consumer(s) on the task queue; %s", n, w.log()).isLessThan(deadline);
      Thread.sleep(100);
    }
  }

  /** Every delivery acked: nothing ready or unacked in the task queue (the management view lags a few seconds). */
  private static void awaitAcked(JobFixture job) {
    broker.awaitQueueDepth(job.topology.taskQueue(), new io.trainq.testkit.QueueDepth(0, 0), Duration.ofSeconds(30));
  }
}
