package io.trainq.engine;

import io.trainq.api.BackoffSpec;
import io.trainq.api.Durations;
import io.trainq.api.RetrySpec;
import io.trainq.api.RunnerSpec;
import io.trainq.api.TrainingJobSpec;
import io.trainq.protocol.JobSettings;
import io.trainq.protocol.RunnerSettings;

/** The one mapping from a TrainingJob's spec to the settings its queues and workers run with. */
public final class JobSpecs {
  /** The schema's default of {@code spec.taskTimeout}, for a spec read without the API server's defaulting. */
  static final String DEFAULT_TASK_TIMEOUT = "24h";
  /** The schema's default of {@code spec.runner.startTimeout}. */
  static final String DEFAULT_RUNNER_START_TIMEOUT = "10m";

  private JobSpecs() {}

  /**
   * The job's settings as the worker and the queues see them, with the schema's defaults where the
   * spec left a field out.
   *
   * @throws IllegalArgumentException when a duration cannot be read (the schema refuses those first)
   */
  public static JobSettings settings(TrainingJobSpec spec) {
    RetrySpec r = spec.effectiveRetry();
    BackoffSpec b = r.effectiveBackoff();
    return new JobSettings(r.effectiveMaxAttempts(), b.effectiveInitial(), b.effectiveMax(),
        Durations.parse(spec.getTaskTimeout() == null ? DEFAULT_TASK_TIMEOUT : spec.getTaskTimeout()),
        spec.getTaskTTL() == null ? null : Durations.parse(spec.getTaskTTL()),
        r.effectiveDeliveryLimit(), runner(spec.effectiveRunner()));
  }

  static RunnerSettings runner(RunnerSpec r) {
    RunnerSettings.Mode mode = r.effectiveMode() == RunnerSpec.Mode.Persistent ? RunnerSettings.Mode.PERSISTENT
        : RunnerSettings.Mode.PROCESS;
    return new RunnerSettings(mode, r.getMaxTasksPerProcess() == null ? 0 : r.getMaxTasksPerProcess(),
        Durations.parse(r.getStartTimeout() == null ? DEFAULT_RUNNER_START_TIMEOUT : r.getStartTimeout()));
  }
}
