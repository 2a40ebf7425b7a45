package io.trainq.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trainq.api.RunnerSpec;
import io.trainq.api.SchemaDefaults;
import io.trainq.api.TrainingJobSpec;
import io.trainq.protocol.JobSettings;
import io.trainq.protocol.JobTopology;
import io.trainq.protocol.RunnerSettings;
import io.trainq.protocol.WorkerEnv;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JobSpecsTest {

  @Test
  void theSchemasDefaultsMakeTheDocumentedSettings() {
    JobSettings s = JobSpecs.settings(SchemaDefaults.applied(new TrainingJobSpec()));
    assertThat(s).isEqualTo(new JobSettings(1, 3, Duration.ofSeconds(10), Duration.ofMinutes(10), Duration.ofHours(24), null, 10,
        RunnerSettings.PROCESS));
  }

  /** What one worker holds at most: a delivery per slot, the extra prefetch, and a lookahead of one per slot unless set. */
  @Test
  void aWorkerHoldsItsSlotsTheExtraPrefetchAndTheLookahead() {
    TrainingJobSpec spec = new TrainingJobSpec();
    spec.setGpusPerTask(2);
    io.trainq.api.WorkerSpec workers = new io.trainq.api.WorkerSpec();
    workers.setGpusPerPod(8);
    workers.setExtraPrefetch(1);
    spec.setWorkers(workers);
    TrainingJobSpec applied = SchemaDefaults.applied(spec);
    assertThat(JobSpecs.slotsPerWorker(applied)).isEqualTo(4);
    assertThat(JobSpecs.heldPerWorker(applied)).isEqualTo(4 + 1 + 4);
    applied.getWorkers().setEnv(java.util.List.of(new io.fabric8.kubernetes.api.model.EnvVar(WorkerEnv.LOOKAHEAD, "0", null)));
    assertThat(JobSpecs.heldPerWorker(applied)).isEqualTo(4 + 1);
  }

  @Test
  void aSpecWithoutItsDefaultsIsRefusedRatherThanGuessed() {
    assertThatThrownBy(() -> JobSpecs.settings(new TrainingJobSpec())).isInstanceOf(NullPointerException.class);
  }

  @Test
  void aWorkerEnvironmentWithoutAJobSettingNamesIt() {
    JobSettings s = JobSpecs.settings(SchemaDefaults.applied(new TrainingJobSpec()));
    Map<String, String> env = new HashMap<>(WorkerEnv.forJob(new JobTopology("ns", "j", "uid"), s));
    env.remove(WorkerEnv.TASK_TIMEOUT_MS);
    assertThatThrownBy(() -> WorkerEnv.jobSettings(env)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("TRAINQ_TASK_TIMEOUT_MS is not set");
  }

  @Test
  void withoutSpecRunnerEachAttemptIsAProcess() {
    JobSettings s = JobSpecs.settings(SchemaDefaults.applied(new TrainingJobSpec()));
    assertThat(s.runner()).isEqualTo(RunnerSettings.PROCESS);
    Map<String, String> env = WorkerEnv.forJob(new JobTopology("ns", "j", "uid"), s);
    assertThat(env).containsEntry(WorkerEnv.RUNNER_MODE, "Process").doesNotContainKey(WorkerEnv.RUNNER_MAX_TASKS);
    assertThat(WorkerEnv.jobSettings(env).runner()).isEqualTo(RunnerSettings.PROCESS);
  }

  @Test
  void specRunnerReachesTheWorkersEnvironment() {
    TrainingJobSpec spec = new TrainingJobSpec();
    RunnerSpec r = new RunnerSpec();
    r.setMode(RunnerSpec.Mode.Persistent);
    r.setMaxTasksPerProcess(50);
    r.setStartTimeout("2m");
    spec.setRunner(r);
    spec.setGpusPerTask(2);
    JobSettings s = JobSpecs.settings(SchemaDefaults.applied(spec));
    assertThat(s.gpusPerTask()).isEqualTo(2);
    assertThat(s.runner()).isEqualTo(new RunnerSettings(RunnerSettings.Mode.PERSISTENT, 50, Duration.ofMinutes(2)));
    Map<String, String> env = WorkerEnv.forJob(new JobTopology("ns", "j", "uid"), s);
    assertThat(env).containsEntry(WorkerEnv.RUNNER_MODE, "Persistent").containsEntry(WorkerEnv.RUNNER_MAX_TASKS, "50")
        .containsEntry(WorkerEnv.RUNNER_START_TIMEOUT_MS, "120000");
    assertThat(WorkerEnv.jobSettings(env)).isEqualTo(s);
  }
}
