package io.trainq.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trainq.api.TaskSource;
import io.trainq.protocol.TaskMessage;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The tasks of a job: how many there are and each index's parameters, computed on demand so that a
 * million-task grid costs nothing until its tasks are published.
 *
 * <ul>
 *   <li>{@code count: n} — indexes 0..n-1, parameters {@code {}};
 *   <li>{@code items: [...]} — one task per item, which must be a JSON object;
 *   <li>{@code grid: {k1: [...], k2: [...]}} — one task per combination, keys in sorted order, the
 *       last key varying fastest: index 0 is every key's first value, index 1 changes the last key.
 *       Sorted, not as written, because the API server stores objects with sorted keys: the same
 *       file must give the same index for the same parameters on a cluster and with {@code trainq run}.
 * </ul>
 */
public final class TaskPlan {
  /** Most tasks one job may have. */
  public static final int MAX_TASKS = TaskSource.MAX_TASKS;

  private final int size;
  private final List<JsonNode> items;
  private final List<String> keys;
  private final List<List<JsonNode>> values;

  private TaskPlan(int size, List<JsonNode> items, List<String> keys, List<List<JsonNode>> values) {
    this.size = size;
    this.items = items;
    this.keys = keys;
    this.values = values;
  }

  /**
   * The plan of a TrainingJob's {@code spec.tasks}.
   *
   * @throws InvalidTaskSourceException naming the field when the source is empty, ambiguous, has a
   *     non-object item, an empty grid dimension, or more than {@link #MAX_TASKS} tasks
   */
  public static TaskPlan of(TaskSource source) {
    if (source == null) {
      throw new InvalidTaskSourceException("spec.tasks", "is required: set one of count, items or grid");
    }
    int set = (source.getCount() != null ? 1 : 0) + (source.getItems() != null ? 1 : 0) + (source.getGrid() != null ? 1 : 0);
    if (set != 1) {
      throw new InvalidTaskSourceException("spec.tasks", "must set exactly one of count, items or grid");
    }
    if (source.getCount() != null) {
      return ofCount(source.getCount());
    }
    if (source.getItems() != null) {
      return ofItems(source.getItems());
    }
    return ofGrid(source.getGrid());
  }

  /** {@code n} tasks without parameters. */
  public static TaskPlan ofCount(int n) {
    if (n < 1 || n > MAX_TASKS) {
      throw new InvalidTaskSourceException("spec.tasks.count", "must be between 1 and " + MAX_TASKS + ", was " + n);
    }
    return new TaskPlan(n, null, null, null);
  }

  /** One task per item; every item must be a JSON object. */
  public static TaskPlan ofItems(List<? extends JsonNode> items) {
    if (items.isEmpty()) {
      throw new InvalidTaskSourceException("spec.tasks.items", "must hold at least one item");
    }
    if (items.size() > MAX_TASKS) {
      throw new InvalidTaskSourceException("spec.tasks.items", "has " + items.size() + " items, more than " + MAX_TASKS);
    }
    for (int i = 0; i < items.size(); i++) {
      JsonNode item = items.get(i);
      if (item == null || !item.isObject()) {
        throw new InvalidTaskSourceException("spec.tasks.items[" + i + "]",
            "must be an object of parameters, was " + (item == null ? "null" : item.getNodeType().name().toLowerCase()));
      }
    }
    return new TaskPlan(items.size(), List.copyOf(items), null, null);
  }

  /** The cartesian product of the grid's values; keys sorted, the last one varying fastest. */
  public static TaskPlan ofGrid(Map<String, ? extends List<? extends JsonNode>> unordered) {
    Map<String, ? extends List<? extends JsonNode>> grid = new java.util.TreeMap<>(unordered);
    if (grid.isEmpty()) {
      throw new InvalidTaskSourceException("spec.tasks.grid", "must have at least one parameter");
    }
    List<String> keys = new ArrayList<>();
    List<List<JsonNode>> values = new ArrayList<>();
    long product = 1;
    for (Map.Entry<String, ? extends List<? extends JsonNode>> e : grid.entrySet()) {
      List<? extends JsonNode> v = e.getValue();
      if (v == null || v.isEmpty()) {
        throw new InvalidTaskSourceException("spec.tasks.grid." + e.getKey(), "needs at least one value");
      }
      keys.add(e.getKey());
      values.add(List.copyOf(v));
      product *= v.size();
      if (product > MAX_TASKS) {
        throw new InvalidTaskSourceException("spec.tasks.grid",
            "has more than " + MAX_TASKS + " combinations (" + describeSizes(grid) + ")");
      }
    }
    return new TaskPlan((int) product, null, List.copyOf(keys), List.copyOf(values));
  }

  /** Number of tasks. */
  public int size() {
    return size;
  }

  /** The parameters of task {@code index}, a fresh object the caller may keep or change. */
  public ObjectNode params(int index) {
    if (index < 0 || index >= size) {
      throw new IndexOutOfBoundsException("task index " + index + " out of range 0-" + (size - 1));
    }
    if (items != null) {
      return (ObjectNode) items.get(index).deepCopy();
    }
    ObjectNode n = JsonNodeFactory.instance.objectNode();
    if (keys == null) {
      return n;
    }
    // Mixed-radix digits of the index, last key least significant; set in key order afterwards.
    JsonNode[] chosen = new JsonNode[keys.size()];
    int rest = index;
    for (int k = keys.size() - 1; k >= 0; k--) {
      List<JsonNode> v = values.get(k);
      chosen[k] = v.get(rest % v.size());
      rest /= v.size();
    }
    for (int k = 0; k < keys.size(); k++) {
      n.set(keys.get(k), chosen[k] == null ? null : chosen[k].deepCopy());
    }
    return n;
  }

  /** The first attempt of task {@code index} of the job with this uid. */
  public TaskMessage task(String jobUid, int index) {
    return TaskMessage.first(jobUid, index, params(index));
  }

  private static String describeSizes(Map<String, ? extends List<? extends JsonNode>> grid) {
    Map<String, Integer> sizes = new LinkedHashMap<>();
    grid.forEach((k, v) -> sizes.put(k, v == null ? 0 : v.size()));
    StringBuilder sb = new StringBuilder();
    sizes.forEach((k, n) -> sb.append(sb.length() == 0 ? "" : " × ").append(k).append(": ").append(n));
    return sb.toString();
  }

  /** A task source the operator cannot run; {@link #field()} names the offending field. */
  public static final class InvalidTaskSourceException extends IllegalArgumentException {
    private final String field;

    public InvalidTaskSourceException(String field, String problem) {
      super(field + " " + problem);
      this.field = field;
    }

    public String field() {
      return field;
    }
  }
}
