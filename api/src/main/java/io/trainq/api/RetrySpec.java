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

  @Default("10")
  @Min(1)
  @Max(100)
  @JsonPropertyDescription("Deliveries of one attempt the broker allows (its x-delivery-limit): bounds a task that kills its worker, node or broker connection every time. Such a task is dead-lettered with reason delivery-limit.")
  private Integer deliveryLimit;

  @Default("{}")
  @JsonPropertyDescription("Exponential backoff between attempts.")
  private BackoffSpec backoff;

  public Integer getDeliveryLimit() {
    return deliveryLimit;
  }

  public void setDeliveryLimit(Integer deliveryLimit) {
    this.deliveryLimit = deliveryLimit;
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
