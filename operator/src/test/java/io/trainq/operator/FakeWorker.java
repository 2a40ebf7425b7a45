package io.trainq.operator;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import io.trainq.protocol.ConfirmingPublisher;
import io.trainq.protocol.JobTopology;
import io.trainq.protocol.Messages;
import io.trainq.protocol.TaskEvent;
import io.trainq.protocol.TaskMessage;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.function.IntPredicate;

/**
 * Plays a worker by the protocol's rules without running anything: takes tasks from a job's queue,
 * publishes STARTED and then SUCCEEDED (or a worker-initiated dead letter and DEAD_LETTERED) with
 * confirms, and only then acknowledges the task. For tests of the operator's accounting where no
 * worker process is needed.
 */
public final class FakeWorker implements AutoCloseable {
  private final JobTopology job;
  private final Channel channel;
  private final ConfirmingPublisher events;
  private final String name;

  public FakeWorker(Connection connection, JobTopology job, String name) throws Exception {
    this.job = job;
    this.name = name;
    this.channel = connection.createChannel();
    this.events = new ConfirmingPublisher(connection.createChannel());
  }

  /**
   * Processes up to {@code max} tasks that are ready now.
   *
   * @param fail indexes whose task is dead-lettered (reason failed, exit code 3) instead of succeeding
   * @return tasks processed
   */
  public int drain(int max, IntPredicate fail) throws Exception {
    return drain(max, fail, i -> {});
  }

  /** Like {@link #drain(int, IntPredicate)}, telling {@code seen} every index it processed. */
  public int drain(int max, IntPredicate fail, java.util.function.IntConsumer seen) throws Exception {
    int n = 0;
    GetResponse g;
    while (n < max && (g = channel.basicGet(job.taskQueue(), false)) != null) {
      TaskMessage t = Messages.decodeTask(g.getBody());
      var started = event(TaskEvent.Type.STARTED, t, null, null);
      if (fail.test(t.index())) {
        Map<String, Object> h = new HashMap<>();
        h.put(Messages.REASON_HEADER, TaskEvent.Reason.FAILED);
        h.put(Messages.EXIT_CODE_HEADER, 3);
        h.put(Messages.ERROR_HEADER, "ValueError: bad lr");
        h.put(Messages.WORKER_HEADER, name);
        AMQP.BasicProperties props = Messages.taskProperties(t).builder().headers(h).build();
        ConfirmingPublisher.await(events.publish(JobTopology.DEAD_LETTER_EXCHANGE, job.key(), props, g.getBody()), Duration.ofSeconds(10));
        ConfirmingPublisher.await(event(TaskEvent.Type.DEAD_LETTERED, t, 3, "ValueError: bad lr"), Duration.ofSeconds(10));
      } else {
        ConfirmingPublisher.await(event(TaskEvent.Type.SUCCEEDED, t, 0, null), Duration.ofSeconds(10));
      }
      // events are confirmed before the task is acknowledged, as the worker does it
      ConfirmingPublisher.await(started, Duration.ofSeconds(10));
      channel.basicAck(g.getEnvelope().getDeliveryTag(), false);
      seen.accept(t.index());
      n++;
    }
    return n;
  }

  private java.util.concurrent.CompletableFuture<Void> event(TaskEvent.Type type, TaskMessage t, Integer exit, String error) {
    boolean end = type != TaskEvent.Type.STARTED;
    TaskEvent e = new TaskEvent(TaskEvent.SCHEMA, type, job.key(), job.uid(), t.index(), t.attempt(), name, 0, exit,
        end ? 1000L : null, end ? 1.0 : null, type == TaskEvent.Type.DEAD_LETTERED ? TaskEvent.Reason.FAILED : null, error,
        System.currentTimeMillis());
    return events.publish(JobTopology.EVENTS_EXCHANGE, job.key(), Messages.eventProperties(e), Messages.encodeEvent(e));
  }

  @Override
  public void close() throws Exception {
    events.close();
    if (channel.isOpen()) {
      channel.close();
    }
  }
}
