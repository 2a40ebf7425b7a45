package io.trainq.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.kubernetes.api.model.Condition;
import java.util.ArrayList;
import java.util.List;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class TrainingJobStatus {

  @JsonPropertyDescription("The metadata.generation this status describes.")
  private Long observedGeneration;

  @JsonPropertyDescription("Pending, Running, Suspended, Succeeded or Failed.")
  private String phase;

  @JsonPropertyDescription("A human-readable note on the phase.")
  private String message;

  @JsonPropertyDescription("Name of the job's task queue (a quorum queue) on the broker.")
  private String queue;

  @JsonPropertyDescription("Name of the job's dead-letter queue on the broker.")
  private String deadLetterQueue;

  @JsonPropertyDescription("Task counts.")
  private TaskCounts counts;

  @JsonPropertyDescription("Finished (succeeded + dead-lettered) / total, as kubectl shows it.")
  private String progress;

  @JsonPropertyDescription("Indexes of succeeded tasks, in the Indexed Job interval format (\"0-41,43\").")
  private String succeededIndexes;

  @JsonPropertyDescription("Indexes of dead-lettered tasks, in the Indexed Job interval format.")
  private String failedIndexes;

  @JsonPropertyDescription("Indexes of tasks running now, in the Indexed Job interval format.")
  private String runningIndexes;

  @JsonPropertyDescription("Unfinished tasks that were retried, by the attempt they are on, in the interval format (e.g. {\"2\": \"4,9-11\", \"3\": \"7\"}). Lets the operator count retries exactly across restarts.")
  private java.util.Map<String, String> retryingIndexes;

  @JsonPropertyDescription("The most recent dead letters (at most 10), newest last.")
  private List<DeadLetter> deadLetters;

  @JsonPropertyDescription("Digests of the most recent rejected messages (see counts.rejectedMessages), so that a dead letter delivered again is counted once.")
  private List<String> rejectedMessageDigests;

  @JsonPropertyDescription("Ready / desired worker pods, as kubectl shows it.")
  private String workers;

  @JsonPropertyDescription("Worker pods the job wants now.")
  private Integer workersDesired;

  @JsonPropertyDescription("Worker pods running and ready.")
  private Integer workersReady;

  @JsonPropertyDescription("GPU utilization of the job: busy GPU-seconds / allocated GPU-seconds, as a percentage.")
  private String gpuUtilization;

  @JsonPropertyDescription("GPU-seconds spent running tasks.")
  private Double busyGpuSeconds;

  @JsonPropertyDescription("GPU-seconds held by the job's workers.")
  private Double allocatedGpuSeconds;

  @JsonPropertyDescription("Tasks 0..publishCursor-1 are published with confirms; publishing resumes here after a restart.")
  private Long publishCursor;

  @JsonPropertyDescription("When the first task was published (RFC 3339).")
  private String startTime;

  @JsonPropertyDescription("When the last task finished (RFC 3339).")
  private String completionTime;

  @JsonPropertyDescription("Ready, Complete, Failed and Suspended, per the Kubernetes API conventions.")
  private List<Condition> conditions = new ArrayList<>();

  public Long getObservedGeneration() {
    return observedGeneration;
  }

  public void setObservedGeneration(Long observedGeneration) {
    this.observedGeneration = observedGeneration;
  }

  public String getPhase() {
    return phase;
  }

  public void setPhase(String phase) {
    this.phase = phase;
  }

  public String getMessage() {
    return message;
  }

  public void setMessage(String message) {
    this.message = message;
  }

  public String getQueue() {
    return queue;
  }

  public void setQueue(String queue) {
    this.queue = queue;
  }

  public String getDeadLetterQueue() {
    return deadLetterQueue;
  }

  public void setDeadLetterQueue(String deadLetterQueue) {
    this.deadLetterQueue = deadLetterQueue;
  }

  public TaskCounts getCounts() {
    return counts;
  }

  public void setCounts(TaskCounts counts) {
    this.counts = counts;
  }

  public String getProgress() {
    return progress;
  }

  public void setProgress(String progress) {
    this.progress = progress;
  }

  public String getSucceededIndexes() {
    return succeededIndexes;
  }

  public void setSucceededIndexes(String succeededIndexes) {
    this.succeededIndexes = succeededIndexes;
  }

  public String getFailedIndexes() {
    return failedIndexes;
  }

  public void setFailedIndexes(String failedIndexes) {
    this.failedIndexes = failedIndexes;
  }

  public String getRunningIndexes() {
    return runningIndexes;
  }

  public void setRunningIndexes(String runningIndexes) {
    this.runningIndexes = runningIndexes;
  }

  public java.util.Map<String, String> getRetryingIndexes() {
    return retryingIndexes;
  }

  public void setRetryingIndexes(java.util.Map<String, String> retryingIndexes) {
    this.retryingIndexes = retryingIndexes;
  }

  public List<String> getRejectedMessageDigests() {
    return rejectedMessageDigests;
  }

  public void setRejectedMessageDigests(List<String> rejectedMessageDigests) {
    this.rejectedMessageDigests = rejectedMessageDigests;
  }

  public List<DeadLetter> getDeadLetters() {
    return deadLetters;
  }

  public void setDeadLetters(List<DeadLetter> deadLetters) {
    this.deadLetters = deadLetters;
  }

  public String getWorkers() {
    return workers;
  }

  public void setWorkers(String workers) {
    this.workers = workers;
  }

  public Integer getWorkersDesired() {
    return workersDesired;
  }

  public void setWorkersDesired(Integer workersDesired) {
    this.workersDesired = workersDesired;
  }

  public Integer getWorkersReady() {
    return workersReady;
  }

  public void setWorkersReady(Integer workersReady) {
    this.workersReady = workersReady;
  }

  public String getGpuUtilization() {
    return gpuUtilization;
  }

  public void setGpuUtilization(String gpuUtilization) {
    this.gpuUtilization = gpuUtilization;
  }

  public Double getBusyGpuSeconds() {
    return busyGpuSeconds;
  }

  public void setBusyGpuSeconds(Double busyGpuSeconds) {
    this.busyGpuSeconds = busyGpuSeconds;
  }

  public Double getAllocatedGpuSeconds() {
    return allocatedGpuSeconds;
  }

  public void setAllocatedGpuSeconds(Double allocatedGpuSeconds) {
    this.allocatedGpuSeconds = allocatedGpuSeconds;
  }

  public Long getPublishCursor() {
    return publishCursor;
  }

  public void setPublishCursor(Long publishCursor) {
    this.publishCursor = publishCursor;
  }

  public String getStartTime() {
    return startTime;
  }

  public void setStartTime(String startTime) {
    this.startTime = startTime;
  }

  public String getCompletionTime() {
    return completionTime;
  }

  public void setCompletionTime(String completionTime) {
    this.completionTime = completionTime;
  }

  public List<Condition> getConditions() {
    return conditions;
  }

  public void setConditions(List<Condition> conditions) {
    this.conditions = conditions;
  }

}
