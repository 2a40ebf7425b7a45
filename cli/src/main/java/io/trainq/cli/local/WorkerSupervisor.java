package io.trainq.cli.local;

import io.trainq.protocol.WorkerEnv;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * Runs worker processes and restarts the ones that crash, as supervisord ({@code autorestart=true})
 * and the kubelet ({@code restartPolicy: OnFailure}) do. Each worker runs in its own session
 * ({@code setsid}) so a Ctrl-C in the terminal reaches only the runner, which then stops the workers
 * with SIGTERM: a task interrupted that way is requeued, not counted as a failure.
 */
public final class WorkerSupervisor implements AutoCloseable {
  /** Crash restarts back off like the kubelet's CrashLoopBackOff, capped lower for a single box. */
  private static final Duration MAX_RESTART_DELAY = Duration.ofSeconds(10);

  private final List<Slot> slots = new ArrayList<>();
  private final Consumer<String> log;
  private final AtomicInteger restarts = new AtomicInteger();
  private volatile boolean stopping;
  private volatile String fatal;

  /**
   * @param workerEnvs one environment per worker process (job, broker and GPU variables)
   * @param command the worker's command line up to and including "--" is built here; this is the task command
   * @param log where worker output and supervision notes go
   */
  public WorkerSupervisor(List<Map<String, String>> workerEnvs, List<String> command, Path workingDir, Consumer<String> log) {
    this.log = log;
    for (int i = 0; i < workerEnvs.size(); i++) {
      slots.add(new Slot(i, workerEnvs.get(i), command, workingDir));
    }
  }

  public synchronized void start() {
    for (Slot s : slots) {
      s.thread = new Thread(s::superviseLoop, "supervise-worker-" + s.id);
      s.thread.setDaemon(true);
      s.thread.start();
    }
  }

  /**
   * Starts again the workers that finished (exit 0: a worker also exits so when the job's queue is
   * deleted under it); crashed ones restart by themselves, and a configuration error stays fatal.
   *
   * @return how many were started again
   */
  public synchronized int revive() {
    if (stopping || fatal != null) {
      return 0;
    }
    int n = 0;
    for (Slot s : slots) {
      if (s.thread != null && !s.thread.isAlive()) {
        s.thread = new Thread(s::superviseLoop, "supervise-worker-" + s.id);
        s.thread.setDaemon(true);
        s.thread.start();
        n++;
      }
    }
    return n;
  }

  public int restarts() {
    return restarts.get();
  }

  public int alive() {
    int n = 0;
    for (Slot s : slots) {
      Process p = s.process;
      if (p != null && p.isAlive()) {
        n++;
      }
    }
    return n;
  }

  /** A configuration error a worker reported (exit code 2): restarting it would not help. */
  public String fatalError() {
    return fatal;
  }

  /** SIGTERM every worker, wait up to {@code grace}, then SIGKILL what is left. */
  public void stop(Duration grace) {
    stopping = true;
    for (Slot s : slots) {
      Process p = s.process;
      if (p != null && p.isAlive()) {
        p.destroy();
      }
    }
    long deadline = System.nanoTime() + grace.toNanos();
    for (Slot s : slots) {
      Process p = s.process;
      if (p == null) {
        continue;
      }
      try {
        long left = Math.max(0, deadline - System.nanoTime());
        if (!p.waitFor(left, TimeUnit.NANOSECONDS)) {
          log.accept("worker " + s.id + " did not stop within " + grace.toSeconds() + " s; killing it");
          p.descendants().forEach(ProcessHandle::destroyForcibly);
          p.destroyForcibly();
          p.waitFor(5, TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }

  @Override
  public void close() {
    stop(Duration.ofSeconds(30));
  }

  /**
   * Class data sharing for the worker JVMs: they map the classes a worker loads from an archive
   * beside the jar, which saves a good part of their start. The first worker of a run after a build
   * writes the archive when it exits; the JVM ignores an archive that does not match its class path.
   * {@code -Dtrainq.worker.cds=false} turns it off.
   */
  static List<String> classDataSharing(int slot) {
    String cp = System.getProperty("java.class.path", "");
    if (!Boolean.parseBoolean(System.getProperty("trainq.worker.cds", "true")) || !cp.endsWith(".jar") || cp.contains(File.pathSeparator)) {
      return List.of();
    }
    File jar = new File(cp);
    File archive = new File(jar.getParentFile(), jar.getName().replaceFirst("\\.jar$", "") + ".worker.jsa");
    List<String> quiet = List.of("-Xlog:cds=off", "-Xlog:cds+dynamic=off");
    List<String> out = new ArrayList<>();
    if (archive.isFile() && archive.lastModified() >= jar.lastModified()) {
      out.add("-XX:SharedArchiveFile=" + archive);
    } else if (slot == 0 && jar.getParentFile() != null && jar.getParentFile().canWrite()) {
      out.add("-XX:ArchiveClassesAtExit=" + archive);
    } else {
      return List.of();
    }
    out.addAll(quiet);
    return out;
  }

  private final class Slot {
    final int id;
    final Map<String, String> env;
    final List<String> command;
    final Path workingDir;
    volatile Process process;
    Thread thread;

    Slot(int id, Map<String, String> env, List<String> command, Path workingDir) {
      this.id = id;
      this.env = env;
      this.command = command;
      this.workingDir = workingDir;
    }

    void superviseLoop() {
      long delayMs = 500;
      while (!stopping) {
        long started = System.nanoTime();
        int code;
        try {
          code = runOnce();
        } catch (IOException e) {
          if (stopping) {
            // its output stream closes under the reader when it is stopped
            return;
          }
          fatal = "cannot start a worker process: " + e.getMessage();
          log.accept(fatal);
          return;
        } catch (InterruptedException e) {
          return;
        }
        if (stopping) {
          return;
        }
        if (code == 0) {
          log.accept("worker " + id + " finished (exit code 0: idle, or its queue was deleted)");
          return;
        }
        if (code == WorkerEnv.EXIT_BAD_CONFIG) {
          fatal = "worker " + id + " exited with a configuration error (see above)";
          return;
        }
        // a worker that ran for a while before crashing starts over from the short delay
        if (System.nanoTime() - started > Duration.ofSeconds(30).toNanos()) {
          delayMs = 500;
        }
        restarts.incrementAndGet();
        log.accept("worker " + id + " exited with code " + code + "; restarting in " + delayMs + " ms");
        try {
          Thread.sleep(delayMs);
        } catch (InterruptedException e) {
          return;
        }
        delayMs = Math.min(delayMs * 2, MAX_RESTART_DELAY.toMillis());
      }
    }

    int runOnce() throws IOException, InterruptedException {
      List<String> argv = new ArrayList<>();
      argv.add("setsid");
      argv.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
      argv.add("-Djdk.lang.Process.launchMechanism=VFORK");
      argv.add("-XX:+UseSerialGC");
      argv.add("-XX:TieredStopAtLevel=1");
      argv.add("-Xss512k");
      argv.add("-Xmx64m");
      argv.addAll(classDataSharing(id));
      argv.add("-cp");
      argv.add(System.getProperty("java.class.path"));
      argv.add("io.trainq.worker.WorkerMain");
      argv.add("--");
      argv.addAll(command);
      ProcessBuilder pb = new ProcessBuilder(argv).redirectErrorStream(true);
      if (workingDir != null) {
        pb.directory(workingDir.toFile());
      }
      pb.environment().putAll(env);
      Process p = pb.start();
      process = p;
      try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          log.accept("[worker " + id + "] " + line);
        }
      }
      return p.waitFor();
    }
  }

  /** Prints to a stream, for tests and plain logs. */
  public static Consumer<String> printer(PrintStream out) {
    return line -> {
      synchronized (out) {
        out.println(line);
      }
    };
  }
}
