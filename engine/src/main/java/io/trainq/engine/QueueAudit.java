package io.trainq.engine;

import java.util.BitSet;

/**
 * Finds tasks lost with their queue: a task queue deleted (or deleted and declared again, or
 * purged) takes its tasks with it, and nothing on the broker says so. The job's accounting knows
 * which tasks are unfinished; the broker tells where they can be. Every unfinished task is in one of
 * these places:
 *
 * <ul>
 *   <li>ready in the task queue or waiting out a backoff in a retry queue;
 *   <li>held by a worker (at most its prefetch per worker);
 *   <li>finished, with its outcome still on the events queue, not folded yet.
 * </ul>
 *
 * When the unfinished tasks outnumber all these places together, some are nowhere: lost. The check
 * only counts, so it never mistakes a busy job for a lost one; a deficit must also be seen twice, a
 * few seconds apart, before it counts (a retry moving from its retry queue to the task queue is in
 * neither for a moment). Then every unfinished task that is not running is published again: a task
 * that was in fact still somewhere runs twice at worst, and is counted once.
 *
 * <p>No I/O: the caller observes, this decides.
 */
public final class QueueAudit {
  /** How long a deficit must last before it is taken as a loss. */
  public static final long CONFIRM_MILLIS = 5_000;

  private long deficitSinceMillis = -1;

  /**
   * What the broker showed.
   *
   * @param taskQueueExists false when the task queue is gone
   * @param ready ready messages in the task queue
   * @param retrying messages waiting in the retry queues
   * @param heldBound most deliveries the job's live workers can hold (workers × prefetch)
   * @param unfoldedBound messages on the events queue not folded yet (ready there, or delivered and not acknowledged)
   */
  public record Observation(boolean taskQueueExists, long ready, long retrying, long heldBound, long unfoldedBound) {}

  /**
   * The verdict: nothing lost, a deficit being confirmed, tasks lost with their queue, or tasks
   * stranded — running when their queue was found lost, and stopped since without an outcome — to
   * publish again.
   */
  public record Verdict(Kind kind, long deficit, BitSet republish) {
    public enum Kind { INTACT, SUSPECT, LOST, STRANDED }
  }

  /**
   * Tasks that were running when their queue was found lost: not republished then (they run), but
   * their deliveries went with the queue. One stopped without an outcome (its worker reports it
   * REQUEUED when it finds its queue deleted) is nowhere, and is republished alone, at once.
   */
  private final BitSet runningAtLoss = new BitSet();

  /**
   * Compares the accounting with an observation made at {@code nowMillis}.
   *
   * @param progress the job's progress as folded and stored
   */
  public Verdict check(JobProgress progress, Observation o, long nowMillis) {
    BitSet running = Intervals.parse(progress.runningIndexes(), progress.total());
    if (!runningAtLoss.isEmpty()) {
      BitSet stranded = (BitSet) runningAtLoss.clone();
      stranded.andNot(running);
      runningAtLoss.and(running);
      stranded.andNot(Intervals.parse(progress.succeededIndexes(), progress.total()));
      stranded.andNot(Intervals.parse(progress.failedIndexes(), progress.total()));
      // a failed attempt's retry waits in a retry queue, which the loss did not touch
      progress.retryingIndexes().values().forEach(v -> stranded.andNot(Intervals.parse(v, progress.total())));
      if (!stranded.isEmpty()) {
        return new Verdict(Verdict.Kind.STRANDED, stranded.cardinality(), stranded);
      }
    }
    long unfinished = progress.remaining();
    long deficit = unfinished - (o.ready() + o.retrying() + o.heldBound() + o.unfoldedBound());
    if (unfinished == 0 || (o.taskQueueExists() && deficit <= 0)) {
      deficitSinceMillis = -1;
      return new Verdict(Verdict.Kind.INTACT, Math.max(0, deficit), new BitSet());
    }
    if (o.taskQueueExists()) {
      if (deficitSinceMillis < 0) {
        deficitSinceMillis = nowMillis;
      }
      if (nowMillis - deficitSinceMillis < CONFIRM_MILLIS) {
        return new Verdict(Verdict.Kind.SUSPECT, deficit, new BitSet());
      }
    }
    deficitSinceMillis = -1;
    runningAtLoss.or(running);
    return new Verdict(Verdict.Kind.LOST, Math.max(deficit, 0), missing(progress, o));
  }

  /**
   * The unfinished tasks not running. Retrying ones are left out while the retry queues hold at least
   * as many messages as there are of them (their messages are there, and come back by themselves).
   */
  static BitSet missing(JobProgress p, Observation o) {
    BitSet out = new BitSet(p.total());
    out.set(0, p.total());
    out.andNot(Intervals.parse(p.succeededIndexes(), p.total()));
    out.andNot(Intervals.parse(p.failedIndexes(), p.total()));
    out.andNot(Intervals.parse(p.runningIndexes(), p.total()));
    BitSet retrying = new BitSet();
    p.retryingIndexes().values().forEach(v -> retrying.or(Intervals.parse(v, p.total())));
    retrying.and(out);
    if (o.retrying() >= retrying.cardinality()) {
      out.andNot(retrying);
    }
    return out;
  }
}
