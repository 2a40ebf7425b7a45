package io.trainq.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubeapitest.KubeAPIServer;
import io.fabric8.kubeapitest.KubeAPIServerConfigBuilder;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.StatusCause;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The generated CRD on a real kube-apiserver 1.35.4 (kube-api-test, offline, binaries from
 * scripts/kube-binaries.sh): it is accepted and Established, the schema fills defaults, and bad
 * input is rejected with a message that names the field.
 */
class TrainingJobCrdIT {
  private static final String KUBE_VERSION = "1.35.4";
  private static final String CRD_RESOURCE = "META-INF/fabric8/" + TrainingJob.CRD_NAME + "-v1.yml";

  private static KubeAPIServer server;
  private static KubernetesClient client;
  private static String namespace;

  @BeforeAll
  static void startApiServerAndApplyCrd() throws IOException {
    Path home = Path.of(System.getProperty("user.home"), ".kubeapitest");
    Path bin = home.resolve("k8s").resolve(KUBE_VERSION + "-linux-amd64");
    for (String binary : List.of("kube-apiserver", "etcd", "kubectl")) {
      if (!Files.isExecutable(bin.resolve(binary))) {
        throw new AssertionError(binary + " " + KUBE_VERSION + " not found in ~/.kubeapitest/k8s/" + KUBE_VERSION
            + "-linux-amd64: run scripts/kube-binaries.sh");
      }
    }
    long t0 = System.nanoTime();
    // Configured through the builder: kube-api-test's boolean environment variables throw (fabric8 <= 7.8).
    server = new KubeAPIServer(KubeAPIServerConfigBuilder.anAPIServerConfig()
        .withTestDir(home.toString())
        .withApiServerVersion(KUBE_VERSION)
        .withOfflineMode(true)
        .withUpdateKubeConfig(false)
        .withWaitForEtcdHealthCheckOnStartup(true)
        .withStartupTimeout(120_000)
        .build());
    server.start();
    client = new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(server.getKubeConfigYaml())).build();
    long started = System.nanoTime();

    CustomResourceDefinition crd;
    try (InputStream in = TrainingJobCrdIT.class.getClassLoader().getResourceAsStream(CRD_RESOURCE)) {
      assertThat(in).as("generated CRD %s on the classpath", CRD_RESOURCE).isNotNull();
      crd = client.apiextensions().v1().customResourceDefinitions().load(in).item();
    }
    client.resource(crd).create();
    client.apiextensions().v1().customResourceDefinitions().withName(TrainingJob.CRD_NAME)
        .waitUntilCondition(c -> c != null && c.getStatus() != null && c.getStatus().getConditions() != null
            && c.getStatus().getConditions().stream()
            .anyMatch(x -> "Established".equals(x.getType()) && "True".equals(x.getStatus())), 60, TimeUnit.SECONDS);
    long established = System.nanoTime();

    namespace = "crd-it";
    client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(namespace).endMetadata().build())
        .create();
    System.out.printf("kube-apiserver %s: %s, started in %d ms, CRD Established in %d ms%n",
        client.getKubernetesVersion().getGitVersion(), client.getMasterUrl(),
        (started - t0) / 1_000_000, (established - started) / 1_000_000);
  }

  @AfterAll
  static void stop() {
    if (client != null) {
      client.close();
    }
    if (server != null) {
      server.stop();
    }
  }

  @Test
  void serverIsTheVersionTheTestsPin() {
    assertThat(client.getKubernetesVersion().getGitVersion()).isEqualTo("v" + KUBE_VERSION);
  }

  @Test
  void crdIsServedWithItsNames() {
    CustomResourceDefinition crd = client.apiextensions().v1().customResourceDefinitions()
        .withName(TrainingJob.CRD_NAME).get();
    assertThat(crd.getStatus().getAcceptedNames().getKind()).isEqualTo("TrainingJob");
    assertThat(crd.getStatus().getAcceptedNames().getShortNames()).containsExactly("tj");
    assertThat(crd.getStatus().getAcceptedNames().getCategories()).contains("trainq");
  }

  @Test
  void createdJobReadsBackWithSchemaDefaults() {
    TrainingJob job = client.resource(client.getKubernetesSerialization().unmarshal("""
        apiVersion: trainq.io/v1alpha1
        kind: TrainingJob
        metadata: {name: defaults}
        spec:
          image: ghcr.io/acme/train:1.0
          command: [python, train.py]
          tasks: {count: 3}
          workers: {gpusPerPod: 2}
        """, TrainingJob.class)).inNamespace(namespace).create();

    TrainingJob read = client.resources(TrainingJob.class).inNamespace(namespace).withName("defaults").get();
    assertThat(read.getMetadata().getUid()).isEqualTo(job.getMetadata().getUid());
    TrainingJobSpec spec = read.getSpec();
    assertThat(spec.getImage()).isEqualTo("ghcr.io/acme/train:1.0");
    assertThat(spec.getCommand()).containsExactly("python", "train.py");
    assertThat(spec.getTasks().getCount()).isEqualTo(3);
    // Filled in by the API server from the schema's defaults, not by this client.
    assertThat(spec.getGpusPerTask()).isEqualTo(1);
    assertThat(spec.getTaskTimeout()).isEqualTo("24h");
    assertThat(spec.getSuspend()).isFalse();
    assertThat(spec.getWorkers().getMaxPods()).isEqualTo(1);
    assertThat(spec.getWorkers().getGpusPerPod()).isEqualTo(2);
    assertThat(spec.getWorkers().getImagePullPolicy()).isEqualTo("IfNotPresent");
    assertThat(spec.getWorkers().getIdleTimeout()).isEqualTo("60s");
    // objects the file left out are defaulted to {} and then filled in turn
    assertThat(spec.getRetry().getMaxAttempts()).isEqualTo(3);
    assertThat(spec.getRetry().getDeliveryLimit()).isEqualTo(10);
    assertThat(spec.getRetry().getBackoff().getInitial()).isEqualTo("10s");
    assertThat(spec.getRetry().getBackoff().getMax()).isEqualTo("10m");
    assertThat(spec.getRunner().getMode()).isEqualTo(RunnerSpec.Mode.Process);
    assertThat(spec.getRunner().getStartTimeout()).isEqualTo("10m");
    // and trainq run's reading of the same schema gives the same spec
    TrainingJobSpec local = new TrainingJobSpec();
    local.setImage(spec.getImage());
    local.setCommand(spec.getCommand());
    local.setTasks(spec.getTasks());
    WorkerSpec w = new WorkerSpec();
    w.setGpusPerPod(2);
    local.setWorkers(w);
    assertThat(SchemaDefaults.applied(local)).usingRecursiveComparison().isEqualTo(spec);
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', quoteCharacter = '"', textBlock = """
      gpusPerTask below minimum | {image: img, command: [train], tasks: {count: 1}, gpusPerTask: 0}                           | spec.gpusPerTask        | should be greater than or equal to 1
      image missing             | {command: [train], tasks: {count: 1}}                                                       | spec.image              | Required value
      gpusPerPod not a multiple | {image: img, command: [train], tasks: {count: 1}, gpusPerTask: 2, workers: {gpusPerPod: 3}} | spec.workers.gpusPerPod | must be a multiple of spec.gpusPerTask
      command empty             | {image: img, command: [], tasks: {count: 1}}                                                | spec.command            | should have at least 1 items
      two task sources          | {image: img, command: [train], tasks: {count: 2, items: [{a: 1}]}}                          | spec.tasks              | must have at most 1 item
      task count zero           | {image: img, command: [train], tasks: {count: 0}}                                           | spec.tasks.count        | should be greater than or equal to 1
      program empty             | {image: img, command: [''], tasks: {count: 1}}                                              | spec.command            | spec.command[0] (the program) must not be empty
      gpusPerTask zero, gpusPerPod set | {image: img, command: [train], tasks: {count: 1}, gpusPerTask: 0, workers: {gpusPerPod: 2}} | spec.gpusPerTask | should be greater than or equal to 1
      taskTimeout negative      | {image: img, command: [train], tasks: {count: 1}, taskTimeout: -5m}                         | spec.taskTimeout        | should match
      taskTimeout zero          | {image: img, command: [train], tasks: {count: 1}, taskTimeout: 0s}                          | spec.taskTimeout        | spec.taskTimeout must be at least 1s
      taskTTL in days           | {image: img, command: [train], tasks: {count: 1}, taskTTL: 2d}                              | spec.taskTTL            | should match
      backoff not a duration    | {image: img, command: [train], tasks: {count: 1}, retry: {backoff: {initial: soon}}}        | spec.retry.backoff.initial | should match
      runner mode unknown       | {image: img, command: [train], tasks: {count: 1}, runner: {mode: Forked}}                   | spec.runner.mode        | Unsupported value
      maxTasksPerProcess zero   | {image: img, command: [train], tasks: {count: 1}, runner: {mode: Persistent, maxTasksPerProcess: 0}} | spec.runner.maxTasksPerProcess | should be greater than or equal to 1
      maxTasksPerProcess, Process mode | {image: img, command: [train], tasks: {count: 1}, runner: {maxTasksPerProcess: 5}}   | spec.runner.maxTasksPerProcess | spec.runner.maxTasksPerProcess applies only to spec.runner.mode Persistent
      runner startTimeout zero  | {image: img, command: [train], tasks: {count: 1}, runner: {mode: Persistent, startTimeout: 0s}} | spec.runner.startTimeout | spec.runner.startTimeout must be at least 1s
      """)
  void schemaViolationIsRejectedNamingTheField(String what, String spec, String field, String message) {
    GenericKubernetesResource bad = client.getKubernetesSerialization()
        .unmarshal(jobYaml("bad", spec), GenericKubernetesResource.class);

    assertThatThrownBy(() -> client.resource(bad).inNamespace(namespace).create())
        .as(what)
        .isInstanceOfSatisfying(KubernetesClientException.class, e -> {
          assertThat(e.getCode()).as("HTTP status of %s", e.getMessage()).isEqualTo(422);
          assertThat(e.getStatus().getDetails().getCauses())
              .as("causes of %s", e.getMessage())
              .extracting(StatusCause::getField)
              .contains(field);
          assertThat(e.getMessage()).contains(field).contains(message);
          // one mistake, one error: a CEL rule must not fire again on a value the schema refused
          // (index out of bounds, modulus by zero, a duration that does not parse)
          assertThat(e.getStatus().getDetails().getCauses())
              .as("causes naming a field, of %s", e.getMessage())
              .filteredOn(c -> c.getField() != null && c.getField().startsWith("spec"))
              .singleElement()
              .extracting(StatusCause::getField)
              .isEqualTo(field);
        });
    assertThat(client.resources(TrainingJob.class).inNamespace(namespace).withName("bad").get()).isNull();
  }

  @Test
  void runnerCannotChange() {
    client.resource(client.getKubernetesSerialization()
        .unmarshal(jobYaml("runner", "{image: img, command: [train], tasks: {count: 1}, runner: {mode: Persistent}}"),
            GenericKubernetesResource.class))
        .inNamespace(namespace).create();
    TrainingJob created = client.resources(TrainingJob.class).inNamespace(namespace).withName("runner").get();
    assertThat(created.getSpec().getRunner().getStartTimeout()).as("the schema's default").isEqualTo("10m");

    assertThatThrownBy(() -> client.resources(TrainingJob.class).inNamespace(namespace).withName("runner")
        .edit(j -> {
          j.getSpec().getRunner().setMode(RunnerSpec.Mode.Process);
          return j;
        }))
        .isInstanceOf(KubernetesClientException.class)
        .hasMessageContaining("spec.runner is immutable");
  }

  @Test
  void gpusPerTaskCannotChange() {
    client.resource(client.getKubernetesSerialization()
        .unmarshal(jobYaml("immutable", "{image: img, command: [train], tasks: {count: 1}}"), GenericKubernetesResource.class))
        .inNamespace(namespace).create();

    assertThatThrownBy(() -> client.resources(TrainingJob.class).inNamespace(namespace).withName("immutable")
        .edit(j -> {
          j.getSpec().setGpusPerTask(2);
          return j;
        }))
        .isInstanceOf(KubernetesClientException.class)
        .hasMessageContaining("spec.gpusPerTask")
        .hasMessageContaining("spec.gpusPerTask is immutable");
  }

  private static String jobYaml(String name, String spec) {
    return """
        apiVersion: trainq.io/v1alpha1
        kind: TrainingJob
        metadata: {name: %s}
        spec: %s
        """.formatted(name, spec);
  }
}
