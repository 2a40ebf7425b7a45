package io.trainq.worker;

import io.trainq.worker.log.LogSink;
import io.trainq.worker.log.WorkerLogProvider;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code trainq-worker [--version] -- <task command...>}: the process in each GPU pod. Exit codes:
 * 0 when done (idle, the job's queue deleted, or stopped by SIGTERM), 2 for a configuration it
 * cannot run with (one line on stderr), 1 for anything unexpected.
 */
public final class WorkerMain {
  /** Exit code for a failure nobody planned for. */
  static final int EXIT_UNEXPECTED = 1;

  private WorkerMain() {}

  public static void main(String[] args) {
    // Before any logger exists: the worker's own binding, whatever else is on the class path.
    System.setProperty("slf4j.provider", WorkerLogProvider.class.getName());
    System.setProperty("slf4j.internal.verbosity", "WARN");
    System.exit(run(args, System.getenv()));
  }

  static int run(String[] args, Map<String, String> env) {
    int dash = Arrays.asList(args).indexOf("--");
    List<String> options = Arrays.asList(args).subList(0, dash < 0 ? args.length : dash);
    List<String> command = dash < 0 ? List.of() : Arrays.asList(args).subList(dash + 1, args.length);
    if (options.contains("--version")) {
      System.out.println("trainq-worker " + Version.get());
      return 0;
    }
    if (options.contains("--help") || options.contains("-h")) {
      System.out.println("usage: trainq-worker [--version] -- <task command> [args...]");
      System.out.println("Consumes the tasks of the job named by TRAINQ_JOB_NAMESPACE/NAME/UID and runs each as the command.");
      return 0;
    }
    if (!options.isEmpty()) {
      return badConfig("unknown option " + options.get(0) + "; usage: trainq-worker [--version] -- <task command> [args...]");
    }
    WorkerConfig config;
    try {
      config = WorkerConfig.fromEnv(env, command, WorkerMain::nvidiaSmiGpus);
      checkCommand(config);
    } catch (ConfigException e) {
      return badConfig(e.getMessage());
    }
    LogSink.configure(config.logLevel(), config.logFormat());
    Logger log = LoggerFactory.getLogger(WorkerMain.class);
    String version = Version.get();
    log.info("trainq-worker {} ({}): {}", version, config.workerName(), config);
    Worker worker = new Worker(config, version);
    installSignalHandlers(worker, log);
    try {
      return worker.run();
    } catch (ConfigException e) {
      return badConfig(e.getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return EXIT_UNEXPECTED;
    } catch (IOException | RuntimeException e) {
      log.error("unexpected failure", e);
      return EXIT_UNEXPECTED;
    }
  }

  private static int badConfig(String message) {
    System.err.println("trainq-worker: " + message);
    System.err.flush();
    return io.trainq.protocol.WorkerEnv.EXIT_BAD_CONFIG;
  }

  /** A command that cannot be found would fail every task: refuse to start instead. */
  static void checkCommand(WorkerConfig config) throws ConfigException {
    String program = config.command().get(0);
    if (program.contains("/")) {
      Path p = Path.of(program);
      if (!p.isAbsolute() && config.workingDir() != null) {
        p = config.workingDir().resolve(p);
      }
      if (!Files.isExecutable(p) || Files.isDirectory(p)) {
        throw new ConfigException("task command " + program + " is not an executable file");
      }
      return;
    }
    String path = config.taskEnv().getOrDefault("PATH", "");
    for (String dir : path.split(File.pathSeparator)) {
      if (dir.isEmpty()) {
        continue;
      }
      Path p = Path.of(dir, program);
      if (Files.isExecutable(p) && !Files.isDirectory(p)) {
        return;
      }
    }
    throw new ConfigException("task command " + program + " not found on PATH (" + path + ")");
  }

  /** GPUs that {@code nvidia-smi -L} lists; 0 without the tool. */
  static int nvidiaSmiGpus() {
    Process p;
    try {
      p = new ProcessBuilder("nvidia-smi", "-L").redirectErrorStream(true).start();
    } catch (IOException e) {
      return 0;
    }
    int n = 0;
    try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      String line;
      while ((line = r.readLine()) != null) {
        if (line.startsWith("GPU ")) {
          n++;
        }
      }
      if (!p.waitFor(10, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        return 0;
      }
      return p.exitValue() == 0 ? n : 0;
    } catch (IOException e) {
      return 0;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return 0;
    }
  }

  /** SIGTERM (the kubelet, the runner) and SIGINT (a terminal) start a graceful shutdown instead of ending the JVM. */
  @SuppressWarnings("restriction")
  private static void installSignalHandlers(Worker worker, Logger log) {
    for (String name : List.of("TERM", "INT")) {
      try {
        sun.misc.Signal.handle(new sun.misc.Signal(name), s -> {
          log.info("SIG{} received", name);
          if (!worker.shutdown()) {
            log.info("stopped before consuming");
            System.exit(0);
          }
        });
      } catch (IllegalArgumentException e) {
        log.warn("cannot handle SIG{}: {}", name, e.getMessage());
      }
    }
  }
}
