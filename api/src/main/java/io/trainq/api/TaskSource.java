package io.trainq.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import com.fasterxml.jackson.databind.JsonNode;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Size;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

@JsonInclude(JsonInclude.Include.NON_NULL)
// Exactly one source, and no empty grid dimension: enforced by CrdPostProcessor with
// minProperties/maxProperties and minItems, because CEL cannot see the untyped grid values.
public class TaskSource {
  /** Upper bound of tasks in one job, whatever the source. */
  public static final int MAX_TASKS = 1_000_000;

  @Min(1)
  @Max(MAX_TASKS)
  @JsonPropertyDescription("Run the command this many times, with indexes 0..count-1 and no parameters.")
  private Integer count;

  @Size(min = 1, max = 100_000)
  @JsonPropertyDescription("One task per item; each item is an object of parameters given to the task as JSON.")
  private List<JsonNode> items;

  @Size(min = 1, max = 32)
  @JsonPropertyDescription("A parameter grid: one task per combination of the values, e.g. {lr: [0.1, 0.01], seed: [1, 2]} gives 4 tasks. Task indexes follow the keys in sorted order, the last key varying fastest (the API server keeps object keys sorted, so the order as written is not kept).")
  private LinkedHashMap<String, List<JsonNode>> grid;

  public Integer getCount() {
    return count;
  }

  public void setCount(Integer count) {
    this.count = count;
  }

  public List<JsonNode> getItems() {
    return items;
  }

  public void setItems(List<JsonNode> items) {
    this.items = items;
  }

  public LinkedHashMap<String, List<JsonNode>> getGrid() {
    return grid;
  }

  public void setGrid(LinkedHashMap<String, List<JsonNode>> grid) {
    this.grid = grid;
  }

}
