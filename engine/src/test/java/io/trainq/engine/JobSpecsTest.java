package io.trainq.engine;

import static org.assertj.core.api.Assertions.assertThat;

import io.trainq.api.RunnerSpec;
import io.trainq.api.TrainingJobSpec;
import io.trainq.protocol.JobSettings;
import io.trainq.protocol.JobTopology;
import io.trainq.protocol.RunnerSettings;
import io.trainq.protocol.WorkerEnv;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JobSpecsTest {

  @Test
  void withoutSpecRunnerEachAttemptIsAProcess() {
    JobSettings s = JobSpecs.settings(new TrainingJobSpec());
    assertThat(s.runner()).isEqualTo(RunnerSettings.PROCESS);
    Map<String, String> env = WorkerEnv.forJob(new JobTopology("ns", "j", "uid"), s, 1);
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
    JobSettings s = JobSpecs.settings(spec);
    assertThat(s.runner()).isEqualTo(new RunnerSettings(RunnerSettings.Mode.PERSISTENT, 50, Duration.ofMinutes(2)));
    Map<String, String> env = WorkerEnv.forJob(new JobTopology("ns", "j", "uid"), s, 1);
    assertThat(env).containsEntry(WorkerEnv.RUNNER_MODE, "Persistent").containsEntry(WorkerEnv.RUNNER_MAX_TASKS, "50")
        .containsEntry(WorkerEnv.RUNNER_START_TIMEOUT_MS, "120000");
    assertThat(WorkerEnv.jobSettings(env)).isEqualTo(s);
  }
}
