package io.trainq.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubeapitest.KubeAPIServer;
import io.fabric8.kubeapitest.KubeAPIServerConfigBuilder;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.trainq.api.TrainingJob;
import io.trainq.testkit.kube.TestCluster;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;

/**
 * One real kube-apiserver + etcd (kube-api-test, offline, binaries in ~/.kubeapitest from
 * scripts/kube-binaries.sh) shared by the operator's integration tests, with RBAC authorization and
 * the TrainingJob CRD from crds/. There is no kubelet: pods are stored, never run.
 *
 * <p>A test that changes what all namespaces see (CRDs, cluster-scoped objects of a controller like
 * Kueue) takes a {@link #privateInstance()} instead, so nothing leaks into the other tests.
 */
public final class KubeTestServer implements AutoCloseable {
  public static final String VERSION = "1.35.4";
  private static KubeTestServer shared;

  private final KubeAPIServer server;
  private final String kubeconfigYaml;
  private final Path kubeconfigFile;
  private final KubernetesClient client;
  private final Thread stopHook;

  private KubeTestServer() {
    Path bin = Path.of(System.getProperty("user.home"), ".kubeapitest", "k8s", VERSION + "-linux-amd64");
    for (String b : new String[] {"kube-apiserver", "etcd"}) {
      if (!Files.isExecutable(bin.resolve(b))) {
        throw new AssertionError(b + " " + VERSION + " not found in " + bin + ": run scripts/kube-binaries.sh");
      }
    }
    server = new KubeAPIServer(KubeAPIServerConfigBuilder.anAPIServerConfig()
        .withApiServerVersion(VERSION)
        .withOfflineMode(true)
        .withUpdateKubeConfig(false)
        .build());
    server.start();
    stopHook = new Thread(server::stop, "kube-api-test-stop");
    Runtime.getRuntime().addShutdownHook(stopHook);
    kubeconfigYaml = server.getKubeConfigYaml();
    try {
      kubeconfigFile = Files.createTempFile("trainq-operator-it", ".kubeconfig");
      Files.writeString(kubeconfigFile, kubeconfigYaml);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    client = new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(kubeconfigYaml)).build();
    applyCrd();
  }

  /** The shared server (started on first use; stopped when the JVM exits). */
  public static synchronized KubeTestServer get() {
    if (shared == null) {
      shared = new KubeTestServer();
    }
    return shared;
  }

  /**
   * A server of the caller's own (another kube-apiserver and etcd, 5 to 7 s to start), with the
   * TrainingJob CRD; the caller closes it.
   */
  public static KubeTestServer privateInstance() {
    return new KubeTestServer();
  }

  /** Stops a {@link #privateInstance()}; the shared server stops when the JVM exits. */
  @Override
  public void close() {
    synchronized (KubeTestServer.class) {
      if (this == shared) {
        throw new IllegalStateException("the shared KubeTestServer stops when the JVM exits");
      }
    }
    client.close();
    server.stop();
    try {
      Runtime.getRuntime().removeShutdownHook(stopHook);
    } catch (IllegalStateException e) {
      // the JVM is shutting down: the hook runs anyway
    }
    try {
      Files.deleteIfExists(kubeconfigFile);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** A client with cluster-admin rights (system:masters). */
  public KubernetesClient client() {
    return client;
  }

  public String kubeconfigYaml() {
    return kubeconfigYaml;
  }

  public Path kubeconfigFile() {
    return kubeconfigFile;
  }

  /** A client acting as {@code user} through impersonation: only that user's RBAC applies. */
  public KubernetesClient impersonating(String user, String... groups) {
    Config c = Config.fromKubeconfig(kubeconfigYaml);
    c.setImpersonateUsername(user);
    c.setImpersonateGroups(groups);
    return new KubernetesClientBuilder().withConfig(c).build();
  }

  /** Creates a namespace with a random suffix. */
  public String newNamespace(String prefix) {
    String ns = prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
    client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(ns).endMetadata().build()).create();
    return ns;
  }

  /** The project root (set by the build; else the working directory's parent). */
  public static Path projectRoot() {
    String root = System.getProperty("trainq.project.root");
    return root != null ? Path.of(root) : Path.of("").toAbsolutePath().getParent();
  }

  private void applyCrd() {
    Path file = projectRoot().resolve("crds").resolve(TrainingJob.CRD_NAME + "-v1.yml");
    try (var in = Files.newInputStream(file)) {
      CustomResourceDefinition crd = client.apiextensions().v1().customResourceDefinitions().load(in).item();
      client.resource(crd).serverSideApply();
      TestCluster.awaitEstablished(client, TrainingJob.CRD_NAME);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    assertThat(client.apiextensions().v1().customResourceDefinitions().withName(TrainingJob.CRD_NAME).get()).isNotNull();
  }
}
