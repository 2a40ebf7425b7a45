package io.trainq.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class RetrySpec {

  @Default("3")
  @Min(1)
  @Max(100)
  @JsonPropertyDescription("Attempts a task gets (the first run included) before it is dead-lettered. Only the task's own failures count: a worker crash, eviction or broker failover does not.")
  private Integer maxAttempts;

  @JsonPropertyDescription("Exponential backoff between attempts.")
  private BackoffSpec backoff;

  public int effectiveMaxAttempts() {
    return maxAttempts == null ? 3 : maxAttempts;
  }

  public BackoffSpec effectiveBackoff() {
    return backoff == null ? new BackoffSpec() : backoff;
  }

  public Integer getMaxAttempts() {
    return maxAttempts;
  }

  public void setMaxAttempts(Integer maxAttempts) {
    this.maxAttempts = maxAttempts;
  }

  public BackoffSpec getBackoff() {
    return backoff;
  }

  public void setBackoff(BackoffSpec backoff) {
    this.backoff = backoff;
  }

}
