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

  /** One mistake, one error: the rules do not fire again on a value its schema already refused. */
  @ParameterizedTest
  @CsvSource(delimiterString = " => ", value = {
    "{image: i, command: [], tasks: {count: 1}} => spec.command: Invalid value: 0: spec.command in body should have at least 1 items",
    "{image: i, command: [''], tasks: {count: 1}} => spec.command: Invalid value: spec.command[0] (the program) must not be empty",
    "{image: i, command: [x], tasks: {count: 1}, taskTimeout: -5m} => spec.taskTimeout: Invalid value: \"-5m\": spec.taskTimeout in body should match '^([0-9]+(ms|s|m|h))+$'",
    "{image: i, command: [x], tasks: {count: 1}, taskTimeout: 0s} => spec.taskTimeout: Invalid value: \"0s\": spec.taskTimeout must be at least 1s",
    "{image: i, command: [x], tasks: {count: 1}, taskTTL: 2d} => spec.taskTTL: Invalid value: \"2d\": spec.taskTTL in body should match '^([0-9]+(ms|s|m|h))+$'",
    "{image: i, command: [x], tasks: {count: 1}, retry: {backoff: {initial: soon}}} => spec.retry.backoff.initial: Invalid value: \"soon\": spec.retry.backoff.initial in body should match '^([0-9]+(ms|s|m|h))+$'",
    "{image: i, command: [x], tasks: {count: 1}, gpusPerTask: 0, workers: {gpusPerPod: 2}} => spec.gpusPerTask: Invalid value: 0: spec.gpusPerTask in body should be greater than or equal to 1",
    "{image: i, command: [x], tasks: {count: 1}, workers: {resources: {limits: {nvidia.com/gpu: 1}}}} => spec.workers.resources: Forbidden: spec.workers.resources must not set nvidia.com/gpu: it comes from spec.workers.gpusPerPod"
  })
  void oneMistakeGivesExactlyOneError(String spec, String expected) throws Exception {
    assertThat(v.validate(job(spec))).containsExactly(expected);
  }

  /** cel-java words evaluation errors its own way; the API server (cel-go) says "modulus by zero". */
  @Test
  void evaluationErrorsAreWordedAsCelGoWordsThem() throws Exception {
    CrdSchemaValidator unguarded = new CrdSchemaValidator(YAML.readTree("""
        type: object
        properties:
          spec:
            type: object
            properties:
              a: {type: integer}
              b: {type: integer}
              c: {type: array, items: {type: string}}
            x-kubernetes-validations:
            - {rule: "self.a % self.b == 0", message: "a must be a multiple of b"}
            - {rule: "self.a / self.b >= 0", message: "a over b"}
            - {rule: "size(self.c[0]) > 0", message: "c[0] not empty"}
        """));
    ObjectNode o = (ObjectNode) YAML.readTree("spec: {a: 4, b: 0, c: []}");
    assertThat(unguarded.validate(o)).containsExactly(
        "spec: Invalid value: \"object\": modulus by zero evaluating rule: a must be a multiple of b",
        "spec: Invalid value: \"object\": division by zero evaluating rule: a over b",
        "spec: Invalid value: \"object\": index out of bounds: 0 evaluating rule: c[0] not empty");
  }

  @Test
  void scalarsArePrintedAsGoPrintsThem() throws Exception {
    assertThat(CrdSchemaValidator.goQuote("a\"b\\c\té\u00a0\u0001")).isEqualTo("\"a\\\"b\\\\c\\té\\u00a0\\x01\"");
    assertThat(List.of(1.5, 100.0, 1e6, 123456789.0, 1e20, 0.0001, 0.00001, -2.5, 1.0 / 3).stream()
        .map(CrdSchemaValidator::goFloat).toList())
        .containsExactly("1.5", "100", "1e+06", "1.23456789e+08", "1e+20", "0.0001", "1e-05", "-2.5", "0.3333333333333333");
  }
}
