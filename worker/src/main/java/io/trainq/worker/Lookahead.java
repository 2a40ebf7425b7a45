package io.trainq.worker;

import java.time.Duration;
import java.util.List;

/**
 * Whether the worker should hold deliveries beyond its slots. While recent attempts are short, a
 * freed slot then starts its next task at once, while the previous outcome is confirmed and acked
 * in the background; while attempts are long, the worker holds exactly one delivery per slot, so a
 * long task never waits behind another on a busy worker while a GPU elsewhere idles.
 *
 * <p>Short means: the moving average of finished attempts is below the threshold, and fewer than
 * half of the busy slots run an attempt older than it (a switch to long tasks shows there first).
 * The worker applies the decision by starting or cancelling a second consumer whose prefetch is the
 * lookahead (a consumer's prefetch cannot change once it consumes); deliveries it holds when the
 * attempts turn long wait for the next free slot, at most {@link #releaseAfter()}, and are then
 * returned to the queue for any free slot to take.
 */
final class Lookahead {
  private static final double ALPHA = 0.2;

  private final long thresholdNanos;
  private final Runnable firstFinished;
  private double averageNanos = -1;

  /** @param firstFinished told when the first attempt finished, so that a long one turns the lookahead off at once */
  Lookahead(Duration threshold, Runnable firstFinished) {
    this.thresholdNanos = threshold.toNanos();
    this.firstFinished = firstFinished;
  }

  void finished(long durationNanos) {
    boolean first;
    synchronized (this) {
      first = averageNanos < 0;
      averageNanos = first ? durationNanos : (1 - ALPHA) * averageNanos + ALPHA * durationNanos;
    }
    if (first) {
      firstFinished.run();
    }
  }

  /** The decision now, given when the attempts running on the slots started (System.nanoTime), empty for idle slots. */
  synchronized boolean wanted(List<Long> runningSinceNanos, long nowNanos) {
    // Before any attempt has finished, attempts count as short: the first burst then has a delivery
    // behind each slot. Were they long, the slots' attempts turn old within the threshold.
    if (averageNanos >= thresholdNanos) {
      return false;
    }
    int old = 0;
    for (long since : runningSinceNanos) {
      if (nowNanos - since >= thresholdNanos) {
        old++;
      }
    }
    return old * 2 < Math.max(1, runningSinceNanos.size());
  }

  /** How long a delivery held beyond the slots may wait once attempts are long, before it goes back to the queue. */
  Duration releaseAfter() {
    return Duration.ofNanos(2 * thresholdNanos);
  }
}
