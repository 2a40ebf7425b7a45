package io.trainq.worker;

import io.trainq.protocol.ConfirmingPublisher;
import io.trainq.protocol.JobTopology;
import io.trainq.protocol.Messages;
import io.trainq.protocol.TaskEvent;
import io.trainq.protocol.TaskMessage;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * Settles finished attempts off the slots' path, so that a slot starts its next task while the
 * previous outcome is still on its way to the broker.
 *
 * <p>Successes are group-committed: every success that ends while a confirm is outstanding goes to
 * the broker in one message ({@link Messages#EVENT_BATCH_TYPE}) under one confirm wait, and each
 * delivery is acked once that confirm (and its attempt's STARTED, when one was sent) is in: never an
 * ack before its outcome is confirmed. When a batch is not confirmed (a broker or connection fault),
 * each of its outcomes falls back to {@link Reporter#succeeded}, which publishes until confirmed or
 * the delivery is gone, exactly as a lone outcome would be. Failures (a retry or a dead letter, two
 * messages in order) are rarer and settled one by one, on their own thread.
 */
final class Settler implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Settler.class);
  /** Most outcomes in one message: bounds its size (an event is a few hundred bytes). */
  static final int MAX_BATCH = 256;

  /** A successful attempt waiting for its SUCCEEDED to be confirmed and its delivery acked. */
  record Success(Delivery delivery, TaskMessage task, int slot, CompletableFuture<Void> started, long durationNanos) {}

  private final Reporter reporter;
  private final Publisher publisher;
  private final TaskConsumer consumer;
  private final Metrics metrics;
  private final BlockingQueue<Success> successes = new LinkedBlockingQueue<>();
  private final ExecutorService failures = Executors.newSingleThreadExecutor(r -> daemon(r, "settle-failures"));
  private final Thread thread;
  private final Object idle = new Object();
  private int pending;
  private volatile boolean running = true;

  Settler(Reporter reporter, Publisher publisher, TaskConsumer consumer, Metrics metrics) {
    this.reporter = reporter;
    this.publisher = publisher;
    this.consumer = consumer;
    this.metrics = metrics;
    this.thread = daemon(this::loop, "settle");
    thread.start();
  }

  void succeeded(Success s) {
    enter();
    successes.add(s);
  }

  /** Runs a failure's settlement (confirm in order, then ack) off the slot's path. */
  void failed(Runnable settle) {
    enter();
    // its log lines name the task the slot's thread names
    Map<String, String> context = MDC.getCopyOfContextMap();
    failures.execute(() -> {
      if (context != null) {
        MDC.setContextMap(context);
      }
      try {
        settle.run();
      } catch (RuntimeException e) {
        log.error("settling a failed attempt failed; its delivery goes back to the queue with the channel", e);
      } finally {
        MDC.clear();
        leave(1);
      }
    });
  }

  /** Outcomes handed over and not settled yet. */
  int pending() {
    synchronized (idle) {
      return pending;
    }
  }

  /** Waits until every outcome handed over is settled; false on timeout. */
  boolean awaitIdle(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    synchronized (idle) {
      while (pending > 0) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          return false;
        }
        idle.wait(Math.max(1, left / 1_000_000));
      }
      return true;
    }
  }

  private void enter() {
    synchronized (idle) {
      pending++;
    }
  }

  private void leave(int n) {
    synchronized (idle) {
      pending -= n;
      idle.notifyAll();
    }
  }

  private void loop() {
    List<Success> batch = new ArrayList<>();
    while (running || !successes.isEmpty()) {
      try {
        Success first = successes.poll(200, TimeUnit.MILLISECONDS);
        if (first == null) {
          continue;
        }
        batch.add(first);
        successes.drainTo(batch, MAX_BATCH - 1);
        try {
          settle(batch);
        } catch (RuntimeException e) {
          log.error("settling {} successful attempt(s) failed; their deliveries go back to the queue with the channel",
              batch.size(), e);
        } finally {
          leave(batch.size());
          batch.clear();
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }

  private void settle(List<Success> batch) throws InterruptedException {
    List<TaskEvent> events = new ArrayList<>(batch.size());
    for (Success s : batch) {
      events.add(reporter.succeededEvent(s.task(), s.slot(), s.durationNanos()));
    }
    Publisher.Message m = events.size() == 1
        ? reporter.eventMessage(events.get(0))
        : new Publisher.Message(JobTopology.EVENTS_EXCHANGE, events.get(0).jobKey(), Messages.eventBatchProperties(events),
            Messages.encodeEvents(events), events.size() + " SUCCEEDED events (tasks " + events.get(0).index() + "…)");
    boolean confirmed = confirmed(publisher.publish(m));
    metrics.outcomeMessages.increment();
    metrics.outcomeEvents.add(events.size());
    List<Success> ready = new ArrayList<>(batch.size());
    List<Success> again = new ArrayList<>();
    for (Success s : batch) {
      (confirmed && (s.started() == null || confirmed(s.started())) ? ready : again).add(s);
    }
    // one ack for the group where its deliveries are the oldest the channel holds
    Set<Delivery> acked = Collections.newSetFromMap(new IdentityHashMap<>());
    acked.addAll(consumer.ackAll(ready.stream().map(Success::delivery).toList()));
    metrics.succeeded.add(acked.size());
    for (Success s : ready) {
      if (!acked.contains(s.delivery())) {
        again.add(s);
      }
    }
    for (Success s : again) {
      // not confirmed, or the delivery is gone: the one-by-one path publishes again and handles a lost delivery
      reporter.succeeded(s.delivery(), s.task(), s.slot(), s.started(), s.durationNanos());
    }
  }

  private static boolean confirmed(CompletableFuture<Void> f) throws InterruptedException {
    try {
      ConfirmingPublisher.await(f, Publisher.CONFIRM_TIMEOUT);
      return true;
    } catch (ConfirmingPublisher.PublishException e) {
      return false;
    }
  }

  /** Settles what was handed over (within the caller's bound, see {@link #awaitIdle}) and stops. */
  @Override
  public void close() {
    running = false;
    failures.shutdown();
    try {
      thread.join(1000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static Thread daemon(Runnable r, String name) {
    Thread t = new Thread(r, name);
    t.setDaemon(true);
    return t;
  }
}
