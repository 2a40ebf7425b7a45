package io.trainq.worker;

import com.rabbitmq.client.AMQP;
import io.trainq.protocol.JobTopology;
import io.trainq.protocol.Messages;
import io.trainq.protocol.TaskEvent;
import io.trainq.protocol.TaskMessage;
import java.time.Duration;
import java.util.Date;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns the end of an attempt into messages, in the order that keeps the accounting exact: each
 * state change is published and confirmed before the ack or nack that follows it, so a crash at any
 * point leaves either the old state (the broker redelivers) or the new one fully recorded.
 */
final class Reporter {
  private static final Logger log = LoggerFactory.getLogger(Reporter.class);
  /** Message ids of tasks that succeeded while their delivery was lost, so a redelivery is acked, not run. */
  private static final int RECENTLY_DONE = 4096;
  /** How long a REQUEUED event for an attempt stopped with its deleted queue may wait for its confirm. */
  static final Duration QUEUE_DELETED_CONFIRM = Duration.ofSeconds(5);

  private final WorkerConfig config;
  private final Publisher publisher;
  private final TaskConsumer consumer;
  private final Metrics metrics;
  private final BooleanSupplier stopping;
  private final Map<String, CompletableFuture<Boolean>> recentlyDone = new LinkedHashMap<>(64, 0.75f, false) {
    private static final long serialVersionUID = 1L;

    @Override
    protected boolean removeEldestEntry(Map.Entry<String, CompletableFuture<Boolean>> eldest) {
      return size() > RECENTLY_DONE;
    }
  };

  Reporter(WorkerConfig config, Publisher publisher, TaskConsumer consumer, Metrics metrics, BooleanSupplier stopping) {
    this.config = config;
    this.publisher = publisher;
    this.consumer = consumer;
    this.metrics = metrics;
    this.stopping = stopping;
  }

  /** Publishes STARTED without waiting: the confirm is awaited before the attempt's outcome (see {@link StartedEvent}). */
  CompletableFuture<Void> started(TaskMessage t, int slot) {
    metrics.startedEvents.increment();
    return publisher.publish(startedEvent(t, slot));
  }

  Publisher.Message startedEvent(TaskMessage t, int slot) {
    return event(TaskEvent.Type.STARTED, t.index(), t.attempt(), slot, null, null, null, null);
  }

  /**
   * The attempt exited 0: SUCCEEDED, then ack. SUCCEEDED is published at once, behind STARTED on the
   * same channel (so the operator gets them in order), without waiting for STARTED's confirm first;
   * both are confirmed (or sent again) before the ack.
   */
  void succeeded(Delivery d, TaskMessage t, int slot, CompletableFuture<Void> started, long durationNanos) {
    Publisher.Message ev = event(TaskEvent.Type.SUCCEEDED, t.index(), t.attempt(), slot, 0, durationNanos, null, null);
    CompletableFuture<Void> sent = publisher.publish(ev);
    BooleanSupplier lost = () -> consumer.lost(d);
    boolean reported;
    try {
      reported = (started == null || publisher.awaitOrRepublish(started, startedEvent(t, slot), lost))
          && publisher.awaitOrRepublish(sent, ev, lost);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return;
    }
    if (reported && consumer.ack(d)) {
      metrics.succeeded.increment();
      return;
    }
    // The connection dropped while the task ran, so the broker has requeued it. The run happened
    // all the same: record it, and remember it so that a redelivery here is acked instead of run.
    metrics.lost.increment();
    log.warn("succeeded, but the delivery was lost with the connection; reporting the success anyway");
    String key = d.messageId() == null ? null : d.messageId() + "#" + t.attempt();
    CompletableFuture<Boolean> recorded = new CompletableFuture<>();
    if (key != null) {
      synchronized (recentlyDone) {
        recentlyDone.put(key, recorded);
      }
    }
    boolean ok = reported;
    try {
      ok = ok || (started == null || publisher.awaitOrRepublish(started, startedEvent(t, slot), stopping))
          && publisher.awaitOrRepublish(sent, ev, stopping);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      recorded.complete(ok);
    }
  }

  /**
   * The attempt failed (exit code, timeout, spawn failure): another attempt after a backoff while
   * the budget lasts, else a dead letter with the reason and the end of stderr.
   */
  void failed(Delivery d, TaskMessage t, int slot, CompletableFuture<Void> started, String reason, Integer exitCode,
      String error, long durationNanos) {
    Publisher.Message first;
    Publisher.Message ev;
    SettleDecision decision = SettleDecision.afterFailure(t, config.job());
    boolean retry = decision instanceof SettleDecision.Retry;
    if (decision instanceof SettleDecision.Retry r) {
      Duration delay = r.delay();
      TaskMessage next = r.next();
      first = new Publisher.Message(JobTopology.RETRY_EXCHANGE, config.topology().retryQueue(delay), Messages.taskProperties(next),
          Messages.encodeTask(next), "task " + t.index() + " attempt " + next.attempt() + " (retry in " + delay.toMillis() + " ms)");
      ev = event(TaskEvent.Type.RETRYING, t.index(), t.attempt(), slot, exitCode, durationNanos, reason, error);
    } else {
      first = deadLetter(d, t.index(), reason, exitCode, error);
      ev = event(TaskEvent.Type.DEAD_LETTERED, t.index(), t.attempt(), slot, exitCode, durationNanos, reason, error);
    }
    if (confirmInOrder(d, started, started == null ? null : startedEvent(t, slot), first, ev)) {
      consumer.ack(d);
      (retry ? metrics.retried : metrics.deadLettered).increment();
      if (retry) {
        log.info("attempt {} failed ({}{}); retrying as attempt {}", t.attempt(), reason,
            exitCode == null ? "" : ", exit code " + exitCode, t.attempt() + 1);
      } else {
        log.warn("dead-lettered after attempt {} of {} ({}{})", t.attempt(), config.job().maxAttempts(),
            reason, exitCode == null ? "" : ", exit code " + exitCode);
      }
      return;
    }
    // Not the task's fault that it cannot be reported: the broker requeued it and it runs again as the same attempt.
    metrics.lost.increment();
    log.warn("attempt {} failed, but the delivery was lost with the connection; it will run again as attempt {}",
        t.attempt(), t.attempt());
  }

  /** The worker stopped the attempt (shutdown): REQUEUED, then nack with requeue, within {@code deadline}. */
  void requeued(Delivery d, TaskMessage t, int slot, CompletableFuture<Void> started, long durationNanos,
      BooleanSupplier deadlinePassed) {
    Publisher.Message ev = event(TaskEvent.Type.REQUEUED, t.index(), t.attempt(), slot, null, durationNanos,
        TaskEvent.Reason.SHUTDOWN, null);
    BooleanSupplier giveUp = () -> consumer.lost(d) || deadlinePassed.getAsBoolean();
    try {
      if (!((started == null || publisher.awaitOrRepublish(started, startedEvent(t, slot), giveUp))
          && publisher.publishConfirmed(ev, giveUp))) {
        log.warn("no confirm for the REQUEUED event before the deadline; returning the task to the queue anyway");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    consumer.nack(d, true);
    metrics.requeued.increment();
    log.info("attempt {} stopped by the shutdown and returned to the queue", t.attempt());
  }

  /**
   * An attempt stopped because the job's task queue was deleted: its delivery went with the queue, so
   * nothing is acknowledged; REQUEUED (no attempt spent) tells the accounting that it no longer runs,
   * so that whoever republishes the queue's lost tasks (the operator, trainq run) takes this one too.
   */
  void stoppedWithQueue(TaskMessage t, int slot, CompletableFuture<Void> started, long durationNanos) {
    Publisher.Message ev = event(TaskEvent.Type.REQUEUED, t.index(), t.attempt(), slot, null, durationNanos,
        TaskEvent.Reason.QUEUE_DELETED, null);
    long deadline = System.nanoTime() + QUEUE_DELETED_CONFIRM.toNanos();
    BooleanSupplier giveUp = () -> System.nanoTime() > deadline;
    try {
      if (!((started == null || publisher.awaitOrRepublish(started, startedEvent(t, slot), giveUp))
          && publisher.publishConfirmed(ev, giveUp))) {
        log.warn("no confirm for the REQUEUED event of attempt {} within {} s", t.attempt(), QUEUE_DELETED_CONFIRM.toSeconds());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    log.info("attempt {} stopped: the job's queue was deleted (reported as requeued, no attempt spent)", t.attempt());
  }

  /**
   * A message that is not a task of this job (unreadable, another job's, an index the job does not
   * have): dead-lettered at once, with the reason. It speaks for no task: whatever index its message
   * id or body names, no event is published for it, so it can never end a real task. The dead letter
   * itself reaches the operator (through the dead-letter exchange), which counts it apart from the tasks.
   */
  void malformed(Delivery d, String error) {
    Publisher.Message dl = deadLetter(d, -1, TaskEvent.Reason.MALFORMED, null, error);
    if (confirmInOrder(d, null, null, dl)) {
      consumer.ack(d);
      metrics.malformed.increment();
      log.warn("dead-lettered a message that is not a task of this job (message id {}): {}", d.messageId(), error);
    } else {
      metrics.lost.increment();
    }
  }

  /**
   * A redelivery of an attempt that succeeded here while its delivery was lost: once its SUCCEEDED
   * event is confirmed (waiting for that report if it is still going on), only the ack is missing.
   */
  boolean ackIfDone(Delivery d, TaskMessage t) {
    if (!d.redelivered() || d.messageId() == null) {
      return false;
    }
    CompletableFuture<Boolean> reported;
    synchronized (recentlyDone) {
      reported = recentlyDone.get(d.messageId() + "#" + t.attempt());
    }
    if (reported == null) {
      return false;
    }
    boolean done;
    try {
      done = reported.get(Publisher.CONFIRM_TIMEOUT.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
      done = false;
    }
    if (done) {
      log.info("attempt {} was redelivered after it succeeded here; acking it without running it again", t.attempt());
      consumer.ack(d);
    }
    return done;
  }

  /**
   * Confirms the attempt's STARTED (already published), then each message in turn, while the delivery
   * is still held; false once it is lost (it is back in the queue).
   */
  private boolean confirmInOrder(Delivery d, CompletableFuture<Void> started, Publisher.Message startedMsg,
      Publisher.Message... messages) {
    BooleanSupplier lost = () -> consumer.lost(d);
    try {
      if (started != null && !publisher.awaitOrRepublish(started, startedMsg, lost)) {
        return false;
      }
      for (Publisher.Message m : messages) {
        if (!publisher.publishConfirmed(m, lost)) {
          return false;
        }
      }
      return !consumer.lost(d);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  private Publisher.Message deadLetter(Delivery d, int index, String reason, Integer exitCode, String error) {
    AMQP.BasicProperties p = d.props() == null ? new AMQP.BasicProperties() : d.props();
    Map<String, Object> headers = p.getHeaders() == null ? new HashMap<>() : new HashMap<>(p.getHeaders());
    headers.put(Messages.REASON_HEADER, reason);
    if (exitCode != null) {
      headers.put(Messages.EXIT_CODE_HEADER, exitCode);
    }
    if (error != null && !error.isEmpty()) {
      headers.put(Messages.ERROR_HEADER, error);
    }
    headers.put(Messages.WORKER_HEADER, config.workerName());
    AMQP.BasicProperties props = p.builder()
        .headers(headers)
        .deliveryMode(2)
        .timestamp(new Date())
        .build();
    return new Publisher.Message(JobTopology.DEAD_LETTER_EXCHANGE, config.topology().key(), props,
        d.body() == null ? new byte[0] : d.body(), index < 0 ? "dead letter of message " + d.messageId() : "dead letter of task " + index);
  }

  private Publisher.Message event(TaskEvent.Type type, int index, int attempt, int slot, Integer exitCode, Long durationNanos,
      String reason, String error) {
    return eventMessage(taskEvent(type, index, attempt, slot, exitCode, durationNanos, reason, error));
  }

  /** The SUCCEEDED event of an attempt, for a group commit. */
  TaskEvent succeededEvent(TaskMessage t, int slot, long durationNanos) {
    return taskEvent(TaskEvent.Type.SUCCEEDED, t.index(), t.attempt(), slot, 0, durationNanos, null, null);
  }

  Publisher.Message eventMessage(TaskEvent e) {
    return new Publisher.Message(JobTopology.EVENTS_EXCHANGE, config.topology().key(), Messages.eventProperties(e),
        Messages.encodeEvent(e), e.type() + " event of task " + e.index());
  }

  private TaskEvent taskEvent(TaskEvent.Type type, int index, int attempt, int slot, Integer exitCode, Long durationNanos,
      String reason, String error) {
    Long ms = durationNanos == null ? null : durationNanos / 1_000_000;
    Double gpuSeconds = durationNanos == null ? null : config.slots().gpusPerTask() * (durationNanos / 1e9);
    return new TaskEvent(TaskEvent.SCHEMA, type, config.topology().key(), config.topology().uid(), index, attempt,
        config.workerName(), slot, exitCode, ms, gpuSeconds, reason, error, System.currentTimeMillis());
  }
}
