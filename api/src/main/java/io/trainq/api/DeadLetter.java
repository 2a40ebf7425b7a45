package io.trainq.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class DeadLetter {

  @JsonPropertyDescription("Task index; absent for a message that was none of the job's tasks.")
  private Integer index;

  @JsonPropertyDescription("Attempts the task had.")
  private Integer attempts;

  @JsonPropertyDescription("Why it was dead-lettered: failed, timeout, malformed, delivery-limit or expired.")
  private String reason;

  @JsonPropertyDescription("Exit code of the last attempt, when it exited.")
  private Integer exitCode;

  @JsonPropertyDescription("The tail of the last attempt's stderr, or the error.")
  private String lastError;

  @JsonPropertyDescription("When it was dead-lettered (RFC 3339).")
  private String time;

  public Integer getIndex() {
    return index;
  }

  public void setIndex(Integer index) {
    this.index = index;
  }

  public Integer getAttempts() {
    return attempts;
  }

  public void setAttempts(Integer attempts) {
    this.attempts = attempts;
  }

  public String getReason() {
    return reason;
  }

  public void setReason(String reason) {
    this.reason = reason;
  }

  public Integer getExitCode() {
    return exitCode;
  }

  public void setExitCode(Integer exitCode) {
    this.exitCode = exitCode;
  }

  public String getLastError() {
    return lastError;
  }

  public void setLastError(String lastError) {
    this.lastError = lastError;
  }

  public String getTime() {
    return time;
  }

  public void setTime(String time) {
    this.time = time;
  }

}
