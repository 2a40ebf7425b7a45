package io.trainq.testkit.kube;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.File;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The real Kueue controller manager ({@value #VERSION}) as a local process against a test
 * kube-apiserver, for integration tests of the operator's Kueue support.
 *
 * <p>The binary and Kueue's CRDs come from {@code scripts/kueue.sh build}, which puts them under
 * {@code ${TRAINQ_CACHE:-~/.cache/trainq}}; when they are missing, {@link #start} fails (a test that
 * needs Kueue must not pass by being skipped).
 *
 * <p>Kueue runs with its webhooks unregistered (the API server has no route to them): only
 * {@code kueue.x-k8s.io/v1beta2} objects, no validation or defaulting by Kueue. With internal
 * certificate management off it reads its metrics certificate from the fixed path
 * {@code /etc/kueue/metrics/certs}; the process therefore runs in a private mount namespace with an
 * overlay on {@code /etc}, so the host's {@code /etc} is left alone. Linux only; as root, or where
 * unprivileged user namespaces may mount overlays (Linux 5.11 and newer).
 *
 * <p>Kueue looks up the owner of every Workload (get/list/watch on its kind): it runs with the
 * kubeconfig it is given, which for the tests is the API server's admin.
 */
public final class KueueController implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(KueueController.class);

  public static final String VERSION = "v0.17.1";

  /** Kueue's own namespace (events, and Secrets it would use with internal cert management). */
  public static final String NAMESPACE = "kueue-system";

  public static final Duration START_TIMEOUT = Duration.ofSeconds(120);

  /**
   * The controllers whose "Starting workers" lines say Kueue admits Workloads (their caches have
   * synced; /readyz only says the webhook server listens) and manages batch Jobs.
   */
  private static final List<String> READY_LOGGERS = List.of("workload-reconciler", "clusterqueue-reconciler",
      "localqueue-reconciler", "resourceflavor-reconciler", "job");

  private static final String FIELD_MANAGER = "trainq-testkit";

  private final Process process;
  private final Path dir;
  private final Path logFile;
  private final int healthPort;
  private final Thread shutdownHook;

  private KueueController(Process process, Path dir, Path logFile, int healthPort) {
    this.process = process;
    this.dir = dir;
    this.logFile = logFile;
    this.healthPort = healthPort;
    this.shutdownHook = new Thread(this::stop, "kueue-controller-stop");
    Runtime.getRuntime().addShutdownHook(shutdownHook);
  }

  /**
   * Applies Kueue's CRDs (server-side: the Workload CRD is too large for a client-side apply) and
   * the {@value #NAMESPACE} namespace, starts Kueue with {@code kubeconfigFile} and returns once the
   * controllers that admit Workloads run, within {@link #START_TIMEOUT}; fails with the tail of
   * Kueue's log otherwise.
   *
   * @param kubeconfigFile the credentials Kueue uses (the test API server's admin)
   * @param admin a client with the rights to create CRDs and namespaces
   */
  public static KueueController start(Path kubeconfigFile, KubernetesClient admin) {
    long t0 = System.nanoTime();
    Path binary = binary();
    Path crds = crdDir();
    Path unshare = onPath("unshare");
    Path openssl = onPath("openssl");
    if (!Files.isReadable(kubeconfigFile)) {
      throw new IllegalArgumentException("no readable kubeconfig at " + kubeconfigFile);
    }

    applyCrds(admin, crds);
    admin.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(NAMESPACE).endMetadata().build())
        .fieldManager(FIELD_MANAGER).forceConflicts().serverSideApply();
    long tCrds = System.nanoTime();

    Path dir;
    try {
      dir = Files.createTempDirectory("trainq-kueue-");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    // overlayfs takes its directories in a comma- and colon-separated option string
    if (dir.toString().matches(".*[,:\\s].*")) {
      throw new IllegalStateException("the temporary directory " + dir + " cannot be an overlay directory");
    }
    Process process = null;
    try {
      Path webhookCerts = dir.resolve("webhook-certs");
      Path upper = dir.resolve("etc-upper");
      Path metricsCerts = upper.resolve("kueue").resolve("metrics").resolve("certs");
      Path work = dir.resolve("etc-work");
      Files.createDirectories(webhookCerts);
      Files.createDirectories(metricsCerts);
      Files.createDirectories(work);
      selfSignedCertificate(openssl, webhookCerts);
      for (String f : new String[] {"tls.crt", "tls.key"}) {
        Files.copy(webhookCerts.resolve(f), metricsCerts.resolve(f));
      }

      int[] ports = freePorts(3);
      Path config = dir.resolve("config.yaml");
      Files.writeString(config, config(ports[0], ports[1], ports[2], webhookCerts));

      List<String> command = new ArrayList<>(List.of(unshare.toString()));
      // root: a mount namespace is enough; anyone else also needs a user namespace to mount in
      if (!isRoot()) {
        command.addAll(List.of("--user", "--map-root-user"));
      }
      command.addAll(List.of("--mount", "--propagation", "private", "sh", "-c",
          "mount -t overlay overlay -o \"lowerdir=/etc,upperdir=$1,workdir=$2\" /etc || exit 97; shift 2; exec \"$@\"",
          "sh", upper.toString(), work.toString(),
          binary.toString(), "--config=" + config, "--kubeconfig=" + kubeconfigFile.toAbsolutePath(),
          "--zap-log-level=2"));
      Path logFile = dir.resolve("kueue.log");
      // unshare and sh exec: the process is Kueue itself, so destroy() signals Kueue
      process = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
          .redirectOutput(logFile.toFile()).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
      KueueController kueue = new KueueController(process, dir, logFile, ports[0]);
      try {
        kueue.awaitReady(t0 + START_TIMEOUT.toNanos());
      } catch (RuntimeException | Error e) {
        kueue.close();
        throw e;
      }
      long t1 = System.nanoTime();
      log.info("Kueue {} ready in {} ms (CRDs {} ms, process {} ms), health 127.0.0.1:{}, log {}", VERSION,
          (t1 - t0) / 1_000_000, (tCrds - t0) / 1_000_000, (t1 - tCrds) / 1_000_000, ports[0], logFile);
      return kueue;
    } catch (IOException e) {
      if (process != null) {
        process.destroyForcibly();
      }
      deleteTree(dir);
      throw new UncheckedIOException(e);
    }
  }

  /** {@code ${TRAINQ_CACHE:-~/.cache/trainq}}, where {@code scripts/kueue.sh} puts what it builds. */
  public static Path cacheDir() {
    String cache = System.getenv("TRAINQ_CACHE");
    return cache == null || cache.isBlank()
        ? Path.of(System.getProperty("user.home"), ".cache", "trainq")
        : Path.of(cache);
  }

  /** The Kueue manager binary; fails when {@code scripts/kueue.sh build} has not run. */
  public static Path binary() {
    Path binary = cacheDir().resolve("bin").resolve("kueue");
    if (!Files.isExecutable(binary)) {
      throw new AssertionError("Kueue " + VERSION + " not found at " + binary + ": run scripts/kueue.sh build");
    }
    return binary;
  }

  /** The directory of Kueue's CRD manifests; fails when {@code scripts/kueue.sh build} has not run. */
  public static Path crdDir() {
    Path dir = cacheDir().resolve("kueue").resolve(VERSION).resolve("crds");
    if (!Files.isRegularFile(dir.resolve("kueue.x-k8s.io_workloads.yaml"))) {
      throw new AssertionError("Kueue " + VERSION + " CRDs not found in " + dir + ": run scripts/kueue.sh build");
    }
    return dir;
  }

  /** Kueue's combined stdout and stderr (JSON lines); deleted by {@link #close()}. */
  public Path log() {
    return logFile;
  }

  /** The last {@code lines} lines of {@link #log()}, for failure messages. */
  public String logTail(int lines) {
    return tail(logFile, lines);
  }

  public boolean isAlive() {
    return process.isAlive();
  }

  /** Stops Kueue (SIGTERM, then SIGKILL after 10 s) and deletes its working directory. */
  @Override
  public void close() {
    stop();
    try {
      Runtime.getRuntime().removeShutdownHook(shutdownHook);
    } catch (IllegalStateException e) {
      // the JVM is shutting down: the hook runs anyway
    }
    deleteTree(dir);
  }

  private void stop() {
    if (!process.isAlive()) {
      return;
    }
    process.destroy();
    try {
      if (!process.waitFor(10, TimeUnit.SECONDS)) {
        log.warn("Kueue did not stop within 10 s of SIGTERM: killing it");
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
  }

  /** /readyz (the webhook server is up), then the controllers' "Starting workers" (caches synced). */
  private void awaitReady(long deadline) {
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    HttpRequest readyz = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + healthPort + "/readyz"))
        .timeout(Duration.ofSeconds(2)).build();
    boolean ready = false;
    while (true) {
      if (!process.isAlive()) {
        int rc = process.exitValue();
        throw new AssertionError("Kueue exited with " + rc
            + (rc == 97 ? " (could not mount an overlay on /etc in a private mount namespace)" : "")
            + " before it was ready; its log ends with:\n" + logTail(40));
      }
      if (!ready) {
        try {
          ready = http.send(readyz, HttpResponse.BodyHandlers.discarding()).statusCode() == 200;
        } catch (IOException e) {
          // not listening yet
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException("interrupted while waiting for Kueue", e);
        }
      }
      if (ready) {
        String text = read(logFile);
        if (READY_LOGGERS.stream().allMatch(l -> startedWorkers(text, l))) {
          if (!text.contains("\"gitVersion\":\"" + VERSION + "\"")) {
            throw new AssertionError("the Kueue at " + binary() + " is not " + VERSION
                + ": run scripts/kueue.sh build --force; its log starts with:\n"
                + text.lines().limit(5).collect(Collectors.joining("\n")));
          }
          return;
        }
      }
      if (System.nanoTime() - deadline > 0) {
        throw new AssertionError("Kueue was not ready within " + START_TIMEOUT.toSeconds() + " s (readyz "
            + (ready ? "OK" : "not OK") + ", waiting for \"Starting workers\" of " + READY_LOGGERS
            + "); its log ends with:\n" + logTail(40));
      }
      try {
        Thread.sleep(200);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while waiting for Kueue", e);
      }
    }
  }

  private static boolean startedWorkers(String logText, String logger) {
    String tag = "\"logger\":\"" + logger + "\"";
    return logText.lines().anyMatch(l -> l.contains("\"Starting workers\"") && l.contains(tag));
  }

  private static String config(int healthPort, int metricsPort, int webhookPort, Path certDir) {
    return """
        apiVersion: config.kueue.x-k8s.io/v1beta2
        kind: Configuration
        namespace: %s
        manageJobsWithoutQueueName: false
        leaderElection:
          leaderElect: false
        health:
          healthProbeBindAddress: 127.0.0.1:%d
        metrics:
          bindAddress: 127.0.0.1:%d
        webhook:
          host: 127.0.0.1
          port: %d
          certDir: %s
        internalCertManagement:
          enable: false
        featureGates:
          # on, it serves its own API with its own certificate on 0.0.0.0:8082
          VisibilityOnDemand: false
        integrations:
          frameworks: ["batch/job"]
        """.formatted(NAMESPACE, healthPort, metricsPort, webhookPort, certDir);
  }

  private static void applyCrds(KubernetesClient admin, Path dir) {
    List<Path> files;
    try (Stream<Path> list = Files.list(dir)) {
      files = list.filter(p -> p.toString().endsWith(".yaml")).sorted().toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    List<String> names = new ArrayList<>();
    for (Path file : files) {
      CustomResourceDefinition crd = admin.apiextensions().v1().customResourceDefinitions().load(file.toFile()).item();
      admin.resource(crd).fieldManager(FIELD_MANAGER).forceConflicts().serverSideApply();
      names.add(crd.getMetadata().getName());
    }
    for (String name : names) {
      TestCluster.awaitEstablished(admin, name);
    }
  }

  /** One self-signed certificate for 127.0.0.1 serves the webhook and the metrics endpoint. */
  private static void selfSignedCertificate(Path openssl, Path dir) throws IOException {
    // EC: instant to generate, where RSA takes a noticeable while on a busy machine
    List<String> command = List.of(openssl.toString(), "req", "-x509", "-nodes", "-newkey", "ec",
        "-pkeyopt", "ec_paramgen_curve:prime256v1", "-days", "7", "-subj", "/CN=kueue-test",
        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-keyout", dir.resolve("tls.key").toString(), "-out", dir.resolve("tls.crt").toString());
    Path out = dir.resolve("openssl.log");
    Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile()).start();
    try {
      if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
        p.destroyForcibly();
        throw new IllegalStateException(String.join(" ", command) + " failed:\n" + Files.readString(out));
      }
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while making Kueue's certificate", e);
    }
    Files.delete(out);
  }

  /** Distinct free loopback ports; all held open together so none is handed out twice. */
  private static int[] freePorts(int n) throws IOException {
    ServerSocket[] sockets = new ServerSocket[n];
    try {
      for (int i = 0; i < n; i++) {
        sockets[i] = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
      }
      return Arrays.stream(sockets).mapToInt(ServerSocket::getLocalPort).toArray();
    } finally {
      for (ServerSocket s : sockets) {
        if (s != null) {
          s.close();
        }
      }
    }
  }

  private static Path onPath(String name) {
    for (String d : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(File.pathSeparator)) {
      if (!d.isEmpty() && Files.isExecutable(Path.of(d, name))) {
        return Path.of(d, name);
      }
    }
    for (String d : new String[] {"/usr/bin", "/bin", "/usr/sbin", "/sbin"}) {
      if (Files.isExecutable(Path.of(d, name))) {
        return Path.of(d, name);
      }
    }
    throw new AssertionError(name + " not found on PATH: KueueController needs it (Debian: apt-get install "
        + (name.equals("unshare") ? "util-linux" : name) + ")");
  }

  private static boolean isRoot() {
    try {
      return ((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).intValue() == 0;
    } catch (IOException | UnsupportedOperationException e) {
      return false;
    }
  }

  private static String read(Path file) {
    try {
      return Files.readString(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "";
    }
  }

  /** The last lines of a file, read from its end (Kueue's log grows to megabytes in a long test). */
  static String tail(Path file, int lines) {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
      long length = f.length();
      int chunk = (int) Math.min(length, 256 * 1024);
      byte[] buf = new byte[chunk];
      f.seek(length - chunk);
      f.readFully(buf);
      List<String> all = new String(buf, StandardCharsets.UTF_8).lines().toList();
      return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
    } catch (IOException e) {
      return "(no log: " + e.getMessage() + ")";
    }
  }

  private static void deleteTree(Path root) {
    try {
      deleteRecursively(root);
    } catch (IOException | UncheckedIOException e) {
      log.warn("could not delete Kueue's working directory {}: {}", root, e.toString());
    }
  }

  private static void deleteRecursively(Path p) throws IOException {
    if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
      // overlayfs leaves a mode-000 directory in its work dir: open it up before listing it
      File f = p.toFile();
      f.setReadable(true, true);
      f.setWritable(true, true);
      f.setExecutable(true, true);
      try (DirectoryStream<Path> children = Files.newDirectoryStream(p)) {
        for (Path child : children) {
          deleteRecursively(child);
        }
      }
    }
    Files.deleteIfExists(p);
  }
}
