package io.trainq.testkit.kube;

import io.fabric8.kubeapitest.KubeAPIServer;
import io.fabric8.kubeapitest.KubeAPIServerConfigBuilder;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.k3s.K3sContainer;
import org.testcontainers.utility.DockerImageName;

/**
 * The one place that answers "give me a Kubernetes cluster" for integration and end-to-end tests.
 *
 * <p>It chooses, in this order:
 *
 * <ol>
 *   <li>{@link Kind#KUBECONFIG}: the cluster of the kubeconfig file the {@code KUBECONFIG} environment
 *       variable names (any real cluster; its current context is used). Pods run there.
 *   <li>{@link Kind#K3S}: k3s in a container through Testcontainers, when a Docker engine is
 *       reachable. Pods run there.
 *   <li>{@link Kind#LOCAL}: the single-node cluster of {@code scripts/kube-local.sh} (containerd, a
 *       kubelet with fake {@code nvidia.com/gpu}, scheduler, controller manager, all on 127.0.0.1),
 *       when it is up or can be started here (root, containerd installed, the node binaries built). It
 *       is started if needed and left running for the next JVM ({@code scripts/kube-local.sh down}
 *       stops it). Pods run there, hostNetwork only ({@link #hostNetworkOnly()}), from locally
 *       imported images ({@link #pauseImage()}).
 *   <li>{@link Kind#API_SERVER}: a kube-apiserver and etcd started by fabric8's kube-api-test from
 *       the binaries {@code scripts/kube-binaries.sh} builds, offline. Everything the API server does
 *       itself is real (schema validation, defaulting, CEL rules, RBAC, watches, server-side apply),
 *       but there is no scheduler, no kubelet and no controller manager: pods are stored, never run.
 *       Tests that need running pods call {@link #assumeRunsPods()} and are reported as not run,
 *       with the reason.
 * </ol>
 *
 * <p>{@code TRAINQ_TEST_CLUSTER=kubeconfig|k3s|local|api-server} forces a choice, for instance
 * {@code api-server} to keep tests off the cluster of a {@code KUBECONFIG} exported in the shell.
 */
public final class TestCluster implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(TestCluster.class);

  /** Where the cluster comes from. */
  public enum Kind {
    KUBECONFIG,
    K3S,
    LOCAL,
    API_SERVER
  }

  /** The Kubernetes version of the API server tier and of the kubectl the tests use. */
  public static final String KUBE_VERSION = "1.35.4";

  /** Forces a {@link Kind}: {@code kubeconfig}, {@code k3s}, {@code local} or {@code api-server}. */
  public static final String CLUSTER_ENV = "TRAINQ_TEST_CLUSTER";

  /** The k3s image for {@link Kind#K3S}; defaults to {@link #DEFAULT_K3S_IMAGE}. */
  public static final String K3S_IMAGE_ENV = "TRAINQ_K3S_IMAGE";

  public static final String DEFAULT_K3S_IMAGE = "rancher/k3s:v" + KUBE_VERSION + "-k3s1";

  /** Why a test that needs running pods is not run on the API server tier. */
  public static final String NO_KUBELET =
      "needs a cluster that runs pods (KUBECONFIG, a Docker engine for k3s, or scripts/kube-local.sh as root);"
          + " the kube-api-test server has no kubelet";

  /** Where {@link Kind#LOCAL} pods reach the API server: there is no kube-proxy for 10.96.0.1. */
  public static final Map<String, String> LOCAL_API_ENV =
      Map.of("KUBERNETES_SERVICE_HOST", "127.0.0.1", "KUBERNETES_SERVICE_PORT", "16443");

  /** The sandbox image scripts/kube-local.sh builds and imports; there is no registry to pull from. */
  public static final String LOCAL_PAUSE_IMAGE = "localhost/trainq-pause:1";

  private static TestCluster shared;

  private final Kind kind;
  private final KubernetesClient client;
  private final Path kubeconfig;
  private final boolean ownsKubeconfig;
  private final AutoCloseable backend;
  private final List<String> namespaces = new CopyOnWriteArrayList<>();

  private TestCluster(Kind kind, KubernetesClient client, Path kubeconfig, boolean ownsKubeconfig, AutoCloseable backend) {
    this.kind = kind;
    this.client = client;
    this.kubeconfig = kubeconfig;
    this.ownsKubeconfig = ownsKubeconfig;
    this.backend = backend;
  }

  /**
   * One cluster for the whole JVM, started on first use and closed when the JVM exits. Test classes
   * share it and keep apart through their own namespaces ({@link #createNamespace(String)}).
   */
  public static synchronized TestCluster shared() {
    if (shared == null) {
      TestCluster cluster = start();
      Runtime.getRuntime().addShutdownHook(new Thread(cluster::close, "trainq-test-cluster-stop"));
      shared = cluster;
    }
    return shared;
  }

  /** Starts (or connects to) the cluster the environment asks for; the caller closes it. */
  public static TestCluster start() {
    return start(choose(System.getenv(), TestCluster::dockerAvailable, TestCluster::localAvailable));
  }

  /** Starts (or connects to) a cluster of the given kind; the caller closes it. */
  public static TestCluster start(Kind kind) {
    long t0 = System.nanoTime();
    TestCluster cluster = switch (kind) {
      case KUBECONFIG -> fromKubeconfig();
      case K3S -> startK3s();
      case LOCAL -> startLocal();
      case API_SERVER -> startApiServer();
    };
    log.info("test cluster {} ready in {} ms (Kubernetes {})", kind, (System.nanoTime() - t0) / 1_000_000,
        cluster.client.getKubernetesVersion().getGitVersion());
    return cluster;
  }

  /**
   * The kind the environment asks for: {@value #CLUSTER_ENV} if set, else {@code KUBECONFIG} if set,
   * else k3s if a Docker engine answers, else the local cluster if it can run here, else the API server.
   */
  static Kind choose(Map<String, String> env, BooleanSupplier dockerAvailable, BooleanSupplier localAvailable) {
    String forced = env.get(CLUSTER_ENV);
    if (forced != null && !forced.isBlank()) {
      Kind kind = switch (forced.trim().toLowerCase(Locale.ROOT)) {
        case "kubeconfig" -> Kind.KUBECONFIG;
        case "k3s" -> Kind.K3S;
        case "local" -> Kind.LOCAL;
        case "api-server", "apiserver" -> Kind.API_SERVER;
        default -> throw new IllegalArgumentException(
            CLUSTER_ENV + "=" + forced + " is not one of kubeconfig, k3s, local, api-server");
      };
      if (kind == Kind.KUBECONFIG && blank(env.get("KUBECONFIG"))) {
        throw new IllegalArgumentException(CLUSTER_ENV + "=kubeconfig needs KUBECONFIG to name a kubeconfig file");
      }
      return kind;
    }
    if (!blank(env.get("KUBECONFIG"))) {
      return Kind.KUBECONFIG;
    }
    if (dockerAvailable.getAsBoolean()) {
      return Kind.K3S;
    }
    return localAvailable.getAsBoolean() ? Kind.LOCAL : Kind.API_SERVER;
  }

  /** A fabric8 client with the kubeconfig's rights (cluster-admin on k3s and the API server). */
  public KubernetesClient client() {
    return client;
  }

  /** A kubeconfig file for this cluster, usable by kubectl and helm ({@code --kubeconfig}). */
  public Path kubeconfigPath() {
    return kubeconfig;
  }

  /** Whether pods are scheduled and run (false on the API server tier: no kubelet). */
  public boolean runsPods() {
    return kind != Kind.API_SERVER;
  }

  public Kind kind() {
    return kind;
  }

  /**
   * Whether only hostNetwork pods run (the local cluster's network is loopback only); such pods also
   * need {@link #LOCAL_API_ENV} to reach the API server.
   */
  public boolean hostNetworkOnly() {
    return kind == Kind.LOCAL;
  }

  /** An image every pod-running cluster of this kind has or can pull: a pause container. */
  public String pauseImage() {
    return kind == Kind.LOCAL ? LOCAL_PAUSE_IMAGE : "registry.k8s.io/pause:3.10";
  }

  /**
   * Aborts the calling test, reported as skipped with {@link #NO_KUBELET} as the reason, when this
   * cluster does not run pods. The only place a test is skipped rather than failed.
   */
  public void assumeRunsPods() {
    Assumptions.assumeTrue(runsPods(), () -> NO_KUBELET + " (cluster: " + kind + ")");
  }

  /**
   * Waits until the API server serves the named CRD ({@code Established=True}). A fresh CRD can
   * have a status without conditions for a moment; that reads as not yet.
   */
  public static void awaitEstablished(KubernetesClient client, String crdName) {
    client.apiextensions().v1().customResourceDefinitions().withName(crdName)
        .waitUntilCondition(c -> c != null && c.getStatus() != null && c.getStatus().getConditions() != null
            && c.getStatus().getConditions().stream()
                .anyMatch(x -> "Established".equals(x.getType()) && "True".equals(x.getStatus())),
            60, TimeUnit.SECONDS);
  }

  /**
   * Creates a namespace named {@code prefix-<random>} and returns its name. On a cluster this class
   * did not start and will not stop ({@link Kind#KUBECONFIG}, {@link Kind#LOCAL}) {@link #close()}
   * deletes it again. Where pods run, it returns once the controller manager has made the
   * namespace's {@code default} ServiceAccount, without which pods are refused.
   */
  public String createNamespace(String prefix) {
    String name = prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
    client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(name).endMetadata().build()).create();
    namespaces.add(name);
    if (runsPods()) {
      client.serviceAccounts().inNamespace(name).withName("default")
          .waitUntilCondition(sa -> sa != null, 60, TimeUnit.SECONDS);
    }
    return name;
  }

  /**
   * Closes the client and stops what this class started (k3s, the API server). Of a user's cluster
   * only the namespaces {@link #createNamespace(String)} made are deleted.
   */
  @Override
  public void close() {
    if (kind == Kind.KUBECONFIG || kind == Kind.LOCAL) {
      for (String ns : namespaces) {
        try {
          client.namespaces().withName(ns).delete();
        } catch (RuntimeException e) {
          log.warn("could not delete namespace {}", ns, e);
        }
      }
    }
    client.close();
    try {
      backend.close();
    } catch (Exception e) {
      log.warn("stopping the {} test cluster failed", kind, e);
    }
    if (ownsKubeconfig) {
      try {
        Files.deleteIfExists(kubeconfig);
      } catch (IOException e) {
        log.warn("could not delete {}", kubeconfig, e);
      }
    }
  }

  @Override
  public String toString() {
    return kind + " " + client.getMasterUrl();
  }

  /** {@code ~/.kubeapitest/k8s/1.35.4-<os>-<arch>}: where kube-api-test finds kube-apiserver, etcd and kubectl. */
  public static Path binaryDir() {
    return kubeApiTestDir().resolve("k8s").resolve(KUBE_VERSION + "-" + platform());
  }

  /** kubectl {@value #KUBE_VERSION}, built by {@code scripts/kube-binaries.sh}. */
  public static Path kubectl() {
    return requireBinary(binaryDir().resolve("kubectl"), "kubectl " + KUBE_VERSION);
  }

  /** helm, built by {@code scripts/kube-binaries.sh} into {@code ${TRAINQ_CACHE:-~/.cache/trainq}/bin}. */
  public static Path helm() {
    String cache = System.getenv("TRAINQ_CACHE");
    Path dir = blank(cache) ? Path.of(System.getProperty("user.home"), ".cache", "trainq") : Path.of(cache);
    return requireBinary(dir.resolve("bin").resolve("helm"), "helm");
  }

  private static TestCluster fromKubeconfig() {
    String value = System.getenv("KUBECONFIG");
    if (blank(value) || value.contains(File.pathSeparator)) {
      throw new IllegalStateException("KUBECONFIG must name exactly one kubeconfig file (it is '" + value + "')");
    }
    Path path = Path.of(value).toAbsolutePath();
    if (!Files.isReadable(path)) {
      throw new IllegalStateException("KUBECONFIG=" + value + ": no readable file there");
    }
    KubernetesClient client = new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(path.toFile())).build();
    try {
      client.getKubernetesVersion();
    } catch (RuntimeException e) {
      client.close();
      throw new IllegalStateException("KUBECONFIG=" + value + ": the cluster at " + client.getMasterUrl()
          + " does not answer: " + e.getMessage(), e);
    }
    return new TestCluster(Kind.KUBECONFIG, client, path, false, () -> { });
  }

  private static TestCluster startK3s() {
    String image = System.getenv(K3S_IMAGE_ENV);
    DockerImageName name = DockerImageName.parse(blank(image) ? DEFAULT_K3S_IMAGE : image)
        .asCompatibleSubstituteFor("rancher/k3s");
    K3sContainer k3s = new K3sContainer(name);
    k3s.start();
    try {
      String yaml = k3s.getKubeConfigYaml();
      return new TestCluster(Kind.K3S, clientFor(yaml), writeKubeconfig(yaml), true, k3s::stop);
    } catch (RuntimeException e) {
      k3s.stop();
      throw e;
    }
  }

  /**
   * Brings the local cluster up with {@code scripts/kube-local.sh up} (a no-op when it runs) and
   * connects with its admin kubeconfig. It stays up: other JVMs of the same build use it too.
   */
  private static TestCluster startLocal() {
    Path script = localScript()
        .orElseThrow(() -> new IllegalStateException("scripts/kube-local.sh not found above " + Path.of("").toAbsolutePath()));
    String out = runScript(script, Duration.ofMinutes(15), "up");
    log.info("scripts/kube-local.sh up:\n{}", out);
    Path kubeconfig = Path.of(runScript(script, Duration.ofSeconds(10), "kubeconfig").strip());
    KubernetesClient client = new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(kubeconfig.toFile())).build();
    return new TestCluster(Kind.LOCAL, client, kubeconfig, false, () -> { });
  }

  /**
   * Whether the local cluster can run here without installing or building anything: Linux, root,
   * the script, containerd, and the kubelet built by {@code scripts/kube-binaries.sh --node}.
   */
  static boolean localAvailable() {
    if (!System.getProperty("os.name").equals("Linux") || localScript().isEmpty()) {
      return false;
    }
    try {
      if (((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).intValue() != 0) {
        return false;
      }
    } catch (IOException | UnsupportedOperationException e) {
      return false;
    }
    boolean containerd = Stream.of(System.getenv().getOrDefault("PATH", "").split(File.pathSeparator))
        .anyMatch(dir -> !dir.isEmpty() && Files.isExecutable(Path.of(dir, "containerd")));
    return containerd && Files.isExecutable(binaryDir().resolve("kubelet"));
  }

  /** scripts/kube-local.sh of the checkout the tests run in (Maven runs them in a module directory). */
  static Optional<Path> localScript() {
    for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
      Path script = dir.resolve("scripts").resolve("kube-local.sh");
      if (Files.isExecutable(script)) {
        return Optional.of(script);
      }
    }
    return Optional.empty();
  }

  private static String runScript(Path script, Duration limit, String... args) {
    List<String> command = new ArrayList<>(List.of(script.toString()));
    command.addAll(List.of(args));
    try {
      Path output = Files.createTempFile("trainq-kube-local-", ".log");
      try {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile()).start();
        if (!p.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS)) {
          p.destroyForcibly();
          throw new IllegalStateException(String.join(" ", command) + " did not finish in " + limit
              + ":\n" + Files.readString(output));
        }
        String out = Files.readString(output);
        if (p.exitValue() != 0) {
          throw new IllegalStateException(String.join(" ", command) + " failed (exit " + p.exitValue() + "):\n" + out);
        }
        return out;
      } finally {
        Files.deleteIfExists(output);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while running " + command, e);
    }
  }

  private static TestCluster startApiServer() {
    Path bin = binaryDir();
    for (String binary : new String[] {"kube-apiserver", "etcd", "kubectl"}) {
      if (!Files.isExecutable(bin.resolve(binary))) {
        throw new IllegalStateException(
            binary + " " + KUBE_VERSION + " not found in " + tilde(bin) + ": run scripts/kube-binaries.sh");
      }
    }
    // Set through the builder, not kube-api-test's environment variables: its boolean ones throw
    // (fabric8 <= 7.8), and an explicit value also wins over a KUBE_API_TEST_DIR set elsewhere.
    KubeAPIServer server = new KubeAPIServer(KubeAPIServerConfigBuilder.anAPIServerConfig()
        .withTestDir(kubeApiTestDir().toString())
        .withApiServerVersion(KUBE_VERSION)
        .withOfflineMode(true)
        .withUpdateKubeConfig(false)
        .withWaitForEtcdHealthCheckOnStartup(true)
        // Generous: the machines running the tests have 2 cores, often busy with a build.
        .withStartupTimeout(120_000)
        .build());
    server.start();
    try {
      String yaml = server.getKubeConfigYaml();
      return new TestCluster(Kind.API_SERVER, clientFor(yaml), writeKubeconfig(yaml), true, server::stop);
    } catch (RuntimeException e) {
      server.stop();
      throw e;
    }
  }

  private static KubernetesClient clientFor(String kubeconfigYaml) {
    return new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(kubeconfigYaml)).build();
  }

  private static Path writeKubeconfig(String yaml) {
    try {
      // Owner-only: the file holds the cluster's admin credentials.
      Path file = Files.createTempFile("trainq-test-cluster-", ".kubeconfig",
          PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
      Files.writeString(file, yaml);
      return file;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static boolean dockerAvailable() {
    // Said first because Testcontainers logs an ERROR when it finds no engine, which is expected here.
    log.info("no KUBECONFIG: looking for a Docker engine to run k3s (an ERROR from Testcontainers follows when there is none)");
    boolean available;
    try {
      available = DockerClientFactory.instance().isDockerAvailable();
    } catch (RuntimeException | LinkageError e) {
      log.debug("no Docker engine", e);
      available = false;
    }
    if (!available) {
      log.info("no Docker engine: the local cluster (scripts/kube-local.sh) if it can run here, else the kube-api-test API server");
    }
    return available;
  }

  private static Path requireBinary(Path path, String what) {
    if (!Files.isExecutable(path)) {
      throw new IllegalStateException(what + " not found at " + tilde(path) + ": run scripts/kube-binaries.sh");
    }
    return path;
  }

  private static Path kubeApiTestDir() {
    return Path.of(System.getProperty("user.home"), ".kubeapitest");
  }

  /** The suffix kube-api-test gives its binary directories, e.g. {@code linux-amd64}. */
  static String platform() {
    String os = System.getProperty("os.name").toLowerCase(Locale.ROOT);
    String arch = System.getProperty("os.arch").toLowerCase(Locale.ROOT);
    String goOs = os.contains("mac") || os.contains("darwin") ? "darwin" : os.contains("win") ? "windows" : "linux";
    String goArch = switch (arch) {
      case "x86_64", "amd64" -> "amd64";
      case "aarch64", "arm64" -> "arm64";
      default -> arch;
    };
    return goOs + "-" + goArch;
  }

  private static String tilde(Path path) {
    String home = System.getProperty("user.home");
    String p = path.toString();
    return p.startsWith(home + File.separator) ? "~" + p.substring(home.length()) : p;
  }

  private static boolean blank(String s) {
    return s == null || s.isBlank();
  }
}
