package io.trainq.worker;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** A worker as a real process (java ... WorkerMain -- command), its output in a file. */
final class WorkerProcess implements AutoCloseable {
  /** The launcher's JVM options (src/dist/trainq-worker). */
  static final List<String> JVM_OPTIONS = List.of("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k", "-Xmx96m",
      "-XX:-UsePerfData", "-Djdk.lang.Process.launchMechanism=VFORK");

  final Process process;
  final Path log;
  final String name;

  private WorkerProcess(Process process, Path log, String name) {
    this.process = process;
    this.log = log;
    this.name = name;
  }

  /** Starts the worker from the test class path. */
  static WorkerProcess start(String name, Map<String, String> env, Path dir, List<String> command) throws IOException {
    List<String> argv = new ArrayList<>();
    argv.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    argv.addAll(JVM_OPTIONS);
    argv.add("-cp");
    argv.add(System.getProperty("java.class.path"));
    argv.add("io.trainq.worker.WorkerMain");
    argv.add("--");
    argv.addAll(command);
    return startArgv(name, argv, env, dir);
  }

  /** Starts any command line with the worker's environment (the distribution's launcher). */
  static WorkerProcess startArgv(String name, List<String> argv, Map<String, String> env, Path dir) throws IOException {
    Path log = dir.resolve(name + ".log");
    ProcessBuilder pb = new ProcessBuilder(argv).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    // nothing of the outer environment's trainq settings
    pb.environment().keySet().removeIf(k -> k.startsWith("TRAINQ_"));
    pb.environment().put(io.trainq.protocol.WorkerEnv.WORKER_NAME, name);
    pb.environment().putAll(env);
    pb.directory(dir.toFile());
    return new WorkerProcess(pb.start(), log, name);
  }

  long pid() {
    return process.pid();
  }

  boolean alive() {
    return process.isAlive();
  }

  /** SIGTERM, as the kubelet stops a pod. */
  void term() {
    process.destroy();
  }

  /** SIGKILL. */
  void kill() {
    process.destroyForcibly();
  }

  /** The exit code; fails with the log when the worker is still running after {@code timeout}. */
  int awaitExit(Duration timeout) throws InterruptedException {
    if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
      throw new AssertionError("worker " + name + " still running after " + timeout.toSeconds() + " s" + logs(this));
    }
    return process.exitValue();
  }

  String log() {
    try {
      return Files.exists(log) ? Files.readString(log) : "";
    } catch (IOException e) {
      return "(cannot read " + log + ": " + e + ")";
    }
  }

  /** The workers' logs, for failure messages (the tail of each). */
  static String logs(WorkerProcess... workers) {
    StringBuilder sb = new StringBuilder();
    for (WorkerProcess w : workers) {
      String l = w.log();
      if (l.length() > 6000) {
        l = "..." + l.substring(l.length() - 6000);
      }
      sb.append("\n--- worker ").append(w.name).append(" (").append(w.log).append(") ---\n").append(l);
    }
    return sb.toString();
  }

  @Override
  public void close() {
    if (process.isAlive()) {
      process.descendants().forEach(ProcessHandle::destroyForcibly);
      process.destroyForcibly();
      try {
        process.waitFor(10, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
