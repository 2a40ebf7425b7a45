package io.trainq.engine;

import java.time.Instant;
import java.util.List;
import java.util.SortedMap;

/**
 * A snapshot of a job's accounting, as {@link JobStatusFold#progress()} makes it and as a status
 * stores it. Everything {@link JobStatusFold#restore} needs to continue exactly where it stopped is
 * here: the index sets, the retries of unfinished tasks, and the running counters.
 *
 * @param total tasks in the job
 * @param succeeded tasks that succeeded (each counted once)
 * @param deadLettered tasks dead-lettered (each counted once)
 * @param running tasks running now
 * @param retried retries scheduled after failed attempts
 * @param succeededIndexes {@link Intervals} format
 * @param failedIndexes dead-lettered indexes, {@link Intervals} format
 * @param runningIndexes {@link Intervals} format
 * @param retryingIndexes unfinished tasks that were retried, by the attempt they are on ({@code 2 -> "4,9-11"})
 * @param deadLetters the most recent dead letters, oldest first, at most {@link JobStatusFold#MAX_DEAD_LETTERS}
 * @param busyGpuSeconds GPU-seconds of finished or interrupted attempts
 * @param lastEventMillis the worker's clock of the newest event folded, 0 before any
 * @param rejectedMessages messages dead-lettered from the job's queues that were none of its tasks
 *     (unreadable, another job's, an index or attempt the job does not have); never counted as tasks
 * @param rejectedDigests digests of the most recent rejected messages, oldest first, so that a dead
 *     letter delivered again is counted once
 */
public record JobProgress(
    int total,
    int succeeded,
    int deadLettered,
    int running,
    long retried,
    String succeededIndexes,
    String failedIndexes,
    String runningIndexes,
    SortedMap<Integer, String> retryingIndexes,
    List<DeadLetterInfo> deadLetters,
    double busyGpuSeconds,
    long lastEventMillis,
    long rejectedMessages,
    List<String> rejectedDigests) {

  public JobProgress {
    retryingIndexes = java.util.Collections.unmodifiableSortedMap(new java.util.TreeMap<>(retryingIndexes));
    deadLetters = List.copyOf(deadLetters);
    rejectedDigests = rejectedDigests == null ? List.of() : List.copyOf(rejectedDigests);
  }

  /** An empty job of {@code total} tasks. */
  public static JobProgress empty(int total) {
    return new JobProgress(total, 0, 0, 0, 0, "", "", "", new java.util.TreeMap<>(), List.of(), 0, 0, 0, List.of());
  }

  /** Succeeded plus dead-lettered. */
  public int finished() {
    return succeeded + deadLettered;
  }

  /** Every task succeeded or was dead-lettered. */
  public boolean done() {
    return finished() >= total;
  }

  /** Tasks not finished yet (queued, waiting for a retry, or running). */
  public int remaining() {
    return total - finished();
  }

  /** "finished/total", the DONE column. */
  public String progressText() {
    return finished() + "/" + total;
  }

  /**
   * One dead letter: a task, or (index -1, attempts 0) a message that was none of the job's tasks.
   *
   * @param attempts attempts the task had
   * @param exitCode the last attempt's exit code, when it exited
   * @param lastError the tail of stderr, or an error message
   * @param time when it was dead-lettered (null when unknown)
   */
  public record DeadLetterInfo(int index, int attempts, String reason, Integer exitCode, String lastError, Instant time) {}
}
