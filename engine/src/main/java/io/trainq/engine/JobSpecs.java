package io.trainq.engine;

import io.trainq.api.BackoffSpec;
import io.trainq.api.Durations;
import io.trainq.api.RetrySpec;
import io.trainq.api.TrainingJobSpec;
import io.trainq.protocol.JobSettings;

/** The one mapping from a TrainingJob's spec to the settings its queues and workers run with. */
public final class JobSpecs {
  /** The schema's default of {@code spec.taskTimeout}, for a spec read without the API server's defaulting. */
  static final String DEFAULT_TASK_TIMEOUT = "24h";

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
        r.effectiveDeliveryLimit());
  }
}
