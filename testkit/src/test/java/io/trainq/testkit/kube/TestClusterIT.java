package io.trainq.testkit.kube;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.trainq.testkit.kube.TestCluster.Kind;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.opentest4j.TestAbortedException;

/**
 * The cluster the environment gives (here, without KUBECONFIG or Docker: kube-api-test's API server)
 * answers through the fabric8 client, kubectl and helm alike.
 */
class TestClusterIT {
  private static TestCluster cluster;
  private static String namespace;

  @BeforeAll
  static void start() {
    long t0 = System.nanoTime();
    cluster = TestCluster.start();
    System.out.printf("%s ready in %d ms%n", cluster, (System.nanoTime() - t0) / 1_000_000);
    namespace = cluster.createNamespace("testcluster");
  }

  @AfterAll
  static void stop() {
    if (cluster != null) {
      Path kubeconfig = cluster.kubeconfigPath();
      // KUBECONFIG's and the local cluster's kubeconfig outlive the test cluster; the others are ours
      boolean owned = cluster.kind() != Kind.KUBECONFIG && cluster.kind() != Kind.LOCAL;
      cluster.close();
      if (owned) {
        assertThat(kubeconfig).as("the kubeconfig with admin credentials is removed").doesNotExist();
      }
    }
  }

  @Test
  void clientTalksToTheCluster() {
    String version = cluster.client().getKubernetesVersion().getGitVersion();
    if (cluster.kind() == Kind.KUBECONFIG) {
      assertThat(version).startsWith("v1.");
    } else {
      assertThat(version).startsWith("v" + TestCluster.KUBE_VERSION);
    }
    assertThat(cluster.client().namespaces().withName(namespace).get()).isNotNull();
  }

  @Test
  void runsPodsExceptOnTheApiServer() {
    // what the cluster has, not how runsPods() is written: pods run only where a node (a kubelet) is registered
    boolean hasNodes = !cluster.client().nodes().list().getItems().isEmpty();
    assertThat(cluster.runsPods()).as("runsPods() with %s node(s)", hasNodes ? "some" : "no").isEqualTo(hasNodes);
    if (cluster.kind() == Kind.API_SERVER) {
      assertThat(hasNodes).as("a bare API server has no nodes").isFalse();
    }
    if (!cluster.runsPods()) {
      assertThatThrownBy(cluster::assumeRunsPods)
          .isInstanceOf(TestAbortedException.class)
          .hasMessageContaining(TestCluster.NO_KUBELET);
    }
  }

  @Test
  void kubectlUsesTheKubeconfig() throws Exception {
    String out = run(TestCluster.kubectl().toString(), "--kubeconfig", cluster.kubeconfigPath().toString(),
        "get", "namespace", namespace, "-o", "name");
    assertThat(out.strip()).isEqualTo("namespace/" + namespace);
  }

  @Test
  void helmUsesTheKubeconfig() throws Exception {
    String out = run(TestCluster.helm().toString(), "--kubeconfig", cluster.kubeconfigPath().toString(),
        "list", "--namespace", namespace, "--output", "json");
    assertThat(out.strip()).isEqualTo("[]");
  }

  /** Not run on the API server tier, and reported so, with the reason. */
  @Test
  void podRunsWhereThereIsAKubelet() {
    cluster.assumeRunsPods();
    Pod pod = cluster.client().resource(new PodBuilder()
        .withNewMetadata().withName("pause").withNamespace(namespace).endMetadata()
        .withNewSpec().withHostNetwork(cluster.hostNetworkOnly() ? true : null)
        .addNewContainer().withName("pause").withImage(cluster.pauseImage()).withImagePullPolicy("IfNotPresent").endContainer()
        .endSpec().build()).create();
    Pod running = cluster.client().resource(pod).waitUntilCondition(
        p -> p != null && "Running".equals(p.getStatus().getPhase()), 3, TimeUnit.MINUTES);
    assertThat(running.getSpec().getNodeName()).isNotBlank();
    assertThat(running.getStatus().getContainerStatuses()).singleElement()
        .satisfies(s -> assertThat(s.getReady()).as("container ready").isTrue());
    if (cluster.kind() == Kind.LOCAL) {
      // scripts/kube-local.sh advertises fake GPUs, which the worker pods request
      assertThat(cluster.client().nodes().withName(running.getSpec().getNodeName()).get()
          .getStatus().getAllocatable()).containsKey("nvidia.com/gpu");
    }
  }

  private static String run(String... command) throws IOException, InterruptedException {
    List<String> cmd = List.of(command);
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("%s finished", cmd).isTrue();
    assertThat(p.exitValue()).as("exit status of %s, output:%n%s", cmd, out).isZero();
    return out;
  }
}
