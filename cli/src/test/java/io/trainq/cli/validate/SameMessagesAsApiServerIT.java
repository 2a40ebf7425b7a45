package io.trainq.cli.validate;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.StatusCause;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.trainq.api.TrainingJob;
import io.trainq.testkit.kube.TestCluster;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * `trainq run` validates with the CRD's schema and CEL rules itself; this proves it says what the
 * real API server says, file for file: the same set of field errors, valid or not.
 */
class SameMessagesAsApiServerIT {
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  private static TestCluster cluster;
  private static KubernetesClient client;
  private final CrdSchemaValidator local = CrdSchemaValidator.fromClasspathCrd("META-INF/fabric8/trainingjobs.trainq.io-v1.yml");

  @BeforeAll
  static void startApiServer() throws Exception {
    cluster = TestCluster.start(TestCluster.Kind.API_SERVER);
    client = cluster.client();
    try (var in = SameMessagesAsApiServerIT.class.getClassLoader().getResourceAsStream("META-INF/fabric8/trainingjobs.trainq.io-v1.yml")) {
      CustomResourceDefinition crd = client.getKubernetesSerialization().unmarshal(in, CustomResourceDefinition.class);
      client.resource(crd).serverSideApply();
    }
    client.apiextensions().v1().customResourceDefinitions().withName(TrainingJob.CRD_NAME)
        .waitUntilCondition(c -> c.getStatus() != null && c.getStatus().getConditions().stream()
            .anyMatch(x -> x.getType().equals("Established") && x.getStatus().equals("True")), 60, TimeUnit.SECONDS);
  }

  @AfterAll
  static void stop() {
    if (cluster != null) {
      cluster.close();
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {
    "{image: i, command: [python, t.py], tasks: {count: 10}}",
    "{command: [x], tasks: {count: 1}}",
    "{image: i, command: [], tasks: {count: 1}}",
    "{image: i, command: [x], tasks: {count: 0}}",
    "{image: i, command: [x], tasks: {count: 2000000}}",
    "{image: i, command: [x], tasks: {count: 1}, gpusPerTask: 0}",
    "{image: i, command: [x], tasks: {count: 1}, taskTimeout: 4 hours}",
    "{image: i, command: [x], tasks: {count: 1, grid: {a: [1]}}}",
    "{image: i, command: [x], tasks: {}}",
    "{image: i, command: [x], tasks: {count: 1}, gpusPerTask: 2, workers: {gpusPerPod: 3}}",
    "{image: i, command: [x], tasks: {count: 1}, retry: {maxAttempts: 0, backoff: {initial: soon}}}",
    "{image: i, command: [x], tasks: {grid: {lr: []}}}",
    "{image: i, command: [x], tasks: {count: 1}, workers: {maxPods: 0, imagePullPolicy: Sometimes}}",
    "{image: i, command: [x], tasks: {count: 1}, rabbitmq: {secretRef: {name: Bad_Name}}}",
    "{image: i, command: [x], tasks: {count: 1}, gpusPerTask: two}",
    "{image: i, command: [x], tasks: {count: 1}, retry: {backoff: {initial: 20m, max: 1m}}}"
  })
  void localValidationReportsWhatTheApiServerReports(String spec) throws Exception {
    String yaml = "apiVersion: trainq.io/v1alpha1\nkind: TrainingJob\nmetadata: {name: job, namespace: default}\nspec: " + spec + "\n";
    List<String> localErrors = local.validate((ObjectNode) YAML.readTree(yaml));
    List<String> serverErrors;
    GenericKubernetesResource r = client.getKubernetesSerialization().unmarshal(yaml, GenericKubernetesResource.class);
    try {
      client.resource(r).inNamespace("default").dryRun().create();
      serverErrors = List.of();
    } catch (KubernetesClientException e) {
      assertThat(e.getCode()).as(e.getMessage()).isEqualTo(422);
      serverErrors = e.getStatus().getDetails().getCauses().stream().map(SameMessagesAsApiServerIT::text).toList();
    }
    assertThat(localErrors).as("local validation of %s", spec).containsExactlyInAnyOrderElementsOf(serverErrors);
  }

  /** Unknown fields are pruned by a plain create; kubectl apply's strict field validation (its default) refuses them. */
  @org.junit.jupiter.api.Test
  void unknownFieldsAreRefusedAsKubectlRefusesThem(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
    String yaml = "apiVersion: trainq.io/v1alpha1\nkind: TrainingJob\nmetadata: {name: job, namespace: default}\n"
        + "spec: {image: i, command: [x], tasks: {count: 1}, retrys: {maxAttempts: 2}}\n";
    Path kubeconfig = cluster.kubeconfigPath();
    Path file = dir.resolve("job.yaml");
    Files.writeString(file, yaml);
    Path kubectl = TestCluster.kubectl();
    Process p = new ProcessBuilder(kubectl.toString(), "--kubeconfig", kubeconfig.toString(), "apply", "--dry-run=server", "-f", file.toString())
        .redirectErrorStream(true).start();
    String kubectlOut = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    assertThat(p.waitFor()).as(kubectlOut).isNotZero();
    assertThat(kubectlOut).contains("unknown field \"spec.retrys\"");
    assertThat(local.validate((ObjectNode) YAML.readTree(yaml))).containsExactly("unknown field \"spec.retrys\"");
  }

  private static String text(StatusCause c) {
    return c.getField() == null || c.getField().isEmpty() ? c.getMessage() : c.getField() + ": " + c.getMessage();
  }
}
