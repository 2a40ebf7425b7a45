package io.trainq.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.rabbitmq.client.Connection;
import io.trainq.protocol.JobTopology;
import io.trainq.testkit.RabbitBroker;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The operator as the chart deploys it: `helm install` on a real kube-apiserver, then the operator
 * image's entrypoint run from the extracted image — as uid 65532, read-only root, with the
 * Deployment's environment resolved as the kubelet would (ConfigMap, Secret keys, downward API) and
 * the chart's ServiceAccount token mounted where in-cluster config finds it — against a real 3-node
 * RabbitMQ cluster. It must take the lease, serve its probes, reconcile a sample TrainingJob (status,
 * worker pods with the chart's worker image) and finalize its deletion, with only the chart's RBAC.
 */
@Tag("broker")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@ExtendWith(KubeApiExtension.class)
class OperatorIT {

  static final Duration RECONCILE = Duration.ofSeconds(90);
  /** Its own object names, so its cluster-wide RBAC never collides with another test's release. */
  static final String FULLNAME = "trainq-op";
  static final String OPERATOR = FULLNAME + "-operator";

  KubeApi api;
  RabbitBroker broker;
  String ns;
  int httpPort;
  Process operator;
  Path log;
  String podName;

  @BeforeAll
  void startOperator(ExtensionContext context) throws Exception {
    api = KubeApi.get(context);
    broker = RabbitBroker.cluster();
    // the version under test (-Prabbitmq-3.10 runs this class again on 3.10): the broker that answers is that one
    try (Connection c = broker.newConnection("operator-it-version")) {
      assertThat(c.getServerProperties().get("version").toString()).as("the broker's version")
          .startsWith(RabbitBroker.versionUnderTest() + ".");
    }
    Path tar = Images.tarball("trainq-operator");
    JsonNode config = Images.config(tar, "ghcr.io/trainq/trainq-operator:" + ChartIT.appVersion());

    ns = api.newNamespace("trainq-op");
    api.applyCrd(Tools.chart().resolve("crds"));
    try (ServerSocket s = new ServerSocket(0)) {
      httpPort = s.getLocalPort();
    }
    Tools.run(List.of(Tools.helm().toString(), "install", Helm.RELEASE, Tools.chart().toString(), "--namespace", ns,
            "--kubeconfig", api.kubeconfig.toString(), "--skip-crds", "--set", "metrics.port=" + httpPort, "--set", "fullnameOverride=" + FULLNAME,
            "--set", "rabbitmq.managementUrl=http://127.0.0.1:" + broker.managementPort(0)),
        null, Map.of(), 180).assertOk("helm install");
    // What the Cluster Operator would create next to its RabbitmqCluster: here, the local cluster's first node.
    api.kubectl("-n", ns, "create", "secret", "generic", "trainq-rabbitmq-default-user",
        "--from-literal=username=" + RabbitBroker.USERNAME, "--from-literal=password=" + RabbitBroker.PASSWORD,
        "--from-literal=host=127.0.0.1", "--from-literal=port=" + broker.amqpPort(0),
        "--from-literal=provider=rabbitmq", "--from-literal=type=rabbitmq").assertOk("create secret");

    Path rootfs = Images.extract(tar, "operator-run");
    JsonNode deployment = Manifests.JSON.readTree(
        api.kubectl("-n", ns, "get", "deployment/" + OPERATOR, "-o", "json").assertOk("get deployment").stdout());
    JsonNode pod = deployment.at("/spec/template/spec");
    JsonNode container = pod.at("/containers/0");
    podName = OPERATOR + "-7d9f8c6b5-x2x4q";
    // Image Env first: the container's env overrides it, as in Kubernetes.
    Map<String, String> env = Images.imageEnv(config);
    env.putAll(podEnv(container));
    mountServiceAccountToken(rootfs, pod.path("serviceAccountName").asText());
    // In-cluster configuration: the API server as the kubernetes Service would present it.
    URI server = URI.create(api.config.getMasterUrl());
    env.put("KUBERNETES_SERVICE_HOST", server.getHost());
    env.put("KUBERNETES_SERVICE_PORT", Integer.toString(server.getPort()));
    env.put("HOSTNAME", podName);

    String user = pod.at("/securityContext/runAsUser").asText() + ":" + pod.at("/securityContext/runAsGroup").asText();
    assertThat(user).isEqualTo("65532:65532");
    assertThat(container.at("/securityContext/readOnlyRootFilesystem").asBoolean()).isTrue();
    List<String> command = new java.util.ArrayList<>(Images.strings(config.path("Entrypoint")));
    log = Files.createTempFile(rootfs.getParent(), "operator", ".log");
    ProcessBuilder pb = new ProcessBuilder(Images.containerCommand(rootfs, user, true, command))
        .redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().clear();
    pb.environment().putAll(env);
    operator = pb.start();
  }

  @AfterAll
  void stopOperator() throws Exception {
    if (ns != null) {
      Tools.run(List.of(Tools.helm().toString(), "uninstall", Helm.RELEASE, "--namespace", ns,
          "--kubeconfig", api.kubeconfig.toString()), null, Map.of(), 120);
    }
    if (operator != null && operator.isAlive()) {
      operator.destroy();
      if (!operator.waitFor(30, TimeUnit.SECONDS)) {
        operator.destroyForcibly();
      }
    }
    if (log != null) {
      System.out.println("--- operator log (last 60 lines) ---");
      List<String> lines = Files.readAllLines(log);
      lines.subList(Math.max(0, lines.size() - 60), lines.size()).forEach(System.out::println);
    }
  }

  @Test
  void takesTheLeaseServesItsProbesAndReconcilesATrainingJob() throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    awaitOperator("operator /healthz").untilAsserted(() -> {
      assertThat(operator.isAlive()).as("operator running; log:\n%s", tail()).isTrue();
      assertThat(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + httpPort + "/healthz")).build(),
          HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(200);
    });
    awaitOperator("the leader-election lease").untilAsserted(() ->
        assertThat(api.kubectl("-n", ns, "get", "lease", OPERATOR, "-o", "jsonpath={.spec.holderIdentity}").stdout())
            .as("log:\n%s", tail()).isEqualTo(podName));
    awaitOperator("/readyz").untilAsserted(() ->
        assertThat(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + httpPort + "/readyz")).build(),
            HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(200));
    String metrics = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + httpPort + "/metrics")).build(),
        HttpResponse.BodyHandlers.ofString()).body();
    assertThat(metrics).contains("# TYPE");

    // A user's namespace and a sample, applied as the README says.
    String jobs = api.newNamespace("jobs");
    api.kubectl("-n", jobs, "apply", "-f", Tools.projectRoot().resolve("samples/quickstart.yaml").toString()).assertOk("apply sample");
    awaitOperator("the TrainingJob's status").untilAsserted(() -> {
      JsonNode tj = Manifests.JSON.readTree(api.kubectl("-n", jobs, "get", "trainingjob/quickstart", "-o", "json").stdout());
      assertThat(tj.at("/status/observedGeneration").asLong()).as("status; log:\n%s", tail()).isEqualTo(tj.at("/metadata/generation").asLong());
      assertThat(tj.at("/status/phase").asText()).isNotEmpty();
      assertThat(tj.at("/status/counts/total").asInt()).isEqualTo(100);
      assertThat(tj.at("/status/counts/published").asInt()).isEqualTo(100);
      assertThat(tj.at("/metadata/finalizers").toString()).contains("trainq.io");
    });
    // Worker pods: the chart's worker image as init container, the sample's image as the worker.
    awaitOperator("worker pods").untilAsserted(() -> {
      JsonNode pods = Manifests.JSON.readTree(api.kubectl("-n", jobs, "get", "pods", "-o", "json").stdout()).path("items");
      assertThat(pods.size()).as("pods; log:\n%s", tail()).isGreaterThan(0);
      JsonNode spec = pods.get(0).path("spec");
      assertThat(spec.at("/initContainers/0/image").asText()).isEqualTo("ghcr.io/trainq/trainq-worker:" + ChartIT.appVersion());
      assertThat(spec.at("/containers/0/image").asText()).isEqualTo("python:3.12-slim");
      // the job's own broker user (the chart's default), from the Secret the operator made
      assertThat(spec.at("/containers/0/env").toString()).contains("\"name\":\"quickstart-broker-user-");
    });

    // The job's queues, on the broker the operator was given.
    String uid = Manifests.JSON.readTree(api.kubectl("-n", jobs, "get", "trainingjob/quickstart", "-o", "json")
        .assertOk("get trainingjob").stdout()).at("/metadata/uid").asText();
    JobTopology topology = new JobTopology(jobs, "quickstart", uid);
    String queuePrefix = "tq." + topology.key() + ".";
    assertThat(broker.queues(queuePrefix)).contains(topology.taskQueue(), topology.deadLetterQueue());

    // Deleting the job: the operator's finalizer removes its pods and queues, then the job goes.
    api.kubectl("-n", jobs, "delete", "trainingjob/quickstart", "--wait=false").assertOk("delete");
    awaitOperator("finalized").untilAsserted(() ->
        assertThat(api.kubectl("-n", jobs, "get", "trainingjobs", "-o", "name").assertOk("get trainingjobs").stdout())
            .as("log:\n%s", tail()).isEmpty());
    // gone before the finalizer let the job go; the management API's view may lag a moment
    await("pods and queues gone").atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
      assertThat(api.kubectl("-n", jobs, "get", "pods", "-o", "name").assertOk("get pods").stdout())
          .as("worker pods after the job's deletion; log:\n%s", tail()).isEmpty();
      assertThat(broker.queues(queuePrefix)).as("the job's queues after its deletion; log:\n%s", tail()).isEmpty();
    });
    // Only the chart's RBAC: nothing the operator tried was forbidden.
    assertThat(Files.readString(log)).doesNotContainIgnoringCase("forbidden");
  }

  /** Waits while the operator runs; its exit ends the wait at once, with its log. */
  org.awaitility.core.ConditionFactory awaitOperator(String what) {
    // the probes refuse connections until the operator's HTTP server is up: keep polling through that
    return await(what).atMost(RECONCILE).pollInterval(Duration.ofSeconds(1))
        .ignoreExceptionsInstanceOf(IOException.class)
        .failFast("the operator exited", () -> !operator.isAlive());
  }

  /** The container's environment as the kubelet builds it: envFrom, then env with $(VAR) expansion. */
  Map<String, String> podEnv(JsonNode container) throws IOException {
    Map<String, String> env = new LinkedHashMap<>();
    for (JsonNode from : container.path("envFrom")) {
      String cm = from.at("/configMapRef/name").asText();
      JsonNode data = Manifests.JSON.readTree(api.kubectl("-n", ns, "get", "configmap", cm, "-o", "json").assertOk("configmap").stdout()).path("data");
      data.fields().forEachRemaining(e -> env.put(e.getKey(), e.getValue().asText()));
    }
    for (JsonNode e : container.path("env")) {
      String name = e.path("name").asText();
      if (e.has("value")) {
        env.put(name, expand(e.path("value").asText(), env));
      } else if (e.at("/valueFrom/secretKeyRef").isObject()) {
        JsonNode ref = e.at("/valueFrom/secretKeyRef");
        String b64 = api.kubectl("-n", ns, "get", "secret", ref.path("name").asText(),
            "-o", "jsonpath={.data." + ref.path("key").asText() + "}").assertOk("secret key").stdout();
        env.put(name, new String(Base64.getDecoder().decode(b64), StandardCharsets.UTF_8));
      } else if (e.at("/valueFrom/fieldRef").isObject()) {
        String field = e.at("/valueFrom/fieldRef/fieldPath").asText();
        env.put(name, switch (field) {
          case "metadata.namespace" -> ns;
          case "metadata.name" -> podName;
          default -> throw new AssertionError("fieldRef " + field + " not emulated");
        });
      } else {
        throw new AssertionError("env source not emulated: " + e);
      }
    }
    return env;
  }

  static String expand(String value, Map<String, String> env) {
    Matcher m = Pattern.compile("\\$\\(([A-Za-z_][A-Za-z0-9_]*)\\)").matcher(value);
    StringBuilder sb = new StringBuilder();
    while (m.find()) {
      m.appendReplacement(sb, Matcher.quoteReplacement(env.getOrDefault(m.group(1), m.group())));
    }
    return m.appendTail(sb).toString();
  }

  /** The ServiceAccount's token, CA and namespace where the kubelet mounts them. */
  void mountServiceAccountToken(Path rootfs, String serviceAccount) throws IOException {
    Path dir = rootfs.resolve("var/run/secrets/kubernetes.io/serviceaccount");
    Files.createDirectories(dir);
    String token = api.kubectl("-n", ns, "create", "token", serviceAccount, "--duration=1h").assertOk("create token").stdout().trim();
    Files.writeString(dir.resolve("token"), token);
    Files.writeString(dir.resolve("namespace"), ns);
    String caData = api.config.getCaCertData();
    String ca = caData != null ? new String(Base64.getDecoder().decode(caData), StandardCharsets.UTF_8)
        : Files.readString(Path.of(api.config.getCaCertFile()));
    Files.writeString(dir.resolve("ca.crt"), ca);
    Tools.run(List.of("chmod", "-R", "a+rX", rootfs.resolve("var/run/secrets").toString())).assertOk("chmod");
  }

  String tail() throws IOException {
    List<String> lines = Files.readAllLines(log);
    return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
  }
}
