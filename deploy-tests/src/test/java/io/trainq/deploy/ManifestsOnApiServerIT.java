package io.trainq.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * deploy/rabbitmq-cluster.yaml against the RabbitMQ Cluster Operator's real CRD (v2.22.3), and every
 * sample TrainingJob against the project's CRD, on a real kube-apiserver.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@ExtendWith(KubeApiExtension.class)
class ManifestsOnApiServerIT {

  KubeApi api;
  String ns;

  @BeforeAll
  void crds(ExtensionContext context) {
    api = KubeApi.get(context);
    api.applyCrd(Tools.rabbitmqCrd());
    api.applyCrd(Tools.chart().resolve("crds"));
    ns = api.newNamespace("manifests");
  }

  @Test
  void rabbitmqClusterIsValidAgainstTheClusterOperatorsCrd() throws Exception {
    Path file = Tools.projectRoot().resolve("deploy/rabbitmq-cluster.yaml");
    api.kubectl("apply", "--dry-run=server", "-n", ns, "-f", file.toString())
        .assertOk("server dry run of deploy/rabbitmq-cluster.yaml");
    // Applied for real, then read back as the server stored it (defaults and pruning applied).
    api.kubectl("apply", "-n", ns, "-f", file.toString()).assertOk("apply deploy/rabbitmq-cluster.yaml");
    JsonNode stored = Manifests.JSON.readTree(
        api.kubectl("get", "-n", ns, "rabbitmqcluster/trainq-rabbitmq", "-o", "json").assertOk("get").stdout());
    JsonNode spec = stored.path("spec");
    assertThat(spec.path("replicas").asInt()).isEqualTo(3);
    assertThat(spec.at("/persistence/storage").asText()).isEqualTo("20Gi");
    assertThat(spec.at("/resources/limits/memory").asText()).isEqualTo("2Gi");
    assertThat(spec.at("/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/0/topologyKey").asText())
        .isEqualTo("kubernetes.io/hostname");
    // The anti-affinity selects the pods the Cluster Operator labels with the cluster's name.
    assertThat(spec.at("/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/0/labelSelector/matchExpressions/0/values/0").asText())
        .isEqualTo(stored.at("/metadata/name").asText());
    String conf = spec.at("/rabbitmq/additionalConfig").asText();
    assertThat(conf).contains("default_queue_type = quorum");
    long consumerTimeoutMs = Long.parseLong(conf.lines().filter(l -> l.startsWith("consumer_timeout"))
        .findFirst().orElseThrow().replaceAll("\\D", ""));
    assertThat(consumerTimeoutMs).as("consumer_timeout above the 24 h default task timeout").isGreaterThan(24L * 3600 * 1000);
    assertThat(spec.path("image").asText()).startsWith("rabbitmq:4.").endsWith("-management").doesNotContain("latest");
  }

  @Test
  void theRabbitmqSchemaIsEnforced() {
    // A negative control: the fixture CRD's schema really is what validates the file above.
    String broken = """
        apiVersion: rabbitmq.com/v1beta1
        kind: RabbitmqCluster
        metadata: {name: broken}
        spec:
          replicas: three
          rabbitmq:
            additionalPlugins: ["not a plugin name"]
        """;
    Tools.Result r = api.kubectlWithInput(broken, "apply", "--dry-run=server", "-n", ns, "-f", "-");
    assertThat(r.exitCode()).isNotZero();
    assertThat(r.output()).contains("spec.replicas").contains("spec.rabbitmq.additionalPlugins");
  }

  @Test
  void everySampleApplies() throws Exception {
    List<Path> samples;
    try (Stream<Path> s = Files.list(Tools.projectRoot().resolve("samples"))) {
      samples = s.filter(p -> p.toString().endsWith(".yaml") || p.toString().endsWith(".yml")).sorted().toList();
    }
    assertThat(samples).isNotEmpty();
    for (Path sample : samples) {
      Tools.Result r = api.kubectl("apply", "-n", ns, "-f", sample.toString());
      r.assertOk("kubectl apply -f " + Tools.projectRoot().relativize(sample));
      assertThat(r.stdout()).as(sample.toString()).contains("created");
    }
    // Stored as TrainingJobs the operator would see.
    String names = api.kubectl("get", "-n", ns, "trainingjobs", "-o", "name").assertOk("get trainingjobs").stdout();
    assertThat(names.lines().count()).isGreaterThanOrEqualTo(samples.size());
  }

  @Test
  void anInvalidTrainingJobIsRejectedWithTheFieldsName() {
    String bad = """
        apiVersion: trainq.io/v1alpha1
        kind: TrainingJob
        metadata: {name: bad}
        spec:
          image: python:3.12-slim
          command: ["python3", "train.py"]
          tasks: {count: 10}
          gpusPerTask: -1
        """;
    Tools.Result r = api.kubectlWithInput(bad, "apply", "--dry-run=server", "-n", ns, "-f", "-");
    assertThat(r.exitCode()).isNotZero();
    assertThat(r.output()).contains("spec.gpusPerTask");
  }
}
