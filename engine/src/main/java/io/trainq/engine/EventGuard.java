package io.trainq.engine;

import io.trainq.protocol.TaskEvent;
import java.time.Duration;
import java.util.Objects;
import java.util.function.LongSupplier;

/**
 * What an event may say about a job. Anyone who can publish to the broker's exchanges (a buggy worker,
 * a stale worker of a deleted job of the same name, a careless client) can put an event on a job's
 * stream; the fold takes only events that could have come from one of the job's own attempts:
 *
 * <ul>
 *   <li>the job's uid (a job deleted and created again under the same name has a new one);
 *   <li>an index of the job and an attempt within its retry budget (attempts only grow through
 *       retries, so redeliveries never raise them);
 *   <li>a duration no longer than the task timeout plus the worker's kill and shutdown grace, GPU-seconds
 *       no more than the task's GPUs over that duration, and a time not far ahead of this clock.
 * </ul>
 *
 * A task message dead-lettered by the broker or a worker that fails these checks is not one of the
 * job's tasks: the fold counts it as a rejected message. A worker event that fails them is dropped.
 */
public final class EventGuard {
  /** Why an event was dropped: the label values of the rejected-events metric. */
  public static final String OTHER_JOB = "other-job";
  public static final String INDEX = "index-out-of-range";
  public static final String ATTEMPT = "attempt-out-of-range";
  public static final String DURATION = "duration-out-of-range";
  public static final String GPU_SECONDS = "gpu-seconds-out-of-range";
  public static final String TIME = "time-out-of-range";

  /** Workers' clocks may run this far ahead of the operator's. */
  static final Duration CLOCK_SKEW = Duration.ofHours(1);
  /** Beyond the task timeout: the kill grace, a shutdown grace, a slow reaper. */
  static final Duration DURATION_SLACK = Duration.ofMinutes(15);

  private final String uid;
  private final int maxAttempts;
  private final int gpusPerTask;
  private final long maxDurationMillis;
  private final LongSupplier clock;

  /**
   * @param uid the job's uid
   * @param maxAttempts the job's retry budget
   * @param gpusPerTask GPUs of each task
   * @param taskTimeout the job's task timeout
   * @param clock this process's clock, in epoch milliseconds
   */
  public EventGuard(String uid, int maxAttempts, int gpusPerTask, Duration taskTimeout, LongSupplier clock) {
    this.uid = Objects.requireNonNull(uid, "uid");
    this.maxAttempts = Math.max(1, maxAttempts);
    this.gpusPerTask = Math.max(1, gpusPerTask);
    this.maxDurationMillis = saturatedAdd(taskTimeout.toMillis(), DURATION_SLACK.toMillis());
    this.clock = Objects.requireNonNull(clock, "clock");
  }

  /** Why {@code e} cannot be about one of the job's {@code total} tasks, or null when it can. */
  public String check(JobEvent e, int total) {
    String uidOf = e instanceof JobEvent.Progress p ? p.event().jobUid() : ((JobEvent.DeadLettered) e).jobUid();
    if (!uid.equals(uidOf)) {
      return OTHER_JOB;
    }
    if (e.index() < 0 || e.index() >= total) {
      return INDEX;
    }
    if (e.attempt() < 1 || e.attempt() > maxAttempts) {
      return ATTEMPT;
    }
    if (e instanceof JobEvent.Progress p) {
      return checkMeasures(p.event());
    }
    return null;
  }

  private String checkMeasures(TaskEvent t) {
    Long ms = t.durationMs();
    if (ms != null && (ms < 0 || ms > maxDurationMillis)) {
      return DURATION;
    }
    Double gs = t.gpuSeconds();
    if (gs != null) {
      double bound = gpusPerTask * ((ms != null ? ms : maxDurationMillis) / 1000.0) * 1.01 + 1;
      if (!Double.isFinite(gs) || gs < 0 || gs > bound) {
        return GPU_SECONDS;
      }
    }
    if (t.epochMillis() < 0 || t.epochMillis() > saturatedAdd(clock.getAsLong(), CLOCK_SKEW.toMillis())) {
      return TIME;
    }
    return null;
  }

  /** A dead letter's time as far as it makes sense: 0 (unknown) for one ahead of this clock. */
  long saneTime(long epochMillis) {
    return epochMillis < 0 || epochMillis > saturatedAdd(clock.getAsLong(), CLOCK_SKEW.toMillis()) ? 0 : epochMillis;
  }

  private static long saturatedAdd(long a, long b) {
    long r = a + b;
    return ((a ^ r) & (b ^ r)) < 0 ? Long.MAX_VALUE : r;
  }
}
