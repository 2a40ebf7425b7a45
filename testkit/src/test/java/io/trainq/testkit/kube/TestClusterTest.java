package io.trainq.testkit.kube;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trainq.testkit.kube.TestCluster.Kind;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/** How {@link TestCluster} chooses a cluster from the environment. */
class TestClusterTest {

  @Test
  void kubeconfigWinsAndDockerIsNotAsked() {
    AtomicBoolean asked = new AtomicBoolean();
    Kind kind = TestCluster.choose(Map.of("KUBECONFIG", "/home/me/.kube/lab"), () -> asked.getAndSet(true), () -> asked.getAndSet(true));
    assertThat(kind).isEqualTo(Kind.KUBECONFIG);
    assertThat(asked).isFalse();
  }

  @Test
  void k3sWhenDockerAnswers() {
    assertThat(TestCluster.choose(Map.of(), () -> true, () -> false)).isEqualTo(Kind.K3S);
    assertThat(TestCluster.choose(Map.of("KUBECONFIG", " "), () -> true, () -> false)).isEqualTo(Kind.K3S);
  }

  @Test
  void localClusterWhenThereIsNoDockerButItCanRun() {
    assertThat(TestCluster.choose(Map.of(), () -> false, () -> true)).isEqualTo(Kind.LOCAL);
    // Docker's k3s comes first: it needs neither root nor the node binaries.
    assertThat(TestCluster.choose(Map.of(), () -> true, () -> true)).isEqualTo(Kind.K3S);
    assertThat(TestCluster.choose(Map.of(TestCluster.CLUSTER_ENV, "local"), () -> true, () -> false)).isEqualTo(Kind.LOCAL);
  }

  @Test
  void apiServerOtherwise() {
    assertThat(TestCluster.choose(Map.of(), () -> false, () -> false)).isEqualTo(Kind.API_SERVER);
  }

  @Test
  void forcedChoiceOverridesKubeconfig() {
    Map<String, String> env = Map.of("KUBECONFIG", "/home/me/.kube/prod", TestCluster.CLUSTER_ENV, "api-server");
    assertThat(TestCluster.choose(env, () -> true, () -> false)).isEqualTo(Kind.API_SERVER);
    assertThat(TestCluster.choose(Map.of(TestCluster.CLUSTER_ENV, "K3S"), () -> false, () -> false)).isEqualTo(Kind.K3S);
  }

  @Test
  void badForcedChoiceSaysWhatIsAllowed() {
    assertThatThrownBy(() -> TestCluster.choose(Map.of(TestCluster.CLUSTER_ENV, "kind"), () -> false, () -> false))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("TRAINQ_TEST_CLUSTER=kind is not one of kubeconfig, k3s, local, api-server");
    assertThatThrownBy(() -> TestCluster.choose(Map.of(TestCluster.CLUSTER_ENV, "kubeconfig"), () -> false, () -> false))
        .hasMessageContaining("needs KUBECONFIG");
  }

  @Test
  void binaryDirIsWhereKubeApiTestLooks() {
    assertThat(TestCluster.binaryDir().toString())
        .startsWith(System.getProperty("user.home"))
        .endsWith("/.kubeapitest/k8s/1.35.4-" + TestCluster.platform());
    if (System.getProperty("os.name").equals("Linux") && System.getProperty("os.arch").equals("amd64")) {
      assertThat(TestCluster.platform()).isEqualTo("linux-amd64");
    }
  }
}
