package io.trainq.engine;

import io.trainq.protocol.ConfirmingPublisher;
import io.trainq.protocol.ConfirmingPublisher.PublishException;
import io.trainq.protocol.JobTopology;
import io.trainq.protocol.Messages;
import io.trainq.protocol.TaskMessage;
import java.time.Duration;
import java.util.BitSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Publishes a job's tasks from a cursor: tasks {@code [cursor, cursor + n)} go to the task queue,
 * persistent, with {@code mandatory} and publisher confirms, up to {@code window} unconfirmed at once.
 * The returned cursor is the first index not known to be confirmed: every index below it is on the
 * queue. Publishing again from an older cursor (after a crash before the cursor was stored) is safe:
 * a republished task carries the same message id ({@code uid:index}) and is counted once.
 */
public final class TaskPublisher {
  /** Unconfirmed publishes at once: enough to keep the broker's confirm pipeline full. */
  public static final int DEFAULT_WINDOW = 256;

  private final ConfirmingPublisher publisher;
  private final int window;

  /**
   * @param publisher a confirming publisher on its own channel, used by this publisher alone while it publishes
   * @param window most unconfirmed publishes at once
   */
  public TaskPublisher(ConfirmingPublisher publisher, int window) {
    if (window < 1) {
      throw new IllegalArgumentException("window must be >= 1, was " + window);
    }
    this.publisher = publisher;
    this.window = window;
  }

  /**
   * The outcome of one call.
   *
   * @param cursor every index below it is confirmed by the broker
   * @param confirmed tasks confirmed by this call
   * @param failure why publishing stopped early, or null when every task of the range was confirmed
   */
  public record Result(long cursor, int confirmed, PublishException failure) {
    public boolean complete() {
      return failure == null;
    }
  }

  /**
   * Publishes up to {@code max} tasks from {@code cursor} and waits for their confirms.
   *
   * @param confirmTimeout longest wait for the last confirm (and for a window slot)
   */
  public Result publish(JobTopology job, TaskPlan plan, long cursor, int max, Duration confirmTimeout) throws InterruptedException {
    int from = (int) Math.min(Math.max(cursor, 0), plan.size());
    int to = (int) Math.min((long) from + Math.max(max, 0), plan.size());
    int[] indexes = new int[to - from];
    for (int k = 0; k < indexes.length; k++) {
      indexes[k] = from + k;
    }
    Sent s = send(job, plan, indexes, confirmTimeout);
    return new Result(from + s.confirmed, s.confirmed, s.failure);
  }

  /**
   * Publishes the given tasks again (tasks lost with their queue), in index order, and waits for
   * their confirms. A task that is also still somewhere is run twice at worst and counted once.
   *
   * @return {@code confirmed}: how many of them, in index order, are confirmed (the cursor says the same);
   *     and why publishing stopped early, if it did
   */
  public Result republish(JobTopology job, TaskPlan plan, BitSet indexes, Duration confirmTimeout) throws InterruptedException {
    int[] list = indexes.stream().filter(i -> i < plan.size()).toArray();
    Sent s = send(job, plan, list, confirmTimeout);
    return new Result(s.confirmed, s.confirmed, s.failure);
  }

  private record Sent(int confirmed, PublishException failure) {}

  private Sent send(JobTopology job, TaskPlan plan, int[] indexes, Duration confirmTimeout) throws InterruptedException {
    int n = indexes.length;
    if (n == 0) {
      return new Sent(0, null);
    }
    @SuppressWarnings("unchecked")
    CompletableFuture<Void>[] confirms = new CompletableFuture[n];
    Semaphore slots = new Semaphore(window);
    // a nack, a return or a closed channel stops further publishing; the confirmed prefix still counts
    AtomicBoolean failed = new AtomicBoolean();
    PublishException failure = null;
    int sent = 0;
    for (int k = 0; k < n; k++) {
      if (!slots.tryAcquire(confirmTimeout.toMillis(), TimeUnit.MILLISECONDS)) {
        failure = new PublishException("no confirm from the broker within " + confirmTimeout.toMillis() + " ms");
        break;
      }
      if (failed.get()) {
        slots.release();
        break;
      }
      TaskMessage t = plan.task(job.uid(), indexes[k]);
      CompletableFuture<Void> f = publisher.publish("", job.taskQueue(), Messages.taskProperties(t), Messages.encodeTask(t));
      f.whenComplete((ok, err) -> {
        if (err != null) {
          failed.set(true);
        }
        slots.release();
      });
      confirms[k] = f;
      sent++;
    }
    // Wait for what is in flight, then count the confirmed prefix.
    long deadline = System.nanoTime() + confirmTimeout.toNanos();
    int confirmed = 0;
    for (int k = 0; k < sent; k++) {
      long left = deadline - System.nanoTime();
      try {
        ConfirmingPublisher.await(confirms[k], Duration.ofNanos(Math.max(left, 0)));
        if (failure == null) {
          confirmed = k + 1;
        }
      } catch (PublishException e) {
        if (failure == null) {
          failure = e;
        }
      }
    }
    if (failure == null && sent < n) {
      failure = new PublishException("publishing stopped after " + sent + " of " + n + " tasks");
    }
    return new Sent(confirmed, failure);
  }

  /**
   * Runs the encoding path {@code n} times without publishing. In a fresh JVM the first ten thousand
   * tasks cost about ten times what later ones do (class loading, the interpreter); a long-running
   * process calls this once at start so that its first job publishes at full speed.
   */
  public static void warmUp(int n) {
    TaskPlan plan = TaskPlan.ofCount(Math.max(1, Math.min(n, TaskPlan.MAX_TASKS)));
    long bytes = 0;
    for (int i = 0; i < plan.size(); i++) {
      TaskMessage t = plan.task("00000000-0000-0000-0000-000000000000", i);
      bytes += Messages.encodeTask(t).length + Messages.taskProperties(t).getHeaders().size();
    }
    if (bytes < 0) {
      throw new IllegalStateException("unreachable: keeps the loop from being optimized away");
    }
  }
}
