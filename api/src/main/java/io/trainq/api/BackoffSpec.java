package io.trainq.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;

@JsonInclude(JsonInclude.Include.NON_NULL)
@ValidationRule(
    value = "!has(self.initial) || !has(self.max)"
        + " || !self.initial.matches('" + Durations.PATTERN + "') || !self.max.matches('" + Durations.PATTERN + "')"
        + " || duration(self.initial) <= duration(self.max)",
    message = "spec.retry.backoff.initial must not exceed spec.retry.backoff.max",
    fieldPath = ".initial",
    reason = "FieldValueInvalid")
public class BackoffSpec {

  @Default("10s")
  @Size(max = 32)
  @Pattern(Durations.PATTERN)
  @JsonPropertyDescription("Delay before the second attempt; it doubles for each further attempt.")
  private String initial;

  @Default("10m")
  @Size(max = 32)
  @Pattern(Durations.PATTERN)
  @JsonPropertyDescription("Longest delay between two attempts.")
  private String max;

  public String getInitial() {
    return initial;
  }

  public void setInitial(String initial) {
    this.initial = initial;
  }

  public String getMax() {
    return max;
  }

  public void setMax(String max) {
    this.max = max;
  }

}
