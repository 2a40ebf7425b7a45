package io.trainq.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.Test;

/** The chart rendered by the real helm binary: lint, defaults, security, RBAC, and the values that change it. */
class ChartIT {

  static final String NS = "trainq";
  static final String OPERATOR = "trainq-operator";

  static String appVersion() throws Exception {
    return Manifests.YAML.readTree(Tools.chart().resolve("Chart.yaml").toFile()).path("appVersion").asText();
  }

  @Test
  void lintIsCleanInStrictMode() {
    Tools.Result r = Tools.run(List.of(Tools.helm().toString(), "lint", "--strict", "--kube-version", Tools.KUBE_VERSION,
        Tools.chart().toString()));
    r.assertOk("helm lint --strict");
    assertThat(r.output()).contains("0 chart(s) failed").doesNotContain("[WARNING]").doesNotContain("[ERROR]");
  }

  @Test
  void defaultsRenderTheOperatorWithClusterWideLeastPrivilegeRbac() throws Exception {
    Manifests m = Helm.template(NS, Map.of());
    assertThat(new TreeSet<>(m.kinds())).containsExactlyInAnyOrder("ClusterRole", "ClusterRoleBinding", "ConfigMap",
        "Deployment", "Role", "RoleBinding", "Service", "ServiceAccount");
    // No credentials in the chart: it never renders a Secret.
    assertThat(m.ofKind("Secret")).isEmpty();
    assertThat(m.yaml).doesNotContain(":latest");

    JsonNode deploy = m.get("Deployment", OPERATOR);
    JsonNode pod = deploy.at("/spec/template/spec");
    JsonNode c = pod.at("/containers/0");
    assertThat(c.path("image").asText()).isEqualTo("ghcr.io/trainq/trainq-operator:" + appVersion());
    assertThat(pod.path("serviceAccountName").asText()).isEqualTo(OPERATOR);
    assertThat(m.get("ServiceAccount", OPERATOR).at("/metadata/namespace").asText()).isEqualTo(NS);

    // Non-root, read-only root filesystem, no capabilities, no escalation, RuntimeDefault seccomp.
    assertThat(pod.at("/securityContext/runAsNonRoot").asBoolean()).isTrue();
    assertThat(pod.at("/securityContext/runAsUser").asInt()).isEqualTo(65532);
    assertThat(pod.at("/securityContext/seccompProfile/type").asText()).isEqualTo("RuntimeDefault");
    assertThat(c.at("/securityContext/readOnlyRootFilesystem").asBoolean()).isTrue();
    assertThat(c.at("/securityContext/allowPrivilegeEscalation").isBoolean()).isTrue();
    assertThat(c.at("/securityContext/allowPrivilegeEscalation").asBoolean()).isFalse();
    assertThat(c.at("/securityContext/capabilities/drop").toString()).isEqualTo("[\"ALL\"]");
    assertThat(c.at("/volumeMounts/0/mountPath").asText()).isEqualTo("/tmp");

    // Probes on the metrics port; resources requested and memory bounded.
    for (String probe : List.of("livenessProbe", "readinessProbe", "startupProbe")) {
      assertThat(c.at("/" + probe + "/httpGet/port").asText()).as(probe).isEqualTo("http");
    }
    assertThat(c.at("/livenessProbe/httpGet/path").asText()).isEqualTo("/healthz");
    assertThat(c.at("/readinessProbe/httpGet/path").asText()).isEqualTo("/readyz");
    assertThat(c.at("/ports/0/containerPort").asInt()).isEqualTo(8080);
    assertThat(c.at("/resources/requests/cpu").asText()).isNotEmpty();
    assertThat(c.at("/resources/requests/memory").asText()).isNotEmpty();
    assertThat(c.at("/resources/limits/memory").asText()).isNotEmpty();

    // Configuration: from the ConfigMap, whose hash is on the pod template.
    JsonNode cm = m.get("ConfigMap", OPERATOR).path("data");
    assertThat(cm.path("TRAINQ_WORKER_IMAGE").asText()).isEqualTo("ghcr.io/trainq/trainq-worker:" + appVersion());
    assertThat(cm.path("TRAINQ_WATCH_NAMESPACES").asText()).isEmpty();
    assertThat(cm.path("TRAINQ_LEADER_ELECTION").asText()).isEqualTo("true");
    assertThat(cm.path("TRAINQ_LEADER_ELECTION_LEASE_NAME").asText()).isEqualTo(OPERATOR);
    assertThat(cm.path("TRAINQ_HTTP_PORT").asText()).isEqualTo("8080");
    assertThat(cm.path("TRAINQ_RABBITMQ_SECRET").asText()).isEqualTo("trainq-rabbitmq-default-user");
    assertThat(c.at("/envFrom/0/configMapRef/name").asText()).isEqualTo(OPERATOR);
    assertThat(deploy.at("/spec/template/metadata/annotations/checksum~1config").asText()).matches("[0-9a-f]{64}");

    // RabbitMQ credentials only by reference to the Cluster Operator's Secret, never as values.
    Map<String, JsonNode> env = env(c);
    for (String var : List.of("TRAINQ_RABBITMQ_USERNAME", "TRAINQ_RABBITMQ_PASSWORD", "TRAINQ_RABBITMQ_HOST", "TRAINQ_RABBITMQ_PORT")) {
      assertThat(env.get(var).at("/valueFrom/secretKeyRef/name").asText()).as(var).isEqualTo("trainq-rabbitmq-default-user");
      assertThat(env.get(var).has("value")).as(var).isFalse();
    }
    assertThat(env.get("TRAINQ_RABBITMQ_ADDRESSES").path("value").asText()).isEqualTo("$(TRAINQ_RABBITMQ_HOST):$(TRAINQ_RABBITMQ_PORT)");
    assertThat(env.get("TRAINQ_OPERATOR_NAMESPACE").at("/valueFrom/fieldRef/fieldPath").asText()).isEqualTo("metadata.namespace");

    // RBAC: exactly the verbs the operator uses, nothing with a wildcard.
    assertThat(rules(m.get("ClusterRole", OPERATOR))).containsExactlyInAnyOrder(
        "trainq.io/trainingjobs:delete,get,list,patch,update,watch",
        "trainq.io/trainingjobs/status:patch,update",
        "trainq.io/trainingjobs/finalizers:update",
        "/pods:create,delete,get,list,watch",
        "/secrets:create,get",
        "/events:create,get,patch",
        "events.k8s.io/events:create,get,patch");
    assertThat(rules(m.get("Role", OPERATOR + "-self"))).containsExactlyInAnyOrder(
        "coordination.k8s.io/leases:create",
        "coordination.k8s.io/leases[trainq-operator]:get,patch,update",
        "/secrets[trainq-rabbitmq-default-user]:get");
    assertThat(m.yaml).doesNotContain("\"*\"").doesNotContain("- '*'");
    JsonNode crb = m.get("ClusterRoleBinding", OPERATOR);
    assertThat(crb.at("/subjects/0/name").asText()).isEqualTo(OPERATOR);
    assertThat(crb.at("/subjects/0/namespace").asText()).isEqualTo(NS);

    // The metrics Service selects exactly the operator pods.
    JsonNode svc = m.get("Service", OPERATOR + "-metrics");
    assertThat(svc.at("/spec/ports/0/targetPort").asText()).isEqualTo("http");
    JsonNode podLabels = deploy.at("/spec/template/metadata/labels");
    svc.at("/spec/selector").fields().forEachRemaining(e ->
        assertThat(podLabels.path(e.getKey()).asText()).as(e.getKey()).isEqualTo(e.getValue().asText()));
    assertThat(deploy.at("/spec/selector/matchLabels")).isEqualTo(svc.at("/spec/selector"));
  }

  @Test
  void watchedNamespacesGetRolesAndNoClusterWideAccess() {
    Manifests m = Helm.template(NS, Map.of("watchNamespaces", "{team-a,team-b}"));
    assertThat(m.ofKind("ClusterRole")).isEmpty();
    assertThat(m.ofKind("ClusterRoleBinding")).isEmpty();
    Set<String> roleNamespaces = new TreeSet<>();
    for (JsonNode role : m.ofKind("Role")) {
      if (role.at("/metadata/name").asText().equals(OPERATOR)) {
        roleNamespaces.add(role.at("/metadata/namespace").asText());
        assertThat(rules(role)).contains("trainq.io/trainingjobs:delete,get,list,patch,update,watch", "/pods:create,delete,get,list,watch");
      }
    }
    assertThat(roleNamespaces).containsExactly("team-a", "team-b");
    assertThat(m.ofKind("RoleBinding")).extracting(b -> b.at("/metadata/namespace").asText())
        .containsExactlyInAnyOrder("team-a", "team-b", NS);
    assertThat(m.get("ConfigMap", OPERATOR).at("/data/TRAINQ_WATCH_NAMESPACES").asText()).isEqualTo("team-a,team-b");
  }

  @Test
  void perJobBrokerUsersByDefaultAndSecretsCreatedOnlyForThem() {
    Manifests dflt = Helm.template(NS, Map.of());
    assertThat(dflt.get("ConfigMap", OPERATOR).at("/data/TRAINQ_WORKER_BROKER_USERS").asText()).isEqualTo("per-job");
    assertThat(dflt.get("ConfigMap", OPERATOR).at("/data").has("TRAINQ_RABBITMQ_MANAGEMENT_URL")).isFalse();
    Manifests shared = Helm.template(NS, Map.of("rabbitmq.workerUsers", "shared"));
    assertThat(shared.get("ConfigMap", OPERATOR).at("/data/TRAINQ_WORKER_BROKER_USERS").asText()).isEqualTo("shared");
    assertThat(rules(shared.get("ClusterRole", OPERATOR))).contains("/secrets:get").doesNotContain("/secrets:create,get");
    Manifests url = Helm.template(NS, Map.of("rabbitmq.managementUrl", "https://rabbit.trainq.svc:15671"));
    assertThat(url.get("ConfigMap", OPERATOR).at("/data/TRAINQ_RABBITMQ_MANAGEMENT_URL").asText()).isEqualTo("https://rabbit.trainq.svc:15671");
    assertThat(Helm.templateRaw(NS, Map.of("rabbitmq.workerUsers", "everyone")).output()).contains("workerUsers");
  }

  @Test
  void tlsMountsTheCaSecretIntoTheOperator() {
    Manifests m = Helm.template(NS, Map.of("rabbitmq.tls.enabled", "true", "rabbitmq.tls.secretName", "rabbit-ca"));
    JsonNode pod = m.get("Deployment", OPERATOR).at("/spec/template/spec");
    Map<String, JsonNode> env = env(pod.at("/containers/0"));
    assertThat(env.get("TRAINQ_RABBITMQ_TLS").path("value").asText()).isEqualTo("true");
    assertThat(env.get("TRAINQ_RABBITMQ_TLS_DIR").path("value").asText()).isEqualTo("/etc/trainq/rabbitmq-tls");
    assertThat(env.get("TRAINQ_RABBITMQ_TLS_SECRET").path("value").asText()).isEqualTo("rabbit-ca");
    assertThat(pod.at("/containers/0/volumeMounts").toString()).contains("/etc/trainq/rabbitmq-tls");
    assertThat(pod.at("/volumes").toString()).contains("\"secretName\":\"rabbit-ca\"");
    Map<String, JsonNode> plain = env(Helm.template(NS, Map.of()).get("Deployment", OPERATOR).at("/spec/template/spec/containers/0"));
    assertThat(plain).doesNotContainKey("TRAINQ_RABBITMQ_TLS");
  }

  @Test
  void nonDefaultValuesRenderMonitoringHaAndPinnedImages() throws Exception {
    String digest = "sha256:" + "ab".repeat(32);
    Map<String, String> set = new HashMap<>();
    set.put("replicaCount", "2");
    set.put("image.tag", "0.2.0");
    set.put("workerImage.digest", digest);
    set.put("metrics.serviceMonitor.enabled", "true");
    set.put("metrics.serviceMonitor.labels.release", "prometheus");
    set.put("metrics.dashboard.enabled", "true");
    set.put("rabbitmq.secretName", "other-default-user");
    set.put("rabbitmq.addresses", "rabbit-0:5672\\,rabbit-1:5672\\,rabbit-2:5672");
    Manifests m = Helm.template(NS, set);

    JsonNode c = m.get("Deployment", OPERATOR).at("/spec/template/spec/containers/0");
    assertThat(m.get("Deployment", OPERATOR).at("/spec/replicas").asInt()).isEqualTo(2);
    assertThat(m.get("Deployment", OPERATOR).at("/spec/strategy/rollingUpdate/maxUnavailable").asInt()).isZero();
    assertThat(c.path("image").asText()).isEqualTo("ghcr.io/trainq/trainq-operator:0.2.0");
    assertThat(m.get("ConfigMap", OPERATOR).at("/data/TRAINQ_WORKER_IMAGE").asText())
        .isEqualTo("ghcr.io/trainq/trainq-worker@" + digest);
    Map<String, JsonNode> env = env(c);
    assertThat(env.get("TRAINQ_RABBITMQ_PASSWORD").at("/valueFrom/secretKeyRef/name").asText()).isEqualTo("other-default-user");
    assertThat(env.get("TRAINQ_RABBITMQ_ADDRESSES").path("value").asText()).isEqualTo("rabbit-0:5672,rabbit-1:5672,rabbit-2:5672");
    assertThat(env).doesNotContainKey("TRAINQ_RABBITMQ_HOST");

    // Two replicas: a PodDisruptionBudget keeps one.
    assertThat(m.get("PodDisruptionBudget", OPERATOR).at("/spec/minAvailable").asInt()).isEqualTo(1);

    // The ServiceMonitor scrapes the metrics Service's named port.
    JsonNode sm = m.get("ServiceMonitor", OPERATOR);
    JsonNode svc = m.get("Service", OPERATOR + "-metrics");
    assertThat(sm.at("/metadata/labels/release").asText()).isEqualTo("prometheus");
    assertThat(sm.at("/spec/endpoints/0/port").asText()).isEqualTo(svc.at("/spec/ports/0/name").asText());
    // an empty selector would select every Service of the namespace: it names at least the instance
    JsonNode selector = sm.at("/spec/selector/matchLabels");
    assertThat(selector.size()).as("the ServiceMonitor's matchLabels: %s", selector).isPositive();
    assertThat(selector.path("app.kubernetes.io/instance").asText()).isNotEmpty();
    selector.fields().forEachRemaining(e ->
        assertThat(svc.at("/metadata/labels").path(e.getKey()).asText()).as(e.getKey()).isEqualTo(e.getValue().asText()));

    // The dashboard: valid JSON in a ConfigMap the Grafana sidecar picks up, every panel with a query.
    JsonNode dash = m.get("ConfigMap", "trainq-dashboard");
    assertThat(dash.at("/metadata/labels/grafana_dashboard").asText()).isEqualTo("1");
    JsonNode json = Manifests.JSON.readTree(dash.at("/data/trainq.json").asText());
    assertThat(json.path("uid").asText()).isEqualTo("trainq-overview");
    assertThat(json.path("panels").size()).isGreaterThanOrEqualTo(6);
    for (JsonNode panel : json.path("panels")) {
      assertThat(panel.at("/targets/0/expr").asText()).as(panel.path("title").asText()).isNotBlank();
    }
    assertThat(json.toString()).contains("trainq_job_tasks", "trainq_job_gpu_utilization");
    // Same file as in the chart.
    assertThat(Manifests.JSON.readTree(Files.readString(Tools.chart().resolve("dashboards/trainq.json")))).isEqualTo(json);
  }

  @Test
  void configChangesRollThePodsAndOtherChangesDoNot() {
    String base = checksum(Map.of());
    assertThat(checksum(Map.of("workerImage.tag", "0.1.1"))).isNotEqualTo(base);
    assertThat(checksum(Map.of("logLevel", "DEBUG"))).isNotEqualTo(base);
    assertThat(checksum(Map.of("resources.requests.cpu", "200m"))).isEqualTo(base);
  }

  @Test
  void unsafeOrIncompleteValuesAreRejected() {
    assertThat(Helm.templateRaw(NS, Map.of("image.tag", "latest")).output()).contains("image tag 'latest' is not allowed");
    assertThat(Helm.templateRaw(NS, Map.of("workerImage.tag", "latest")).output()).contains("image tag 'latest' is not allowed");
    assertThat(Helm.templateRaw(NS, Map.of("replicaCount", "2", "leaderElection.enabled", "false")).output())
        .contains("replicaCount > 1 needs leaderElection.enabled");
    assertThat(Helm.templateRaw(NS, Map.of("rabbitmq.password", "guest")).output()).contains("additional properties 'password' not allowed");
    assertThat(Helm.templateRaw(NS, Map.of("rabbitmq.secretName", "")).exitCode()).isNotZero();
    assertThat(Helm.templateRaw(NS, Map.of("serviceAccount.create", "false")).output())
        .contains("serviceAccount.name is required");
    assertThat(Helm.templateRaw(NS, Map.of("metrics.serviceMonitor.enabled", "true", "metrics.service.enabled", "false")).output())
        .contains("metrics.serviceMonitor.enabled needs metrics.service.enabled");
  }

  @Test
  void rbacAndServiceAccountCanBeLeftToSomeoneElse() {
    Manifests m = Helm.template(NS, Map.of("rbac.create", "false", "serviceAccount.create", "false", "serviceAccount.name", "platform-sa"));
    assertThat(m.kinds()).doesNotContain("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount");
    assertThat(m.get("Deployment", OPERATOR).at("/spec/template/spec/serviceAccountName").asText()).isEqualTo("platform-sa");
  }

  @Test
  void kueueRulesOnlyWhenKueueIsEnabled() {
    Manifests off = Helm.template(NS, Map.of());
    assertThat(off.get("ConfigMap", OPERATOR).at("/data/TRAINQ_KUEUE").asText()).isEqualTo("off");
    assertThat(rules(off.get("ClusterRole", OPERATOR))).noneMatch(r -> r.startsWith("kueue.x-k8s.io/"));
    assertThat(off.find("ClusterRole", OPERATOR + "-kueue-reader")).isEmpty();

    Manifests on = Helm.template(NS, Map.of("kueue.enabled", "true"));
    assertThat(on.get("ConfigMap", OPERATOR).at("/data/TRAINQ_KUEUE").asText()).isEqualTo("auto");
    assertThat(rules(on.get("ClusterRole", OPERATOR))).contains(
        "kueue.x-k8s.io/workloads:create,delete,get,list,update,watch",
        "kueue.x-k8s.io/workloads/status:update",
        "kueue.x-k8s.io/resourceflavors:get",
        "kueue.x-k8s.io/workloadpriorityclasses:get",
        "scheduling.k8s.io/priorityclasses:get");
    // Kueue's own ServiceAccount reads the owners of Workloads
    assertThat(rules(on.get("ClusterRole", OPERATOR + "-kueue-reader"))).containsExactly("trainq.io/trainingjobs:get,list,watch");
    JsonNode binding = on.get("ClusterRoleBinding", OPERATOR + "-kueue-reader");
    assertThat(binding.at("/subjects/0/name").asText()).isEqualTo("kueue-controller-manager");
    assertThat(binding.at("/subjects/0/namespace").asText()).isEqualTo("kueue-system");
  }

  @Test
  void leaderElectionOffRecreatesInsteadOfRolling() {
    Manifests m = Helm.template(NS, Map.of("leaderElection.enabled", "false"));
    assertThat(m.get("Deployment", OPERATOR).at("/spec/strategy/type").asText()).isEqualTo("Recreate");
    assertThat(rules(m.get("Role", OPERATOR + "-self"))).containsExactly("/secrets[trainq-rabbitmq-default-user]:get");
  }

  @Test
  void hostNetworkIsOffUnlessAskedAndThenResolvesClusterNamesFromTheNode() {
    JsonNode off = Helm.template(NS, Map.of()).get("Deployment", OPERATOR).at("/spec/template/spec");
    assertThat(off.has("hostNetwork")).isFalse();
    assertThat(off.has("dnsPolicy")).isFalse();
    JsonNode on = Helm.template(NS, Map.of("hostNetwork", "true")).get("Deployment", OPERATOR).at("/spec/template/spec");
    assertThat(on.path("hostNetwork").asBoolean()).isTrue();
    // the default policy would give a hostNetwork pod the node's resolv.conf and no cluster names
    assertThat(on.path("dnsPolicy").asText()).isEqualTo("ClusterFirstWithHostNet");
  }

  @Test
  void readmeDocumentsEveryValue() throws Exception {
    String readme = Files.readString(Tools.chart().resolve("README.md"));
    Set<String> documented = new TreeSet<>();
    java.util.regex.Matcher row = java.util.regex.Pattern.compile("(?m)^\\| `([A-Za-z0-9.]+)` \\|").matcher(readme);
    while (row.find()) {
      documented.add(row.group(1));
    }
    List<String> leaves = new ArrayList<>();
    leaves(Manifests.YAML.readTree(Tools.chart().resolve("values.yaml").toFile()), "", leaves);
    assertThat(leaves).isNotEmpty();
    for (String leaf : leaves) {
      assertThat(documented.stream().anyMatch(d -> leaf.equals(d) || leaf.startsWith(d + ".")))
          .as("values.yaml's %s in the README's parameter table", leaf).isTrue();
    }
    for (String d : documented) {
      assertThat(leaves.stream().anyMatch(l -> l.equals(d) || l.startsWith(d + "."))).as("README parameter %s in values.yaml", d).isTrue();
    }
  }

  static void leaves(JsonNode node, String prefix, List<String> out) {
    if (node.isObject() && node.size() > 0) {
      node.fields().forEachRemaining(e -> leaves(e.getValue(), prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey(), out));
    } else {
      out.add(prefix);
    }
  }

  static String checksum(Map<String, String> set) {
    return Helm.template(NS, set).get("Deployment", OPERATOR).at("/spec/template/metadata/annotations/checksum~1config").asText();
  }

  static Map<String, JsonNode> env(JsonNode container) {
    Map<String, JsonNode> out = new HashMap<>();
    container.path("env").forEach(e -> out.put(e.path("name").asText(), e));
    return out;
  }

  /** Each rule as "group/resource[names]:verb,verb", one entry per group and resource. */
  static List<String> rules(JsonNode role) {
    List<String> out = new ArrayList<>();
    for (JsonNode rule : role.path("rules")) {
      List<String> verbs = StreamSupport.stream(rule.path("verbs").spliterator(), false).map(JsonNode::asText).sorted().toList();
      String names = rule.has("resourceNames")
          ? "[" + String.join(",", StreamSupport.stream(rule.path("resourceNames").spliterator(), false).map(JsonNode::asText).toList()) + "]"
          : "";
      for (JsonNode g : rule.path("apiGroups")) {
        for (JsonNode r : rule.path("resources")) {
          out.add(g.asText() + "/" + r.asText() + names + ":" + String.join(",", verbs));
        }
      }
    }
    return out;
  }
}
