package io.trainq.protocol;

import java.time.Duration;
import java.util.Objects;

/**
 * What the worker and the topology need to know of a job's spec, free of Kubernetes types.
 *
 * @param taskTtl null when tasks never expire
 * @param runner how the task command runs on a slot
 */
public record JobSettings(
    int maxAttempts,
    Duration backoffInitial,
    Duration backoffMax,
    Duration taskTimeout,
    Duration taskTtl,
    int deliveryLimit,
    RunnerSettings runner) {

  /** Redeliveries after infrastructure failures (a worker killed, a node lost) before a task is dead-lettered. */
  public static final int DEFAULT_DELIVERY_LIMIT = 10;

  /** Settings of a job that runs a process per attempt. */
  public JobSettings(int maxAttempts, Duration backoffInitial, Duration backoffMax, Duration taskTimeout, Duration taskTtl,
      int deliveryLimit) {
    this(maxAttempts, backoffInitial, backoffMax, taskTimeout, taskTtl, deliveryLimit, RunnerSettings.PROCESS);
  }

  /** These settings with another runner. */
  public JobSettings withRunner(RunnerSettings r) {
    return new JobSettings(maxAttempts, backoffInitial, backoffMax, taskTimeout, taskTtl, deliveryLimit, r);
  }

  public JobSettings {
    if (maxAttempts < 1) {
      throw new IllegalArgumentException("maxAttempts must be >= 1, was " + maxAttempts);
    }
    Objects.requireNonNull(backoffInitial, "backoffInitial");
    Objects.requireNonNull(backoffMax, "backoffMax");
    Objects.requireNonNull(taskTimeout, "taskTimeout");
    Objects.requireNonNull(runner, "runner");
    if (deliveryLimit < 1) {
      throw new IllegalArgumentException("deliveryLimit must be >= 1, was " + deliveryLimit);
    }
  }
}
