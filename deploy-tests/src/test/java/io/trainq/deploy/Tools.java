package io.trainq.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** The real binaries the deploy tests drive (helm, kubectl), the project's files, and a process runner. */
final class Tools {

  static final String KUBE_VERSION = "1.35.4";

  private Tools() {}

  static Path projectRoot() {
    String env = System.getenv("TRAINQ_PROJECT_ROOT");
    String p = env != null && !env.isBlank() ? env : System.getProperty("trainq.project.root");
    Path root = p != null ? Path.of(p) : Path.of("").toAbsolutePath().getParent();
    assertThat(root.resolve("helm/trainq/Chart.yaml")).as("project root %s", root).exists();
    return root.toAbsolutePath().normalize();
  }

  static Path chart() {
    return projectRoot().resolve("helm/trainq");
  }

  static Path kubeBinDir() {
    return Path.of(System.getProperty("user.home"), ".kubeapitest", "k8s", KUBE_VERSION + "-linux-amd64");
  }

  static Path helm() {
    return binary("TRAINQ_HELM", Path.of(System.getProperty("user.home"), ".cache/trainq/bin/helm"),
        "helm not found: run scripts/kube-binaries.sh");
  }

  static Path kubectl() {
    return binary("TRAINQ_KUBECTL", kubeBinDir().resolve("kubectl"),
        "kubectl " + KUBE_VERSION + " not found: run scripts/kube-binaries.sh");
  }

  private static Path binary(String env, Path dflt, String missing) {
    String override = System.getenv(env);
    Path p = override != null && !override.isBlank() ? Path.of(override) : dflt;
    if (!Files.isExecutable(p)) {
      throw new AssertionError(missing + " (looked for " + p + ")");
    }
    return p;
  }

  /** The fixture CRD of the RabbitMQ Cluster Operator (TRAINQ_RABBITMQ_CRD, ../shared/fixtures or shared/fixtures). */
  static Path rabbitmqCrd() {
    String override = System.getenv("TRAINQ_RABBITMQ_CRD");
    String fixture = "shared/fixtures/rabbitmqclusters.rabbitmq.com.yaml";
    Path beside = projectRoot().resolve("../" + fixture).normalize();
    Path inside = projectRoot().resolve(fixture);
    Path p = override != null && !override.isBlank() ? Path.of(override) : Files.isRegularFile(inside) ? inside : beside;
    if (!Files.isRegularFile(p)) {
      throw new AssertionError("RabbitmqCluster CRD not found at " + p
          + ": it is a test fixture (see ../shared/fixtures/README.md); set TRAINQ_RABBITMQ_CRD to its path");
    }
    return p;
  }

  /** The Prometheus Operator's ServiceMonitor CRD, generated once from its Go API module (cached). */
  static Path serviceMonitorCrd() {
    Path script = projectRoot().resolve("deploy-tests/src/test/sh/servicemonitor-crd.sh");
    Result r = run(List.of(script.toString()), null, Map.of(), 600).assertOk("generating the ServiceMonitor CRD");
    return Path.of(r.stdout().strip().lines().reduce((a, b) -> b).orElseThrow());
  }

  record Result(int exitCode, String stdout, String stderr) {
    Result assertOk(String what) {
      if (exitCode != 0) {
        throw new AssertionError(what + " failed (exit " + exitCode + "):\n" + stderr + "\n" + stdout);
      }
      return this;
    }

    String output() {
      return stdout + stderr;
    }
  }

  static Result run(List<String> command) {
    return run(command, null, Map.of(), 300);
  }

  /** Runs a command to completion; stdin is the given text (or nothing). */
  static Result run(List<String> command, String stdin, Map<String, String> env, long timeoutSeconds) {
    try {
      Path out = Files.createTempFile("tq-out", ".txt");
      Path err = Files.createTempFile("tq-err", ".txt");
      try {
        ProcessBuilder pb = new ProcessBuilder(new ArrayList<>(command))
            .redirectOutput(out.toFile())
            .redirectError(err.toFile());
        pb.environment().putAll(env);
        Process p = pb.start();
        if (stdin != null) {
          p.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
        }
        p.getOutputStream().close();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
          p.descendants().forEach(ProcessHandle::destroyForcibly);
          p.destroyForcibly();
          throw new AssertionError(String.join(" ", command) + " did not finish in " + timeoutSeconds + " s:\n"
              + Files.readString(err));
        }
        return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
      } finally {
        Files.deleteIfExists(out);
        Files.deleteIfExists(err);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }
}
