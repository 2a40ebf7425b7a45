package io.trainq.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;

@JsonInclude(JsonInclude.Include.NON_NULL)
@ValidationRule(
    value = "!has(self.maxTasksPerProcess) || (has(self.mode) && self.mode == 'Persistent')",
    message = "spec.runner.maxTasksPerProcess applies only to spec.runner.mode Persistent",
    fieldPath = ".maxTasksPerProcess",
    reason = "FieldValueInvalid")
public class RunnerSpec {

  /** The modes, spelt as in the schema. */
  public enum Mode { Process, Persistent }

  @Default("Process")
  @JsonPropertyDescription("Process: each attempt is a new process with the task in its environment. Persistent: each slot starts the command once and hands it tasks one after another over the runner protocol (docs/runner-protocol.md; Python: trainq_task.tasks()), so imports, CUDA contexts and loaded data survive from one task to the next.")
  private Mode mode;

  @Min(1)
  @JsonPropertyDescription("Persistent mode: tasks one runner process handles before it exits and a fresh one replaces it (bounds leaks, like Celery's max-tasks-per-child). No limit when unset.")
  private Integer maxTasksPerProcess;

  @Default("10m")
  @Size(max = 32)
  @Pattern(Durations.PATTERN)
  @ValidationRule(value = Durations.AT_LEAST_1S, message = "spec.runner.startTimeout must be at least 1s", reason = "FieldValueInvalid")
  @JsonPropertyDescription("Persistent mode: how long a new runner may take to connect to the worker and say it is ready (imports, CUDA initialisation). The task it was started for fails with reason runner-not-ready when it takes longer.")
  private String startTimeout;

  public Mode getMode() {
    return mode;
  }

  public void setMode(Mode mode) {
    this.mode = mode;
  }

  public Integer getMaxTasksPerProcess() {
    return maxTasksPerProcess;
  }

  public void setMaxTasksPerProcess(Integer maxTasksPerProcess) {
    this.maxTasksPerProcess = maxTasksPerProcess;
  }

  public String getStartTimeout() {
    return startTimeout;
  }

  public void setStartTimeout(String startTimeout) {
    this.startTimeout = startTimeout;
  }
}
