package io.trainq.engine;

import io.trainq.api.BackoffSpec;
import io.trainq.api.Durations;
import io.trainq.api.RetrySpec;
import io.trainq.api.RunnerSpec;
import io.trainq.api.TrainingJobSpec;
import io.trainq.protocol.JobSettings;
import io.trainq.protocol.RunnerSettings;
import io.trainq.protocol.WorkerEnv;

/**
 * The one mapping from a TrainingJob's spec to the settings its queues and workers run with. The spec
 * has its defaults already: the API server applies the CRD schema's in a cluster, and {@code trainq
 * run} the same schema's ({@link io.trainq.api.SchemaDefaults}).
 */
public final class JobSpecs {
  private JobSpecs() {}

  /**
   * The job's settings as the worker and the queues see them.
   *
   * @throws IllegalArgumentException when a duration cannot be read (the schema refuses those first)
   * @throws NullPointerException when the spec lacks its defaults
   */
  public static JobSettings settings(TrainingJobSpec spec) {
    RetrySpec r = spec.getRetry();
    BackoffSpec b = r.getBackoff();
    return new JobSettings(spec.getGpusPerTask(), r.getMaxAttempts(), Durations.parse(b.getInitial()),
        Durations.parse(b.getMax()), Durations.parse(spec.getTaskTimeout()),
        spec.getTaskTTL() == null ? null : Durations.parse(spec.getTaskTTL()),
        r.getDeliveryLimit(), runner(spec.getRunner()));
  }

  /** Tasks one worker (a pod, or a worker process of {@code trainq run}) runs at once. */
  public static int slotsPerWorker(TrainingJobSpec spec) {
    return Math.max(1, spec.getWorkers().gpusPerPod(spec.getGpusPerTask()) / spec.getGpusPerTask());
  }

  /**
   * Most deliveries one worker can hold: a delivery per slot, the extra prefetch, and the lookahead it
   * holds while attempts are short ({@code TRAINQ_LOOKAHEAD}, as the spec's worker env sets it).
   */
  public static int heldPerWorker(TrainingJobSpec spec) {
    int lookahead = WorkerEnv.defaultLookahead(slotsPerWorker(spec));
    if (spec.getWorkers().getEnv() != null) {
      for (var v : spec.getWorkers().getEnv()) {
        if (WorkerEnv.LOOKAHEAD.equals(v.getName()) && v.getValue() != null) {
          try {
            lookahead = Math.max(0, Integer.parseInt(v.getValue().trim()));
          } catch (NumberFormatException e) {
            // the worker refuses it and does not start: nothing held
            lookahead = 0;
          }
        }
      }
    }
    return slotsPerWorker(spec) + spec.getWorkers().getExtraPrefetch() + lookahead;
  }

  static RunnerSettings runner(RunnerSpec r) {
    if (r.getMode() != RunnerSpec.Mode.Persistent) {
      return RunnerSettings.PROCESS;
    }
    return new RunnerSettings(RunnerSettings.Mode.PERSISTENT, r.getMaxTasksPerProcess() == null ? 0 : r.getMaxTasksPerProcess(),
        Durations.parse(r.getStartTimeout()));
  }
}
