package io.trainq.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class TaskCounts {

  @JsonPropertyDescription("Tasks in the job.")
  private Integer total;

  @JsonPropertyDescription("Tasks published to the queue with a broker confirm.")
  private Integer published;

  @JsonPropertyDescription("Tasks running now.")
  private Integer running;

  @JsonPropertyDescription("Tasks that succeeded (each counted once, however often it ran).")
  private Integer succeeded;

  @JsonPropertyDescription("Retries scheduled after failed attempts.")
  private Integer retried;

  @JsonPropertyDescription("Tasks dead-lettered (retry budget spent, poison message, expired).")
  private Integer deadLettered;

  @JsonPropertyDescription("Messages dead-lettered from the job's queues that were none of its tasks (unreadable, another job's, an index or attempt the job does not have); never counted as tasks. Absent when there were none.")
  private Integer rejectedMessages;

  public TaskCounts() {}

  public TaskCounts(int total, int published, int running, int succeeded, int retried, int deadLettered) {
    this.total = total;
    this.published = published;
    this.running = running;
    this.succeeded = succeeded;
    this.retried = retried;
    this.deadLettered = deadLettered;
  }

  public Integer getTotal() {
    return total;
  }

  public void setTotal(Integer total) {
    this.total = total;
  }

  public Integer getPublished() {
    return published;
  }

  public void setPublished(Integer published) {
    this.published = published;
  }

  public Integer getRunning() {
    return running;
  }

  public void setRunning(Integer running) {
    this.running = running;
  }

  public Integer getSucceeded() {
    return succeeded;
  }

  public void setSucceeded(Integer succeeded) {
    this.succeeded = succeeded;
  }

  public Integer getRetried() {
    return retried;
  }

  public void setRetried(Integer retried) {
    this.retried = retried;
  }

  public Integer getDeadLettered() {
    return deadLettered;
  }

  public void setDeadLettered(Integer deadLettered) {
    this.deadLettered = deadLettered;
  }

  public Integer getRejectedMessages() {
    return rejectedMessages;
  }

  public void setRejectedMessages(Integer rejectedMessages) {
    this.rejectedMessages = rejectedMessages;
  }

}
