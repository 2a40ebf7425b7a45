package io.trainq.engine;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.BuiltinExchangeType;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ShutdownSignalException;
import io.trainq.protocol.JobSettings;
import io.trainq.protocol.JobTopology;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeoutException;

/**
 * Declares and deletes a job's broker objects, idempotently: declaring what exists with the same
 * arguments is a no-op. A queue that exists with other arguments (the broker's
 * {@code PRECONDITION_FAILED - inequivalent arg}) is a {@link Result} to report, not an exception:
 * the operator shows it in a condition and keeps running.
 *
 * <p>Each call uses its own short-lived channel, because a failed declaration closes its channel.
 */
public final class TopologyDeclarer {
  /** The operator's events queue: every job's events and dead letters, consumed by one operator at a time. */
  public static final String EVENTS_QUEUE = "trainq.operator.events";
  /**
   * Returns of an event to its queue before the broker drops it. Returns happen when an operator dies
   * holding unacknowledged events; RabbitMQ 4.0's default limit (20) could drop events during a crash loop.
   */
  static final int EVENTS_DELIVERY_LIMIT = 1_000_000;

  private final Connection connection;

  public TopologyDeclarer(Connection connection) {
    this.connection = connection;
  }

  /** The outcome of a declaration. */
  public record Result(boolean ok, String object, String detail) {
    public static Result success() {
      return new Result(true, null, null);
    }

    public static Result mismatch(String object, String detail) {
      return new Result(false, object, detail);
    }
  }

  /** Message counts of a queue, as a passive declaration reports them. */
  public record QueueState(long ready, int consumers) {}

  /**
   * Declares the shared exchanges, then the job's dead-letter queue and its binding, retry queues and
   * task queue (in that order, so nothing a queue dead-letters to is missing).
   */
  public Result declare(JobTopology job, JobSettings settings) throws IOException {
    Result r = declareExchanges();
    if (!r.ok()) {
      return r;
    }
    r = declareQueue(job.deadLetterQueue(), JobTopology.deadLetterQueueArguments());
    if (!r.ok()) {
      return r;
    }
    r = bind(job.deadLetterQueue(), JobTopology.DEAD_LETTER_EXCHANGE, job.key());
    if (!r.ok()) {
      return r;
    }
    for (Duration delay : JobTopology.retryDelays(settings)) {
      r = declareQueue(job.retryQueue(delay), job.retryQueueArguments(delay));
      if (r.ok()) {
        r = bind(job.retryQueue(delay), JobTopology.RETRY_EXCHANGE, job.retryQueue(delay));
      }
      if (!r.ok()) {
        return r;
      }
    }
    return declareQueue(job.taskQueue(), job.taskQueueArguments(settings));
  }

  /** Declares the durable topic exchanges {@code trainq.events}, {@code trainq.deadletter} and {@code trainq.retry}. */
  public Result declareExchanges() throws IOException {
    return withChannel(JobTopology.EVENTS_EXCHANGE, ch -> {
      ch.exchangeDeclare(JobTopology.EVENTS_EXCHANGE, BuiltinExchangeType.TOPIC, true);
      ch.exchangeDeclare(JobTopology.DEAD_LETTER_EXCHANGE, BuiltinExchangeType.TOPIC, true);
      ch.exchangeDeclare(JobTopology.RETRY_EXCHANGE, BuiltinExchangeType.TOPIC, true);
    });
  }

  /**
   * Declares the operator's events queue (quorum, single active consumer) and binds it to both
   * {@code trainq.events} and {@code trainq.deadletter} with each binding key ({@code #} for every
   * job, {@code <namespace>.#} for one namespace's).
   */
  public Result declareEventsQueue(String queue, List<String> bindingKeys) throws IOException {
    Result r = declareExchanges();
    if (!r.ok()) {
      return r;
    }
    r = declareQueue(queue, eventsQueueArguments());
    for (String key : bindingKeys) {
      if (!r.ok()) {
        return r;
      }
      r = bind(queue, JobTopology.EVENTS_EXCHANGE, key);
      if (r.ok()) {
        r = bind(queue, JobTopology.DEAD_LETTER_EXCHANGE, key);
      }
    }
    return r;
  }

  /** Arguments of the operator's events queue. */
  public static Map<String, Object> eventsQueueArguments() {
    Map<String, Object> args = new HashMap<>();
    args.put("x-queue-type", "quorum");
    args.put("x-single-active-consumer", true);
    args.put("x-delivery-limit", EVENTS_DELIVERY_LIMIT);
    return args;
  }

  /** A quorum queue with the given arguments (durable, not exclusive, not auto-deleted). */
  public Result declareQueue(String queue, Map<String, Object> args) throws IOException {
    return withChannel(queue, ch -> ch.queueDeclare(queue, true, false, false, args));
  }

  private Result bind(String queue, String exchange, String key) throws IOException {
    return withChannel(queue, ch -> ch.queueBind(queue, exchange, key));
  }

  /** The queue's ready messages and consumers, or empty when it does not exist. */
  public Optional<QueueState> inspect(String queue) throws IOException {
    Channel ch = connection.createChannel();
    try {
      AMQP.Queue.DeclareOk ok = ch.queueDeclarePassive(queue);
      return Optional.of(new QueueState(ok.getMessageCount(), ok.getConsumerCount()));
    } catch (IOException e) {
      if (replyCode(e) == AMQP.NOT_FOUND) {
        return Optional.empty();
      }
      throw e;
    } finally {
      closeQuietly(ch);
    }
  }

  /**
   * Where the broker can hold a job's unfinished tasks, for {@link QueueAudit}: the task queue (and
   * whether it exists), the retry queues, and the events not folded yet.
   *
   * @param eventsQueue the queue the job's events are folded from
   * @param unacknowledgedEvents events delivered to the fold and not acknowledged yet
   * @param heldBound most deliveries the job's live workers can hold
   */
  public QueueAudit.Observation observe(JobTopology job, JobSettings settings, String eventsQueue, long unacknowledgedEvents,
      long heldBound) throws IOException {
    Optional<QueueState> task = inspect(job.taskQueue());
    long retrying = 0;
    for (Duration delay : JobTopology.retryDelays(settings)) {
      retrying += inspect(job.retryQueue(delay)).map(QueueState::ready).orElse(0L);
    }
    long unfolded = inspect(eventsQueue).map(QueueState::ready).orElse(0L) + unacknowledgedEvents;
    return new QueueAudit.Observation(task.isPresent(), task.map(QueueState::ready).orElse(0L), retrying, heldBound, unfolded);
  }

  /** Ready messages in the job's task and retry queues (those that exist). */
  public long messagesIn(JobTopology job, JobSettings settings) throws IOException {
    long n = inspect(job.taskQueue()).map(QueueState::ready).orElse(0L);
    for (Duration delay : JobTopology.retryDelays(settings)) {
      n += inspect(job.retryQueue(delay)).map(QueueState::ready).orElse(0L);
    }
    return n;
  }

  /**
   * Deletes the job's task, retry and dead-letter queues; queues already gone are fine.
   *
   * @return the queues that existed and were deleted
   */
  public List<String> delete(JobTopology job, JobSettings settings) throws IOException {
    List<String> queues = new ArrayList<>();
    queues.add(job.taskQueue());
    for (Duration delay : JobTopology.retryDelays(settings)) {
      queues.add(job.retryQueue(delay));
    }
    queues.add(job.deadLetterQueue());
    List<String> deleted = new ArrayList<>();
    for (String q : queues) {
      // queue.delete of a missing queue succeeds, so look first to report what existed
      if (inspect(q).isEmpty()) {
        continue;
      }
      Channel ch = connection.createChannel();
      try {
        ch.queueDelete(q);
        deleted.add(q);
      } catch (IOException e) {
        if (replyCode(e) != AMQP.NOT_FOUND) {
          throw e;
        }
      } finally {
        closeQuietly(ch);
      }
    }
    return deleted;
  }

  private interface ChannelAction {
    void run(Channel ch) throws IOException;
  }

  private Result withChannel(String object, ChannelAction action) throws IOException {
    Channel ch = connection.createChannel();
    try {
      action.run(ch);
      return Result.success();
    } catch (IOException e) {
      if (replyCode(e) == AMQP.PRECONDITION_FAILED) {
        return Result.mismatch(object, replyText(e));
      }
      throw e;
    } finally {
      closeQuietly(ch);
    }
  }

  /** The AMQP reply code of a channel-level error, or -1. */
  static int replyCode(IOException e) {
    if (e.getCause() instanceof ShutdownSignalException s && s.getReason() instanceof AMQP.Channel.Close c) {
      return c.getReplyCode();
    }
    return -1;
  }

  private static String replyText(IOException e) {
    if (e.getCause() instanceof ShutdownSignalException s && s.getReason() instanceof AMQP.Channel.Close c) {
      return c.getReplyText();
    }
    return e.getMessage();
  }

  private static void closeQuietly(Channel ch) {
    try {
      if (ch.isOpen()) {
        ch.close();
      }
    } catch (IOException | TimeoutException | RuntimeException ignored) {
      // the channel is already gone; nothing to release
    }
  }
}
