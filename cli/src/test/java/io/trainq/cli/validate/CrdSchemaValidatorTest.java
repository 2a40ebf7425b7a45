package io.trainq.cli.validate;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class CrdSchemaValidatorTest {
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  private final CrdSchemaValidator v = CrdSchemaValidator.fromClasspathCrd("META-INF/fabric8/trainingjobs.trainq.io-v1.yml");

  private ObjectNode job(String spec) throws Exception {
    return (ObjectNode) YAML.readTree("apiVersion: trainq.io/v1alpha1\nkind: TrainingJob\nmetadata: {name: t}\nspec: " + spec);
  }

  @Test
  void validJobGetsTheSchemaDefaults() throws Exception {
    ObjectNode j = job("{image: img, command: [python, train.py], tasks: {count: 10}}");
    assertThat(v.validate(j)).isEmpty();
    assertThat(j.at("/spec/gpusPerTask").asInt()).isEqualTo(1);
    assertThat(j.at("/spec/taskTimeout").asText()).isEqualTo("24h");
    assertThat(j.at("/spec/suspend").asBoolean()).isFalse();
  }

  @ParameterizedTest
  @CsvSource(delimiterString = " => ", value = {
    "{command: [x], tasks: {count: 1}} => spec.image: Required value",
    "{image: i, command: [], tasks: {count: 1}} => spec.command: Invalid value: 0: spec.command in body should have at least 1 items",
    "{image: i, command: [x], tasks: {count: 0}} => spec.tasks.count: Invalid value: 0: spec.tasks.count in body should be greater than or equal to 1",
    "{image: i, command: [x], tasks: {count: 1}, gpusPerTask: 0} => spec.gpusPerTask: Invalid value: 0: spec.gpusPerTask in body should be greater than or equal to 1",
    "{image: i, command: [x], tasks: {count: 1}, taskTimeout: 4 hours} => spec.taskTimeout: Invalid value: \"4 hours\": spec.taskTimeout in body should match '^([0-9]+(ms|s|m|h))+$'",
    "{image: i, command: [x], tasks: {count: 1, grid: {a: [1]}}} => spec.tasks: Too many: 2: must have at most 1 item",
    "{image: i, command: [x], tasks: {count: 1}, gpusPerTask: 2, workers: {gpusPerPod: 3}} => spec.workers.gpusPerPod: Invalid value: spec.workers.gpusPerPod must be a multiple of spec.gpusPerTask",
    "{image: i, command: [x], tasks: {count: 1}, gpusPerTask: two} => spec.gpusPerTask: Invalid value: \"string\": spec.gpusPerTask in body must be of type integer: \"string\"",
    "{image: i, command: [x], tasks: {count: 1}, retrys: {maxAttempts: 2}} => unknown field \"spec.retrys\"",
    "{image: i, command: [x], tasks: {grid: {lr: []}}} => spec.tasks.grid.lr: Invalid value: 0: spec.tasks.grid.lr in body should have at least 1 items"
  })
  void rejectsWithTheFieldNamed(String spec, String expected) throws Exception {
    List<String> errors = v.validate(job(spec));
    assertThat(errors).contains(expected);
  }
}
