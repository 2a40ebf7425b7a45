package io.trainq.deploy;

import io.fabric8.kubeapitest.KubeAPIServer;
import io.fabric8.kubeapitest.KubeAPIServerConfigBuilder;
import io.fabric8.kubernetes.client.Config;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * One real kube-apiserver + etcd (kube-api-test, offline, binaries from scripts/kube-binaries.sh) for
 * all deploy tests, with RBAC authorization on; driven by the real kubectl.
 */
final class KubeApi implements AutoCloseable {

  private static KubeApi shared;

  private final KubeAPIServer server;
  final Path kubeconfig;
  /** The admin connection (server URL, CA), parsed from the kubeconfig. */
  final Config config;

  private KubeApi() {
    Path bin = Tools.kubeBinDir();
    for (String b : List.of("kube-apiserver", "etcd")) {
      if (!Files.isExecutable(bin.resolve(b))) {
        throw new AssertionError(b + " " + Tools.KUBE_VERSION + " not found in " + bin + ": run scripts/kube-binaries.sh");
      }
    }
    server = new KubeAPIServer(KubeAPIServerConfigBuilder.anAPIServerConfig()
        .withApiServerVersion(Tools.KUBE_VERSION)
        .withOfflineMode(true)
        .withUpdateKubeConfig(false)
        .build());
    server.start();
    try {
      kubeconfig = Files.createTempFile("trainq-deploy-tests", ".kubeconfig");
      Files.writeString(kubeconfig, server.getKubeConfigYaml());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    config = Config.fromKubeconfig(server.getKubeConfigYaml());
  }

  /** The shared server, stopped when the test run ends. */
  static synchronized KubeApi get(ExtensionContext context) {
    if (shared == null) {
      shared = new KubeApi();
      context.getRoot().getStore(ExtensionContext.Namespace.GLOBAL).put(KubeApi.class.getName(), shared);
    }
    return shared;
  }

  Tools.Result kubectl(String... args) {
    return kubectlWithInput(null, args);
  }

  Tools.Result kubectlWithInput(String stdin, String... args) {
    List<String> cmd = new ArrayList<>(List.of(Tools.kubectl().toString(), "--kubeconfig", kubeconfig.toString()));
    cmd.addAll(List.of(args));
    return Tools.run(cmd, stdin, Map.of(), 120);
  }

  /** Creates a namespace with a random suffix and returns its name. */
  String newNamespace(String prefix) {
    String ns = prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
    kubectl("create", "namespace", ns).assertOk("create namespace " + ns);
    return ns;
  }

  void applyCrd(Path file) {
    kubectl("apply", "--server-side", "--force-conflicts", "-f", file.toString()).assertOk("apply " + file);
    // Polled rather than `kubectl wait`, which fails while a fresh CRD has no conditions yet.
    String names = kubectl("get", "-f", file.toString(), "-o", "name").assertOk("get " + file).stdout().trim();
    for (String crd : names.split("\\s+")) {
      long deadline = System.nanoTime() + 60_000_000_000L;
      while (!"True".equals(kubectl("get", crd, "-o", "jsonpath={.status.conditions[?(@.type==\"Established\")].status}").stdout().trim())) {
        if (System.nanoTime() > deadline) {
          throw new AssertionError(crd + " not Established within 60 s");
        }
        try {
          Thread.sleep(200);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new AssertionError(e);
        }
      }
    }
  }

  @Override
  public void close() {
    try {
      Files.deleteIfExists(kubeconfig);
    } catch (IOException ignored) {
      // the temp file goes with the JVM's temp dir
    } finally {
      server.stop();
      synchronized (KubeApi.class) {
        shared = null;
      }
    }
  }
}
