package io.trainq.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import java.util.List;

@JsonInclude(JsonInclude.Include.NON_NULL)
// Each rule is guarded so that it only judges values the schema accepts: a value that already failed its
// bound or pattern must not add a second, confusing error (modulus by zero, index out of bounds,
// type conversion error) for the same mistake.
@ValidationRule(
    value = "!has(self.workers) || !has(self.workers.gpusPerPod) || !has(self.gpusPerTask) || self.gpusPerTask < 1"
        + " || self.workers.gpusPerPod % self.gpusPerTask == 0",
    message = "spec.workers.gpusPerPod must be a multiple of spec.gpusPerTask",
    fieldPath = ".workers.gpusPerPod",
    reason = "FieldValueInvalid")
@ValidationRule(
    value = "has(self.retry) == has(oldSelf.retry) && (!has(self.retry) || self.retry == oldSelf.retry)",
    message = "spec.retry is immutable (the job's queues were declared with it)",
    fieldPath = ".retry",
    reason = "FieldValueForbidden")
@ValidationRule(
    value = "has(self.taskTimeout) == has(oldSelf.taskTimeout) && (!has(self.taskTimeout) || self.taskTimeout == oldSelf.taskTimeout)",
    message = "spec.taskTimeout is immutable (the task queue's consumer timeout is derived from it)",
    fieldPath = ".taskTimeout",
    reason = "FieldValueForbidden")
@ValidationRule(
    value = "has(self.runner) == has(oldSelf.runner) && (!has(self.runner) || self.runner == oldSelf.runner)",
    message = "spec.runner is immutable (the job's workers run with the runner it had when the job was created)",
    fieldPath = ".runner",
    reason = "FieldValueForbidden")
@ValidationRule(
    value = "has(self.taskTTL) == has(oldSelf.taskTTL) && (!has(self.taskTTL) || self.taskTTL == oldSelf.taskTTL)",
    message = "spec.taskTTL is immutable (the task queue's message TTL)",
    fieldPath = ".taskTTL",
    reason = "FieldValueForbidden")
@ValidationRule(
    value = "has(self.rabbitmq) == has(oldSelf.rabbitmq)",
    message = "spec.rabbitmq is immutable: it cannot be added or removed",
    fieldPath = ".rabbitmq",
    reason = "FieldValueForbidden")
public class TrainingJobSpec {

  @Required
  @Size(min = 1, max = 1024)
  @JsonPropertyDescription("Container image that runs the tasks. The worker is copied into it at start, so any glibc-based image works. Ignored by `trainq run`, which runs the command on the host.")
  private String image;

  @Required
  @Size(min = 1, max = 256)
  @ValidationRule(value = "size(self) == 0 || size(self[0]) > 0", message = "spec.command[0] (the program) must not be empty", reason = "FieldValueInvalid")
  @JsonPropertyDescription("Command (argv) that runs one task. The task's index, parameters and attempt arrive as TRAINQ_TASK_INDEX, TRAINQ_TASK_PARAMS (JSON), TRAINQ_TASK_PARAMS_FILE and TRAINQ_TASK_ATTEMPT; its GPUs as CUDA_VISIBLE_DEVICES.")
  private List<String> command;

  @JsonPropertyDescription("Working directory of the task process. Defaults to the image's (or, for `trainq run`, the current) directory.")
  @Size(max = 4096)
  private String workingDir;

  @Required
  @JsonPropertyDescription("The tasks of the job: exactly one of count, items or grid. Immutable.")
  @ValidationRule(value = "self == oldSelf", message = "spec.tasks is immutable", reason = "FieldValueForbidden")
  private TaskSource tasks;

  @Default("1")
  @Min(1)
  @Max(64)
  @JsonPropertyDescription("GPUs each task gets. Immutable.")
  @ValidationRule(value = "self == oldSelf", message = "spec.gpusPerTask is immutable", reason = "FieldValueForbidden")
  private Integer gpusPerTask;

  @Default("{}")
  @JsonPropertyDescription("The worker pods that run the tasks.")
  private WorkerSpec workers;

  @Default("{}")
  @JsonPropertyDescription("How failed tasks (non-zero exit, timeout) are retried before they are dead-lettered.")
  private RetrySpec retry;

  @Default("24h")
  @Size(max = 32)
  @Pattern(Durations.PATTERN)
  @ValidationRule(value = Durations.AT_LEAST_1S, message = "spec.taskTimeout must be at least 1s", reason = "FieldValueInvalid")
  @JsonPropertyDescription("Longest a task may run (e.g. 4h, 90m). Its process tree is killed then, and the attempt counts as failed. The broker's consumer timeout is set above it.")
  private String taskTimeout;

  @Default("{}")
  @JsonPropertyDescription("How the command runs on a slot: a process per attempt (Process, the default) or one long-lived runner per slot that runs task after task (Persistent). Immutable.")
  private RunnerSpec runner;

  @Size(max = 32)
  @Pattern(Durations.PATTERN)
  @ValidationRule(value = Durations.AT_LEAST_1S, message = "spec.taskTTL must be at least 1s", reason = "FieldValueInvalid")
  @JsonPropertyDescription("Optional time-to-live of a queued task (e.g. 3m): a task not started within it is dead-lettered with reason `expired`. Off by default.")
  private String taskTTL;

  @JsonPropertyDescription("RabbitMQ connection. Defaults to the operator's connection (its TRAINQ_RABBITMQ_SECRET). Immutable.")
  @ValidationRule(value = "self == oldSelf", message = "spec.rabbitmq is immutable", reason = "FieldValueForbidden")
  private RabbitmqSpec rabbitmq;

  @Default("false")
  @JsonPropertyDescription("Stops new work and releases the job's GPUs: running tasks finish, no new task starts, worker pods go away. Setting it back to false resumes the job.")
  private Boolean suspend;

  @Min(0)
  @JsonPropertyDescription("Deletes the TrainingJob (its queues and pods with it) this many seconds after it finished. Kept forever when unset.")
  private Integer ttlSecondsAfterFinished;

  public boolean suspended() {
    return Boolean.TRUE.equals(suspend);
  }

  public String getImage() {
    return image;
  }

  public void setImage(String image) {
    this.image = image;
  }

  public List<String> getCommand() {
    return command;
  }

  public void setCommand(List<String> command) {
    this.command = command;
  }

  public String getWorkingDir() {
    return workingDir;
  }

  public void setWorkingDir(String workingDir) {
    this.workingDir = workingDir;
  }

  public TaskSource getTasks() {
    return tasks;
  }

  public void setTasks(TaskSource tasks) {
    this.tasks = tasks;
  }

  public Integer getGpusPerTask() {
    return gpusPerTask;
  }

  public void setGpusPerTask(Integer gpusPerTask) {
    this.gpusPerTask = gpusPerTask;
  }

  public WorkerSpec getWorkers() {
    return workers;
  }

  public void setWorkers(WorkerSpec workers) {
    this.workers = workers;
  }

  public RetrySpec getRetry() {
    return retry;
  }

  public void setRetry(RetrySpec retry) {
    this.retry = retry;
  }

  public String getTaskTimeout() {
    return taskTimeout;
  }

  public void setTaskTimeout(String taskTimeout) {
    this.taskTimeout = taskTimeout;
  }

  public RunnerSpec getRunner() {
    return runner;
  }

  public void setRunner(RunnerSpec runner) {
    this.runner = runner;
  }

  public String getTaskTTL() {
    return taskTTL;
  }

  public void setTaskTTL(String taskTTL) {
    this.taskTTL = taskTTL;
  }

  public RabbitmqSpec getRabbitmq() {
    return rabbitmq;
  }

  public void setRabbitmq(RabbitmqSpec rabbitmq) {
    this.rabbitmq = rabbitmq;
  }

  public Boolean getSuspend() {
    return suspend;
  }

  public void setSuspend(Boolean suspend) {
    this.suspend = suspend;
  }

  public Integer getTtlSecondsAfterFinished() {
    return ttlSecondsAfterFinished;
  }

  public void setTtlSecondsAfterFinished(Integer ttlSecondsAfterFinished) {
    this.ttlSecondsAfterFinished = ttlSecondsAfterFinished;
  }

}
