package io.trainq.operator.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.trainq.api.TrainingJob;
import io.trainq.operator.KubeTestServer;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The CRD's schema and CEL rules, on a real kube-apiserver: bad TrainingJobs are refused, naming the field. */
class TrainingJobValidationIT {
  static KubernetesClient client;
  static String ns;

  @BeforeAll
  static void server() {
    KubeTestServer kube = KubeTestServer.get();
    client = kube.client();
    ns = kube.newNamespace("validation");
  }

  static final String VALID_SPEC = """
      image: python:3.12-slim
      command: ["python3", "train.py"]
      tasks: {count: 10}
      """;

  static GenericKubernetesResource job(String name, String spec) {
    String yaml = "apiVersion: " + TrainingJob.API_VERSION + "\nkind: TrainingJob\nmetadata:\n  name: " + name + "\nspec:\n"
        + spec.indent(2);
    return Serialization.unmarshal(yaml, GenericKubernetesResource.class);
  }

  static Stream<Arguments> invalidJobs() {
    return Stream.of(
        Arguments.of("no image", "command: [a]\ntasks: {count: 1}", "spec.image: Required value"),
        Arguments.of("empty command", "image: i\ncommand: []\ntasks: {count: 1}", "spec.command"),
        Arguments.of("empty program", "image: i\ncommand: ['', x]\ntasks: {count: 1}", "spec.command[0] (the program) must not be empty"),
        Arguments.of("two task sources", "image: i\ncommand: [a]\ntasks: {count: 3, grid: {lr: [1]}}", "spec.tasks: Too many: 2"),
        Arguments.of("zero tasks", "image: i\ncommand: [a]\ntasks: {count: 0}", "spec.tasks.count"),
        Arguments.of("too many tasks", "image: i\ncommand: [a]\ntasks: {count: 2000000}", "spec.tasks.count"),
        Arguments.of("count of the wrong type", "image: i\ncommand: [a]\ntasks: {count: ten}", "spec.tasks.count"),
        Arguments.of("no items", "image: i\ncommand: [a]\ntasks: {items: []}", "spec.tasks.items"),
        Arguments.of("items that are not objects", "image: i\ncommand: [a]\ntasks: {items: [1, {lr: 2}]}", "spec.tasks.items[0]"),
        Arguments.of("no task source", "image: i\ncommand: [a]\ntasks: {}", "spec.tasks in body should have at least 1 properties"),
        Arguments.of("a grid dimension without values", "image: i\ncommand: [a]\ntasks: {grid: {lr: [], seed: [1]}}", "spec.tasks.grid.lr"),
        Arguments.of("no GPU per task", "image: i\ncommand: [a]\ntasks: {count: 1}\ngpusPerTask: 0", "spec.gpusPerTask"),
        Arguments.of("GPUs per pod not a multiple", "image: i\ncommand: [a]\ntasks: {count: 1}\ngpusPerTask: 2\nworkers: {gpusPerPod: 3}",
            "spec.workers.gpusPerPod must be a multiple of spec.gpusPerTask"),
        Arguments.of("no pods", "image: i\ncommand: [a]\ntasks: {count: 1}\nworkers: {maxPods: 0}", "spec.workers.maxPods"),
        Arguments.of("GPUs in resources", "image: i\ncommand: [a]\ntasks: {count: 1}\nworkers: {resources: {limits: {nvidia.com/gpu: 2}}}",
            "spec.workers.resources must not set nvidia.com/gpu"),
        Arguments.of("unknown pull policy", "image: i\ncommand: [a]\ntasks: {count: 1}\nworkers: {imagePullPolicy: Sometimes}", "spec.workers.imagePullPolicy"),
        Arguments.of("a timeout in words", "image: i\ncommand: [a]\ntasks: {count: 1}\ntaskTimeout: 4 hours", "spec.taskTimeout"),
        Arguments.of("a zero timeout", "image: i\ncommand: [a]\ntasks: {count: 1}\ntaskTimeout: 0s", "spec.taskTimeout must be at least 1s"),
        Arguments.of("backoff longer than its max", "image: i\ncommand: [a]\ntasks: {count: 1}\nretry: {backoff: {initial: 20m, max: 10m}}",
            "spec.retry.backoff.initial must not exceed spec.retry.backoff.max"),
        Arguments.of("no attempt", "image: i\ncommand: [a]\ntasks: {count: 1}\nretry: {maxAttempts: 0}", "spec.retry.maxAttempts"),
        Arguments.of("a bad Secret name", "image: i\ncommand: [a]\ntasks: {count: 1}\nrabbitmq: {secretRef: {name: Bad_Name}}", "spec.rabbitmq.secretRef.name"),
        Arguments.of("a management URL that is not http(s)", "image: i\ncommand: [a]\ntasks: {count: 1}\n"
            + "rabbitmq: {secretRef: {name: s}, managementUrl: 'ftp://rabbit:15672'}", "spec.rabbitmq.managementUrl"),
        Arguments.of("a TLS Secret with a bad name", "image: i\ncommand: [a]\ntasks: {count: 1}\n"
            + "rabbitmq: {secretRef: {name: s}, tls: {secretRef: {name: Bad_Name}}}", "spec.rabbitmq.tls.secretRef.name"),
        Arguments.of("a connection without Secret", "image: i\ncommand: [a]\ntasks: {count: 1}\nrabbitmq: {addresses: ['rabbit:5672']}",
            "spec.rabbitmq.secretRef: Required value"),
        Arguments.of("a negative TTL", "image: i\ncommand: [a]\ntasks: {count: 1}\nttlSecondsAfterFinished: -1", "spec.ttlSecondsAfterFinished"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("invalidJobs")
  void refusesInvalidJobsNamingTheField(String what, String spec, String expected) {
    GenericKubernetesResource tj = job("invalid-" + Math.abs(what.hashCode()), spec);
    assertThatThrownBy(() -> client.resource(tj).inNamespace(ns).create())
        .isInstanceOfSatisfying(KubernetesClientException.class, e -> assertThat(e.getCode()).isEqualTo(422))
        .hasMessageContaining(expected);
  }

  @Test
  void appliesDefaultsToAValidJob() {
    GenericKubernetesResource created = client.resource(job("defaults", VALID_SPEC)).inNamespace(ns).create();
    TrainingJob tj = client.resources(TrainingJob.class).inNamespace(ns).withName(created.getMetadata().getName()).get();
    assertThat(tj.getSpec().getGpusPerTask()).isEqualTo(1);
    assertThat(tj.getSpec().getTaskTimeout()).isEqualTo("24h");
    assertThat(tj.getSpec().getSuspend()).isFalse();
  }

  static Stream<Arguments> forbiddenChanges() {
    return Stream.of(
        Arguments.of("tasks", "tasks: {count: 11}", "spec.tasks is immutable"),
        Arguments.of("gpusPerTask", "gpusPerTask: 2", "spec.gpusPerTask is immutable"),
        Arguments.of("retry", "retry: {maxAttempts: 5}", "spec.retry is immutable"),
        Arguments.of("taskTimeout", "taskTimeout: 1h", "spec.taskTimeout is immutable"),
        Arguments.of("taskTTL", "taskTTL: 3m", "spec.taskTTL is immutable"),
        Arguments.of("rabbitmq", "rabbitmq: {secretRef: {name: other}}", "spec.rabbitmq is immutable"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("forbiddenChanges")
  void keepsImmutableFieldsImmutable(String field, String change, String expected) {
    String name = "immutable-" + field.toLowerCase();
    client.resource(job(name, VALID_SPEC + "retry: {maxAttempts: 3}\n")).inNamespace(ns).create();
    GenericKubernetesResource changed = job(name, VALID_SPEC.replace("tasks: {count: 10}\n", "")
        + (field.equals("tasks") ? "" : "tasks: {count: 10}\n")
        + (field.equals("retry") ? "" : "retry: {maxAttempts: 3}\n") + change + "\n");
    assertThatThrownBy(() -> client.resource(changed).inNamespace(ns).update())
        .isInstanceOf(KubernetesClientException.class)
        .hasMessageContaining(expected);
  }

  @Test
  void mutableFieldsCanChange() {
    client.resource(job("mutable", VALID_SPEC)).inNamespace(ns).create();
    TrainingJob tj = client.resources(TrainingJob.class).inNamespace(ns).withName("mutable")
        .edit(j -> {
          j.getSpec().setSuspend(true);
          j.getSpec().setWorkers(new io.trainq.api.WorkerSpec());
          j.getSpec().getWorkers().setMaxPods(8);
          j.getSpec().setImage("python:3.13-slim");
          return j;
        });
    assertThat(tj.getMetadata().getGeneration()).isEqualTo(2);
    assertThat(tj.getSpec().getWorkers().getMaxPods()).isEqualTo(8);
  }
}
