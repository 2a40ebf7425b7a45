package io.trainq.worker;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * An attempt's STARTED event, published only if the attempt still runs after a delay: an outcome
 * implies its start, so a short attempt costs one event instead of two. Whether it was sent is
 * decided once, under this object's lock, so that it is either never published or published before
 * the outcome (on the same channel, which keeps the order).
 */
final class StartedEvent {
  private final Supplier<CompletableFuture<Void>> publish;
  private ScheduledFuture<?> timer;
  private CompletableFuture<Void> sent;
  private boolean ended;

  private StartedEvent(Supplier<CompletableFuture<Void>> publish) {
    this.publish = publish;
  }

  /** Publishes STARTED after {@code delay} unless the attempt ends first; a zero delay publishes now. */
  static StartedEvent schedule(ScheduledExecutorService timers, Duration delay, Supplier<CompletableFuture<Void>> publish) {
    StartedEvent e = new StartedEvent(publish);
    if (delay.isZero()) {
      e.fire();
    } else {
      synchronized (e) {
        e.timer = timers.schedule(e::fire, delay.toNanos(), TimeUnit.NANOSECONDS);
      }
    }
    return e;
  }

  private synchronized void fire() {
    if (!ended && sent == null) {
      sent = publish.get();
    }
  }

  /**
   * The attempt ended: from now on STARTED is never published.
   *
   * @return the confirm of STARTED if it was published (the outcome waits for it), else null
   */
  synchronized CompletableFuture<Void> end() {
    ended = true;
    if (timer != null) {
      timer.cancel(false);
    }
    return sent;
  }
}
