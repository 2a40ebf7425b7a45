package io.trainq.engine;

import io.trainq.protocol.Messages;
import io.trainq.protocol.TaskEvent;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.BitSet;
import java.util.Deque;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Folds a job's events into exact counts. Redeliveries and republished tasks make every event
 * possibly duplicate and late, so each one only moves a task forward:
 *
 * <ul>
 *   <li>an index is counted succeeded or dead-lettered once, by its first final outcome; later
 *       outcomes of the same index (a duplicate run, a replayed event) change nothing;
 *   <li>retries are counted per (index, attempt): attempt {@code a} of a task implies {@code a-1}
 *       retries, however many times its events arrive;
 *   <li>a task is running from its {@code STARTED} until an outcome of that attempt (or a later one);
 *   <li>GPU-seconds are added only by the event that makes one of these transitions.
 * </ul>
 *
 * <p>No I/O, no clock: the same events give the same {@link JobProgress}. Not thread-safe; callers
 * serialize access. {@link #progress()} and {@link #restore} round-trip, so a process that stores the
 * progress before acknowledging the events it folded never counts an event twice after a crash.
 */
public final class JobStatusFold {
  /** Dead letters kept in the status, newest last. */
  public static final int MAX_DEAD_LETTERS = 10;
  /** Characters of a dead letter's error kept in the status. */
  public static final int MAX_ERROR_CHARS = 512;
  /** Digests of rejected messages kept, to count a dead letter delivered again once. */
  public static final int MAX_REJECTED_DIGESTS = 100;
  /** Characters of a dead letter's reason kept in the status. */
  static final int MAX_REASON_CHARS = 64;

  /** Told of each event the fold drops, with the {@link EventGuard} reason. */
  @FunctionalInterface
  public interface RejectionListener {
    void rejected(String reason, JobEvent event);
  }

  private final int total;
  private final int gpusPerTask;
  private final BitSet succeeded = new BitSet();
  private final BitSet deadLettered = new BitSet();
  /** Unfinished tasks with retries: index -> retries scheduled (= the attempt they are on - 1). */
  private final Map<Integer, Integer> retries = new HashMap<>();
  private final Map<Integer, Run> running = new HashMap<>();
  private final Deque<JobProgress.DeadLetterInfo> deadLetters = new ArrayDeque<>();
  private long retried;
  private double busyGpuSeconds;
  private long lastEventMillis;
  private long rejectedMessages;
  private final java.util.LinkedHashSet<String> rejectedDigests = new java.util.LinkedHashSet<>();
  private final Map<String, Long> rejectedEvents = new TreeMap<>();
  private EventGuard guard;
  private RejectionListener listener = (reason, event) -> {};

  /** Where a task runs; {@code worker} is null for runs restored from a status. */
  private record Run(int attempt, String worker, long startMillis) {}

  /**
   * A fold with nothing folded yet.
   *
   * @param total the job's task count; events of other indexes are ignored
   * @param gpusPerTask GPUs of each running task, for the in-flight GPU-seconds
   */
  public JobStatusFold(int total, int gpusPerTask) {
    if (total < 0) {
      throw new IllegalArgumentException("total must be >= 0, was " + total);
    }
    this.total = total;
    this.gpusPerTask = Math.max(1, gpusPerTask);
  }

  /**
   * A fold that continues from a stored snapshot. Running tasks come back without their worker or
   * start time: the next event of their index, or {@link #retainRunning}, settles them.
   *
   * @throws IllegalArgumentException when the snapshot's index sets are malformed
   */
  public static JobStatusFold restore(JobProgress saved, int gpusPerTask) {
    JobStatusFold f = new JobStatusFold(saved.total(), gpusPerTask);
    f.succeeded.or(Intervals.parse(saved.succeededIndexes(), saved.total()));
    f.deadLettered.or(Intervals.parse(saved.failedIndexes(), saved.total()));
    f.deadLettered.andNot(f.succeeded);
    BitSet run = Intervals.parse(saved.runningIndexes(), saved.total());
    for (int i = run.nextSetBit(0); i >= 0; i = run.nextSetBit(i + 1)) {
      if (!f.finished(i)) {
        f.running.put(i, new Run(0, null, 0));
      }
    }
    for (Map.Entry<Integer, String> e : saved.retryingIndexes().entrySet()) {
      int attempt = e.getKey();
      if (attempt < 2) {
        throw new IllegalArgumentException("retryingIndexes: attempt " + attempt + " is not a retry");
      }
      BitSet s = Intervals.parse(e.getValue(), saved.total());
      for (int i = s.nextSetBit(0); i >= 0; i = s.nextSetBit(i + 1)) {
        if (!f.finished(i)) {
          f.retries.merge(i, attempt - 1, Math::max);
        }
      }
    }
    f.retried = saved.retried();
    f.busyGpuSeconds = saved.busyGpuSeconds();
    f.lastEventMillis = saved.lastEventMillis();
    f.rejectedMessages = saved.rejectedMessages();
    f.rejectedDigests.addAll(saved.rejectedDigests());
    saved.deadLetters().forEach(f.deadLetters::addLast);
    while (f.deadLetters.size() > MAX_DEAD_LETTERS) {
      f.deadLetters.removeFirst();
    }
    return f;
  }

  /**
   * Checks every event against the job before it is folded (see {@link EventGuard}); a fold without a
   * guard only ignores indexes outside the job.
   */
  public JobStatusFold guardedBy(EventGuard g, RejectionListener l) {
    this.guard = g;
    this.listener = l == null ? (reason, event) -> {} : l;
    return this;
  }

  /** Folds one event; returns whether anything changed. */
  public boolean apply(JobEvent event) {
    String problem = guard != null ? guard.check(event, total)
        : event.index() < 0 || event.index() >= total ? EventGuard.INDEX : null;
    if (event instanceof JobEvent.DeadLettered d) {
      if (problem != null) {
        // a dead-lettered message that is none of the job's tasks: counted apart, never as a task
        return rejectedMessage(d);
      }
      long at = guard == null ? d.epochMillis() : guard.saneTime(d.epochMillis());
      return deadLetter(d.index(), d.attempt(), d.reason(), d.exitCode(), d.error(), at, null);
    }
    if (problem != null) {
      rejectedEvents.merge(problem, 1L, Long::sum);
      listener.rejected(problem, event);
      return false;
    }
    return applyProgress(((JobEvent.Progress) event).event());
  }

  private boolean rejectedMessage(JobEvent.DeadLettered d) {
    if (d.digest() != null && rejectedDigests.contains(d.digest())) {
      return false;
    }
    rejectedMessages++;
    if (d.digest() != null) {
      rejectedDigests.add(d.digest());
      if (rejectedDigests.size() > MAX_REJECTED_DIGESTS) {
        Iterator<String> it = rejectedDigests.iterator();
        it.next();
        it.remove();
      }
    }
    long at = guard == null ? d.epochMillis() : guard.saneTime(d.epochMillis());
    addDeadLetterInfo(new JobProgress.DeadLetterInfo(-1, 0, reasonText(d.reason()), null,
        Messages.tail(d.error(), MAX_ERROR_CHARS), at > 0 ? Instant.ofEpochMilli(at) : null));
    return true;
  }

  private void addDeadLetterInfo(JobProgress.DeadLetterInfo info) {
    deadLetters.addLast(info);
    while (deadLetters.size() > MAX_DEAD_LETTERS) {
      deadLetters.removeFirst();
    }
  }

  private static String reasonText(String reason) {
    return reason == null ? TaskEvent.Reason.FAILED
        : reason.length() > MAX_REASON_CHARS ? reason.substring(0, MAX_REASON_CHARS) : reason;
  }

  /** Worker events dropped so far, by {@link EventGuard} reason (this process's, not stored). */
  public Map<String, Long> rejectedEvents() {
    return Map.copyOf(rejectedEvents);
  }

  /** Messages dead-lettered from the job's queues that were none of its tasks. */
  public long rejectedMessages() {
    return rejectedMessages;
  }

  /** Folds a worker's event; returns whether anything changed. */
  public boolean apply(TaskEvent e) {
    return apply(new JobEvent.Progress(e));
  }

  private boolean applyProgress(TaskEvent e) {
    int i = e.index();
    lastEventMillis = Math.max(lastEventMillis, e.epochMillis());
    return switch (e.type()) {
      case STARTED -> started(i, e.attempt(), e.worker(), e.epochMillis());
      case SUCCEEDED -> succeeded(i, e.attempt(), e.gpuSeconds());
      case RETRYING -> retrying(i, e.attempt(), e.worker(), e.gpuSeconds());
      case DEAD_LETTERED -> deadLetter(i, e.attempt(), e.reason() == null ? TaskEvent.Reason.FAILED : e.reason(),
          e.exitCode(), e.error(), e.epochMillis(), e.gpuSeconds());
      case REQUEUED -> requeued(i, e.attempt(), e.worker(), e.gpuSeconds());
    };
  }

  private boolean started(int i, int attempt, String worker, long at) {
    if (finished(i) || attempt <= retriesOf(i)) {
      // finished, or an attempt that already failed: a late or replayed start
      return false;
    }
    boolean changed = countRetries(i, attempt - 1);
    Run r = running.get(i);
    if (r != null && r.attempt() > attempt) {
      return changed;
    }
    Run next = new Run(attempt, worker, at);
    if (!next.equals(r)) {
      running.put(i, next);
      changed = true;
    }
    return changed;
  }

  private boolean succeeded(int i, int attempt, Double gpuSeconds) {
    if (finished(i)) {
      return false;
    }
    finish(i, attempt);
    succeeded.set(i);
    addGpuSeconds(gpuSeconds);
    return true;
  }

  private boolean retrying(int i, int attempt, String worker, Double gpuSeconds) {
    if (finished(i) || attempt <= retriesOf(i)) {
      return false;
    }
    countRetries(i, attempt);
    stopRunning(i, attempt, worker, true);
    addGpuSeconds(gpuSeconds);
    return true;
  }

  private boolean requeued(int i, int attempt, String worker, Double gpuSeconds) {
    if (finished(i)) {
      return false;
    }
    // Interrupted by the worker (shutdown): not a retry. Counted only if it ends a known run.
    if (stopRunning(i, attempt, worker, false)) {
      addGpuSeconds(gpuSeconds);
      return true;
    }
    return false;
  }

  private boolean deadLetter(int i, int attempt, String reason, Integer exitCode, String error, long at, Double gpuSeconds) {
    lastEventMillis = Math.max(lastEventMillis, at);
    if (finished(i)) {
      return false;
    }
    finish(i, attempt);
    deadLettered.set(i);
    addGpuSeconds(gpuSeconds);
    addDeadLetterInfo(new JobProgress.DeadLetterInfo(i, Math.max(1, attempt), reasonText(reason), exitCode,
        Messages.tail(error, MAX_ERROR_CHARS), at > 0 ? Instant.ofEpochMilli(at) : null));
    return true;
  }

  /** The index leaves every in-flight structure; its retries become final. */
  private void finish(int i, int attempt) {
    countRetries(i, attempt - 1);
    retries.remove(i);
    running.remove(i);
  }

  /** Raises the retries known for an unfinished index to {@code n}, counting only the new ones. */
  private boolean countRetries(int i, int n) {
    int known = retriesOf(i);
    if (n <= known) {
      return false;
    }
    retried += n - known;
    retries.put(i, n);
    return true;
  }

  /**
   * Ends the run of {@code i} when the event is about it: the same attempt on the same worker, or
   * an older attempt, or (for outcomes) a run restored without its worker.
   */
  private boolean stopRunning(int i, int attempt, String worker, boolean outcome) {
    Run r = running.get(i);
    if (r == null) {
      return false;
    }
    boolean sameRun = r.attempt() == attempt && (r.worker() == null || r.worker().equals(worker));
    if (sameRun || r.attempt() < attempt || (outcome && r.worker() == null)) {
      running.remove(i);
      return true;
    }
    return false;
  }

  private void addGpuSeconds(Double s) {
    if (s != null && s > 0 && Double.isFinite(s)) {
      busyGpuSeconds += s;
    }
  }

  private int retriesOf(int i) {
    return retries.getOrDefault(i, 0);
  }

  private boolean finished(int i) {
    return succeeded.get(i) || deadLettered.get(i);
  }

  /**
   * Forgets runs on workers that are gone: a worker that vanished (its pod deleted, its process
   * killed) runs nothing, and its tasks return to the queue. Runs restored without a worker are
   * forgotten only when no worker is left at all.
   *
   * @return whether anything changed
   */
  public boolean retainRunning(Set<String> liveWorkers) {
    boolean changed = false;
    for (Iterator<Map.Entry<Integer, Run>> it = running.entrySet().iterator(); it.hasNext(); ) {
      Run r = it.next().getValue();
      boolean gone = r.worker() == null ? liveWorkers.isEmpty() : !liveWorkers.contains(r.worker());
      if (gone) {
        it.remove();
        changed = true;
      }
    }
    return changed;
  }

  /**
   * Makes dead-lettered tasks unfinished again, for a re-queue of the dead-letter queue: they will be
   * counted by their next outcome. Their earlier retries stay counted.
   *
   * @return the indexes that were dead-lettered and are now pending
   */
  public BitSet reopen(BitSet indexes) {
    BitSet reopened = (BitSet) indexes.clone();
    reopened.and(deadLettered);
    deadLettered.andNot(reopened);
    deadLetters.removeIf(d -> d.index() >= 0 && reopened.get(d.index()));
    for (int i = reopened.nextSetBit(0); i >= 0; i = reopened.nextSetBit(i + 1)) {
      retries.remove(i);
    }
    return reopened;
  }

  /** GPU-seconds of the tasks running now, by their start on the workers' clocks. */
  public double runningGpuSeconds(long nowMillis) {
    double s = 0;
    for (Run r : running.values()) {
      if (r.startMillis() > 0 && nowMillis > r.startMillis()) {
        s += (nowMillis - r.startMillis()) / 1000.0 * gpusPerTask;
      }
    }
    return s;
  }

  public int total() {
    return total;
  }

  public int succeeded() {
    return succeeded.cardinality();
  }

  public int deadLettered() {
    return deadLettered.cardinality();
  }

  public int running() {
    return running.size();
  }

  public long retried() {
    return retried;
  }

  /** Whether every task succeeded or was dead-lettered. */
  public boolean done() {
    return succeeded() + deadLettered() >= total;
  }

  /** Whether task {@code index} is counted succeeded. */
  public boolean isSucceeded(int index) {
    return index >= 0 && succeeded.get(index);
  }

  /** Whether task {@code index} is counted dead-lettered. */
  public boolean isDeadLettered(int index) {
    return index >= 0 && deadLettered.get(index);
  }

  /** A copy of the succeeded indexes. */
  public BitSet succeededIndexes() {
    return (BitSet) succeeded.clone();
  }

  /** A copy of the dead-lettered indexes. */
  public BitSet deadLetteredIndexes() {
    return (BitSet) deadLettered.clone();
  }

  /** The snapshot to store (or show). */
  public JobProgress progress() {
    BitSet run = new BitSet();
    running.keySet().forEach(run::set);
    Map<Integer, BitSet> byAttempt = new HashMap<>();
    retries.forEach((i, n) -> byAttempt.computeIfAbsent(n + 1, k -> new BitSet()).set(i));
    SortedMap<Integer, String> retrying = new TreeMap<>();
    byAttempt.forEach((a, s) -> retrying.put(a, Intervals.format(s)));
    return new JobProgress(total, succeeded(), deadLettered(), running.size(), retried,
        Intervals.format(succeeded), Intervals.format(deadLettered), Intervals.format(run), retrying,
        java.util.List.copyOf(deadLetters), busyGpuSeconds, lastEventMillis, rejectedMessages,
        java.util.List.copyOf(rejectedDigests));
  }
}
