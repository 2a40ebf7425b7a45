package io.trainq.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The chart on a real kube-apiserver (RBAC on): `helm install` as a user runs it, every rendering
 * accepted by `kubectl apply --dry-run=server`, and the ServiceAccount's permissions checked by
 * impersonation — what it may do, and what it may not.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@ExtendWith(KubeApiExtension.class)
class ChartOnApiServerIT {

  KubeApi api;
  String releaseNs;

  @BeforeAll
  void install(ExtensionContext context) {
    api = KubeApi.get(context);
    releaseNs = api.newNamespace("trainq");
    // The chart's optional ServiceMonitor is validated against the Prometheus Operator's schema.
    api.applyCrd(Tools.serviceMonitorCrd());
    // What the README says: helm install, which also installs the CRD from crds/.
    Tools.Result r = Tools.run(List.of(Tools.helm().toString(), "install", Helm.RELEASE, Tools.chart().toString(),
        "--namespace", releaseNs, "--kubeconfig", api.kubeconfig.toString(), "--wait=false"), null, Map.of(), 180);
    r.assertOk("helm install");
    assertThat(r.stdout()).contains("STATUS: deployed");
    // NOTES.txt tells the user what to do next.
    assertThat(r.stdout().substring(r.stdout().indexOf("NOTES:"))).contains(
        "rollout status deployment/trainq-operator", "deploy/rabbitmq-cluster.yaml", "trainq-rabbitmq-default-user",
        "kubectl get trainingjobs", "kubectl apply --server-side --force-conflicts -f helm/trainq/crds/");
  }

  @org.junit.jupiter.api.AfterAll
  void uninstall() {
    // The release's ClusterRole and ClusterRoleBinding would collide with another test's release.
    if (releaseNs != null) {
      Tools.run(List.of(Tools.helm().toString(), "uninstall", Helm.RELEASE, "--namespace", releaseNs,
          "--kubeconfig", api.kubeconfig.toString()), null, Map.of(), 120).assertOk("helm uninstall");
    }
  }

  @Test
  void helmInstallCreatesTheCrdAndEveryObject() {
    api.kubectl("get", "crd", "trainingjobs.trainq.io", "-o", "name").assertOk("TrainingJob CRD installed by helm");
    for (String obj : List.of("deployment/trainq-operator", "serviceaccount/trainq-operator", "configmap/trainq-operator",
        "service/trainq-operator-metrics", "role/trainq-operator-self", "rolebinding/trainq-operator-self")) {
      api.kubectl("-n", releaseNs, "get", obj, "-o", "name").assertOk(obj);
    }
    api.kubectl("get", "clusterrole/trainq-operator", "clusterrolebinding/trainq-operator").assertOk("cluster RBAC");
  }

  @Test
  void everyRenderingIsValidOnTheServer() {
    String ns = api.newNamespace("render");
    // Pod Security admission warns about any workload that the "restricted" standard would refuse.
    api.kubectl("label", "namespace", ns, "pod-security.kubernetes.io/warn=restricted").assertOk("label namespace");
    for (String watched : List.of("team-a", "team-b")) {
      api.kubectl("create", "namespace", watched + "-" + ns);
    }
    List<Map<String, String>> valueSets = List.of(
        values(),
        values("watchNamespaces", "{team-a-" + ns + ",team-b-" + ns + "}", "replicaCount", "2",
            "metrics.dashboard.enabled", "true", "metrics.serviceMonitor.enabled", "true",
            "metrics.serviceMonitor.labels.release", "prometheus", "metrics.serviceMonitor.interval", "15s", "image.tag", "0.2.0", "workerImage.digest", "sha256:" + "0f".repeat(32),
            "leaderElection.leaseDuration", "30s", "logLevel", "DEBUG", "jvmOptions", "-Xss512k",
            "podDisruptionBudget.enabled", "true"),
        values("leaderElection.enabled", "false", "metrics.service.enabled", "false", "rbac.create", "false",
            "serviceAccount.create", "false", "serviceAccount.name", "default", "rabbitmq.addresses", "a:5672\\,b:5672",
            "extraEnv[0].name", "TRAINQ_EXTRA", "extraEnv[0].value", "x", "nodeSelector.pool", "system",
            "tolerations[0].key", "dedicated", "tolerations[0].operator", "Exists"));
    for (Map<String, String> values : valueSets) {
      Manifests m = Helm.template(ns, values);
      Tools.Result r = api.kubectlWithInput(m.yaml, "apply", "--dry-run=server", "-f", "-");
      r.assertOk("server dry run of the chart with " + values);
      // Every object came back from the server, and nothing was skipped.
      assertThat(r.stdout().lines().filter(l -> l.endsWith("(server dry run)")).count()).as("%s", values).isEqualTo(m.all().size());
      assertThat(m.kinds()).contains("Deployment", "ConfigMap");
      assertThat(r.stderr()).as("%s", values).doesNotContain("PodSecurity");
    }
    // The control: the same check speaks up when the pod may run as root.
    Manifests root = Helm.template(ns, values("podSecurityContext.runAsNonRoot", "false", "securityContext.runAsNonRoot", "false"));
    Tools.Result r = api.kubectlWithInput(root.yaml, "apply", "--dry-run=server", "-f", "-");
    assertThat(r.stderr()).contains("would violate PodSecurity \"restricted:latest\"").contains("runAsNonRoot");
  }

  @Test
  void serviceAccountMayDoWhatTheOperatorNeedsClusterWide() {
    String sa = "system:serviceaccount:" + releaseNs + ":trainq-operator";
    String other = api.newNamespace("jobs");
    List<String> allowed = List.of(
        "get trainingjobs.trainq.io -n " + other,
        "list trainingjobs.trainq.io --all-namespaces",
        "watch trainingjobs.trainq.io --all-namespaces",
        "patch trainingjobs.trainq.io -n " + other,
        "update trainingjobs.trainq.io -n " + other,
        "delete trainingjobs.trainq.io -n " + other,
        "patch trainingjobs.trainq.io --subresource=status -n " + other,
        "update trainingjobs.trainq.io --subresource=status -n " + other,
        "update trainingjobs.trainq.io --subresource=finalizers -n " + other,
        "create pods -n " + other,
        "delete pods -n " + other,
        "list pods --all-namespaces",
        "watch pods --all-namespaces",
        "get secrets -n " + other,
        "create secrets -n " + other,
        "create events -n " + other,
        "patch events.events.k8s.io -n " + other,
        "create leases.coordination.k8s.io -n " + releaseNs,
        "get leases.coordination.k8s.io/trainq-operator -n " + releaseNs,
        "update leases.coordination.k8s.io/trainq-operator -n " + releaseNs,
        "patch leases.coordination.k8s.io/trainq-operator -n " + releaseNs,
        "get secrets/trainq-rabbitmq-default-user -n " + releaseNs);
    List<String> denied = List.of(
        "create trainingjobs.trainq.io -n " + other,
        "list secrets -n " + other,
        "watch secrets --all-namespaces",
        "update secrets -n " + other,
        "delete secrets -n " + other,
        "update pods -n " + other,
        "patch pods -n " + other,
        "create pods --subresource=exec -n " + other,
        "create deployments.apps -n " + other,
        "delete configmaps -n " + releaseNs,
        "get nodes",
        "create leases.coordination.k8s.io -n " + other,
        "update leases.coordination.k8s.io/someone-else -n " + releaseNs,
        "delete leases.coordination.k8s.io/trainq-operator -n " + releaseNs,
        "create clusterrolebindings.rbac.authorization.k8s.io",
        "impersonate users",
        "* *");
    assertCanI(sa, allowed, denied);
  }

  @Test
  void watchedNamespacesConfineTheServiceAccount() {
    String ns = api.newNamespace("trainq-scoped");
    String watched = api.newNamespace("team");
    String unwatched = api.newNamespace("elsewhere");
    Tools.run(List.of(Tools.helm().toString(), "install", Helm.RELEASE, Tools.chart().toString(), "--namespace", ns,
            "--kubeconfig", api.kubeconfig.toString(), "--skip-crds", "--set", "watchNamespaces={" + watched + "}"),
        null, Map.of(), 180).assertOk("helm install (namespaced)");
    String sa = "system:serviceaccount:" + ns + ":trainq-operator";
    assertCanI(sa,
        List.of("watch trainingjobs.trainq.io -n " + watched, "patch trainingjobs.trainq.io --subresource=status -n " + watched,
            "create pods -n " + watched, "get secrets -n " + watched, "create leases.coordination.k8s.io -n " + ns),
        List.of("watch trainingjobs.trainq.io -n " + unwatched, "list trainingjobs.trainq.io --all-namespaces",
            "create pods -n " + unwatched, "get secrets -n " + unwatched, "get secrets -n " + ns,
            "watch pods --all-namespaces"));
  }

  /** key, value, key, value, ... in order. */
  static Map<String, String> values(String... kv) {
    Map<String, String> m = new java.util.LinkedHashMap<>();
    for (int i = 0; i < kv.length; i += 2) {
      m.put(kv[i], kv[i + 1]);
    }
    return m;
  }

  void assertCanI(String user, List<String> allowed, List<String> denied) {
    List<String> wrong = new ArrayList<>();
    for (String q : allowed) {
      if (!canI(user, q)) {
        wrong.add("expected yes: " + q);
      }
    }
    for (String q : denied) {
      if (canI(user, q)) {
        wrong.add("expected no:  " + q);
      }
    }
    assertThat(wrong).as("kubectl auth can-i --as=%s", user).isEmpty();
  }

  boolean canI(String user, String query) {
    List<String> args = new ArrayList<>(List.of("auth", "can-i", "--as=" + user));
    args.addAll(List.of(query.split(" ")));
    Tools.Result r = api.kubectl(args.toArray(String[]::new));
    String answer = r.stdout().trim();
    if (!answer.equals("yes") && !answer.equals("no")) {
      throw new AssertionError("kubectl auth can-i " + query + ": " + r.output());
    }
    return answer.equals("yes");
  }

}
