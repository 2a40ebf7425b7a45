package io.trainq.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.trainq.api.TaskSource;
import io.trainq.protocol.TaskMessage;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import org.junit.jupiter.api.Test;

class TaskPlanTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private static JsonNode json(String s) throws Exception {
    return JSON.readTree(s);
  }

  private static List<JsonNode> values(String array) throws Exception {
    List<JsonNode> out = new ArrayList<>();
    json(array).forEach(out::add);
    return out;
  }

  @Test
  void countGivesEmptyParameters() {
    TaskSource s = new TaskSource();
    s.setCount(100);
    TaskPlan plan = TaskPlan.of(s);
    assertThat(plan.size()).isEqualTo(100);
    assertThat(plan.params(0)).isEmpty();
    assertThat(plan.params(99)).isEmpty();
    TaskMessage t = plan.task("uid-1", 7);
    assertThat(t.index()).isEqualTo(7);
    assertThat(t.attempt()).isEqualTo(1);
    assertThat(t.messageId()).isEqualTo("uid-1:7");
    assertThatThrownBy(() -> plan.params(100)).isInstanceOf(IndexOutOfBoundsException.class);
  }

  @Test
  void itemsArePassedAsTheyAreAndCopied() throws Exception {
    TaskSource s = new TaskSource();
    s.setItems(values("[{\"lr\":0.1},{\"lr\":0.01,\"tag\":\"b\"}]"));
    TaskPlan plan = TaskPlan.of(s);
    assertThat(plan.size()).isEqualTo(2);
    assertThat(plan.params(1)).isEqualTo(json("{\"lr\":0.01,\"tag\":\"b\"}"));
    plan.params(1).put("lr", 5);
    assertThat(plan.params(1).get("lr").asDouble()).as("callers get copies").isEqualTo(0.01);
  }

  @Test
  void gridVariesTheLastKeyFastestInSortedOrder() throws Exception {
    LinkedHashMap<String, List<JsonNode>> grid = new LinkedHashMap<>();
    // written out of order: the API server would hand them back sorted, so the plan sorts too
    grid.put("seed", values("[1, 2, 3, 4]"));
    grid.put("lr", values("[0.1, 0.01, 0.001]"));
    TaskSource s = new TaskSource();
    s.setGrid(grid);
    TaskPlan plan = TaskPlan.of(s);
    assertThat(plan.size()).isEqualTo(12);
    assertThat(plan.params(0)).isEqualTo(json("{\"lr\":0.1,\"seed\":1}"));
    assertThat(plan.params(1)).isEqualTo(json("{\"lr\":0.1,\"seed\":2}"));
    assertThat(plan.params(4)).isEqualTo(json("{\"lr\":0.01,\"seed\":1}"));
    assertThat(plan.params(11)).isEqualTo(json("{\"lr\":0.001,\"seed\":4}"));
    assertThat(plan.params(5).fieldNames()).toIterable().containsExactly("lr", "seed");
  }

  @Test
  void aMillionTaskGridIsLazy() throws Exception {
    LinkedHashMap<String, List<JsonNode>> grid = new LinkedHashMap<>();
    List<JsonNode> thousand = new ArrayList<>();
    for (int i = 0; i < 1000; i++) {
      thousand.add(JSON.getNodeFactory().numberNode(i));
    }
    grid.put("a", thousand);
    grid.put("b", thousand);
    TaskPlan plan = TaskPlan.ofGrid(grid);
    assertThat(plan.size()).isEqualTo(1_000_000);
    assertThat(plan.params(999_999)).isEqualTo(json("{\"a\":999,\"b\":999}"));
    assertThat(plan.params(1_001)).isEqualTo(json("{\"a\":1,\"b\":1}"));
  }

  @Test
  void tooManyTasksNameTheField() throws Exception {
    LinkedHashMap<String, List<JsonNode>> grid = new LinkedHashMap<>();
    List<JsonNode> v = new ArrayList<>();
    for (int i = 0; i < 1001; i++) {
      v.add(JSON.getNodeFactory().numberNode(i));
    }
    grid.put("a", v);
    grid.put("b", v);
    assertThatThrownBy(() -> TaskPlan.ofGrid(grid))
        .isInstanceOfSatisfying(TaskPlan.InvalidTaskSourceException.class, e -> assertThat(e.field()).isEqualTo("spec.tasks.grid"))
        .hasMessageContaining("more than 1000000")
        .hasMessageContaining("a: 1001 × b: 1001");
    assertThatThrownBy(() -> TaskPlan.ofCount(1_000_001)).hasMessageStartingWith("spec.tasks.count");
  }

  @Test
  void nonObjectItemsAndEmptySourcesNameTheField() throws Exception {
    assertThatThrownBy(() -> TaskPlan.ofItems(values("[{\"a\":1}, 5]")))
        .isInstanceOfSatisfying(TaskPlan.InvalidTaskSourceException.class, e -> assertThat(e.field()).isEqualTo("spec.tasks.items[1]"))
        .hasMessageContaining("must be an object")
        .hasMessageContaining("number");
    assertThatThrownBy(() -> TaskPlan.of(new TaskSource())).hasMessageStartingWith("spec.tasks must set exactly one");
    assertThatThrownBy(() -> TaskPlan.of(null)).hasMessageStartingWith("spec.tasks is required");
    TaskSource both = new TaskSource();
    both.setCount(3);
    both.setItems(values("[{}]"));
    assertThatThrownBy(() -> TaskPlan.of(both)).hasMessageContaining("exactly one");
    LinkedHashMap<String, List<JsonNode>> grid = new LinkedHashMap<>();
    grid.put("lr", List.of());
    assertThatThrownBy(() -> TaskPlan.ofGrid(grid)).hasMessageStartingWith("spec.tasks.grid.lr needs at least one value");
  }
}
