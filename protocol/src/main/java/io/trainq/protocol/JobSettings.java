package io.trainq.protocol;

import java.time.Duration;
import java.util.Objects;

/**
 * What the worker and the topology need to know of a job's spec, free of Kubernetes types.
 *
 * @param gpusPerTask GPUs each task gets (a slot's share of its worker's GPUs)
 * @param taskTtl null when tasks never expire
 * @param runner how the task command runs on a slot
 */
public record JobSettings(
    int gpusPerTask,
    int maxAttempts,
    Duration backoffInitial,
    Duration backoffMax,
    Duration taskTimeout,
    Duration taskTtl,
    int deliveryLimit,
    RunnerSettings runner) {

  /** Redeliveries after infrastructure failures (a worker killed, a node lost) before a task is dead-lettered. */
  public static final int DEFAULT_DELIVERY_LIMIT = 10;

  /** Settings of a job whose tasks take one GPU each and run a process per attempt. */
  public JobSettings(int maxAttempts, Duration backoffInitial, Duration backoffMax, Duration taskTimeout, Duration taskTtl,
      int deliveryLimit) {
    this(1, maxAttempts, backoffInitial, backoffMax, taskTimeout, taskTtl, deliveryLimit, RunnerSettings.PROCESS);
  }

  /** These settings with another runner. */
  public JobSettings withRunner(RunnerSettings r) {
    return new JobSettings(gpusPerTask, maxAttempts, backoffInitial, backoffMax, taskTimeout, taskTtl, deliveryLimit, r);
  }

  /** These settings with tasks of another size. */
  public JobSettings withGpusPerTask(int g) {
    return new JobSettings(g, maxAttempts, backoffInitial, backoffMax, taskTimeout, taskTtl, deliveryLimit, runner);
  }

  public JobSettings {
    if (gpusPerTask < 1) {
      throw new IllegalArgumentException("gpusPerTask must be >= 1, was " + gpusPerTask);
    }
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
