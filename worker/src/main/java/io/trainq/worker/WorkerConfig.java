package io.trainq.worker;

import io.trainq.protocol.JobSettings;
import io.trainq.protocol.JobTopology;
import io.trainq.protocol.RabbitSettings;
import io.trainq.protocol.WorkerEnv;
import io.trainq.worker.log.LogSink;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntSupplier;
import org.slf4j.event.Level;

/**
 * Everything the worker reads from its environment, read once in main. The job's variables are
 * {@link WorkerEnv}'s contract; the broker's are {@link RabbitSettings#fromEnv}'s.
 *
 * @param taskEnv the environment every task inherits: the worker's, without the broker's settings
 * @param idleTimeout exit after this long with nothing to do; zero never exits when idle
 * @param statusInterval the status line's period; zero turns it off
 * @param httpPort port of /metrics, /healthz, /readyz; 0 turns the server off
 * @param workingDir the tasks' working directory, or null for the worker's
 * @param tempDir where the tasks' parameter files go
 * @param taskCount tasks in the job (a message of another index is not a task of it), or 0 when not known
 * @param dispatch how the worker keeps its slots busy between short attempts
 * @param queueWait how long a worker that starts waits for a missing job queue before it calls that bad
 *     configuration: the operator declares a deleted task queue again within seconds, and a worker pod it
 *     started meanwhile must not crash-loop
 */
public record WorkerConfig(
    JobTopology topology,
    JobSettings job,
    RabbitSettings rabbit,
    SlotPlan slots,
    List<String> command,
    Map<String, String> taskEnv,
    Duration idleTimeout,
    int extraPrefetch,
    int httpPort,
    Duration statusInterval,
    Duration shutdownGrace,
    Duration connectTimeout,
    Duration queueWait,
    String workerName,
    Path workingDir,
    Path tempDir,
    Level logLevel,
    LogSink.Format logFormat,
    int taskCount,
    Dispatch dispatch) {

  /**
   * @param startedDelay STARTED goes out only for attempts still running after this long (an outcome implies its start)
   * @param lookahead deliveries held beyond the slots while attempts are short (0: never)
   * @param lookaheadBelow attempts shorter than this, on average, are short
   * @param runnerStartTurn persistent runners start one per CPU at a time; a slot waits this long for its
   *     turn, then starts its runner anyway (bounds what the turns cost runners whose start-up is not CPU-bound)
   * @param probation a consumer that starts holds one delivery while it gets redeliveries, until a fresh one
   *     comes or a redelivered attempt has run this long (ZERO: never); see {@link TaskConsumer}
   */
  public record Dispatch(Duration startedDelay, int lookahead, Duration lookaheadBelow, Duration runnerStartTurn,
      Duration probation) {
    /** The defaults; the lookahead's (one per slot, {@link WorkerEnv#defaultLookahead}) depends on the slots. */
    public static final Dispatch DEFAULT = new Dispatch(Duration.ofSeconds(1), 1, Duration.ofSeconds(2),
        Duration.ofSeconds(1), Duration.ofSeconds(60));
  }

  /** Worker settings outside the shared contract: how long the first connect may take. */
  public static final String CONNECT_TIMEOUT_MS = "TRAINQ_CONNECT_TIMEOUT_MS";
  public static final String QUEUE_WAIT_MS = "TRAINQ_QUEUE_WAIT_MS";
  public static final String LOG_LEVEL = "TRAINQ_LOG_LEVEL";
  public static final String LOG_FORMAT = "TRAINQ_LOG_FORMAT";
  /** Variables kept from the tasks: they hold the broker's credentials, which tasks have no use for. */
  static final String SECRET_PREFIX = "TRAINQ_RABBITMQ_";

  public WorkerConfig {
    command = List.copyOf(command);
    taskEnv = Map.copyOf(taskEnv);
  }

  /** The prefetch of the task consumer: one delivery per slot, plus the optional extra. */
  public int prefetch() {
    return slots.slots() + extraPrefetch;
  }

  /**
   * Reads the configuration.
   *
   * @param command the task command (the worker's argv after {@code --})
   * @param nvidiaSmiCount GPUs {@code nvidia-smi -L} lists (0 without it); called only when needed
   */
  public static WorkerConfig fromEnv(Map<String, String> env, List<String> command, IntSupplier nvidiaSmiCount)
      throws ConfigException {
    if (command.isEmpty()) {
      throw new ConfigException("no task command: give it after --, as in trainq-worker -- python train.py");
    }
    try {
      String namespace = required(env, WorkerEnv.JOB_NAMESPACE);
      String name = required(env, WorkerEnv.JOB_NAME);
      String uid = required(env, WorkerEnv.JOB_UID);
      JobTopology topology = new JobTopology(namespace, name, uid);
      JobSettings job = WorkerEnv.jobSettings(env);
      if (job.taskTimeout().isZero() || job.taskTimeout().isNegative()) {
        throw new ConfigException(WorkerEnv.TASK_TIMEOUT_MS + " must be > 0, got " + job.taskTimeout().toMillis());
      }
      if (job.backoffInitial().isNegative() || job.backoffMax().compareTo(job.backoffInitial()) < 0) {
        throw new ConfigException(WorkerEnv.BACKOFF_MAX_MS + " (" + job.backoffMax().toMillis() + ") must be >= "
            + WorkerEnv.BACKOFF_INITIAL_MS + " (" + job.backoffInitial().toMillis() + ") >= 0");
      }
      RabbitSettings rabbit = RabbitSettings.fromEnv(env);
      SlotPlan slots = SlotPlan.plan(env, job.gpusPerTask(), nvidiaSmiCount);
      Duration idle = nonNegative(env, WorkerEnv.IDLE_TIMEOUT_MS, 60_000);
      int extra = (int) nonNegative(env, WorkerEnv.EXTRA_PREFETCH, 0).toMillis();
      long port = WorkerEnv.longVar(env, WorkerEnv.HTTP_PORT, 8080);
      if (port < 0 || port > 65535) {
        throw new ConfigException(WorkerEnv.HTTP_PORT + " must be a port (0 turns the server off), got " + port);
      }
      Duration status = nonNegative(env, WorkerEnv.STATUS_INTERVAL_MS, 10_000);
      Duration grace = nonNegative(env, WorkerEnv.SHUTDOWN_GRACE_MS, 25_000);
      Duration connect = nonNegative(env, CONNECT_TIMEOUT_MS, 30_000);
      Duration queueWait = nonNegative(env, QUEUE_WAIT_MS, 60_000);
      String workerName = env.get(WorkerEnv.WORKER_NAME);
      if (workerName == null || workerName.isBlank()) {
        workerName = defaultWorkerName(env);
      }
      Path workingDir = null;
      String wd = env.get(WorkerEnv.WORKING_DIR);
      if (wd != null && !wd.isBlank()) {
        workingDir = Path.of(wd);
        if (!Files.isDirectory(workingDir)) {
          throw new ConfigException(WorkerEnv.WORKING_DIR + " " + wd + " is not a directory");
        }
      }
      String tmp = env.get("TMPDIR");
      Path tempDir = Path.of(tmp == null || tmp.isBlank() ? "/tmp" : tmp);
      Level level = LogSink.parseLevel(env.getOrDefault(LOG_LEVEL, "info"));
      LogSink.Format format = LogSink.parseFormat(env.getOrDefault(LOG_FORMAT, "text"));
      long taskCount = WorkerEnv.longVar(env, WorkerEnv.TASK_COUNT, 0);
      if (taskCount < 0 || taskCount > Integer.MAX_VALUE) {
        throw new ConfigException(WorkerEnv.TASK_COUNT + " must be a task count >= 0, got " + taskCount);
      }
      Duration startedDelay = nonNegative(env, WorkerEnv.STARTED_DELAY_MS, Dispatch.DEFAULT.startedDelay().toMillis());
      long lookahead = WorkerEnv.longVar(env, WorkerEnv.LOOKAHEAD, WorkerEnv.defaultLookahead(slots.slots()));
      if (lookahead < 0 || lookahead > 1000) {
        throw new ConfigException(WorkerEnv.LOOKAHEAD + " must be between 0 and 1000, got " + lookahead);
      }
      Duration below = nonNegative(env, WorkerEnv.LOOKAHEAD_BELOW_MS, Dispatch.DEFAULT.lookaheadBelow().toMillis());
      Duration turn = nonNegative(env, WorkerEnv.RUNNER_START_TURN_MS, Dispatch.DEFAULT.runnerStartTurn().toMillis());
      Duration probation = nonNegative(env, WorkerEnv.PROBATION_MS, Dispatch.DEFAULT.probation().toMillis());
      return new WorkerConfig(topology, job, rabbit, slots, command, taskEnv(env), idle, extra, (int) port, status, grace,
          connect, queueWait, workerName, workingDir, tempDir, level, format, (int) taskCount,
          new Dispatch(startedDelay, (int) lookahead, below, turn, probation));
    } catch (IllegalArgumentException e) {
      // the protocol's parsers name the variable in their messages
      throw new ConfigException(e.getMessage());
    }
  }

  /** The worker's environment minus the broker's settings (the password among them). */
  static Map<String, String> taskEnv(Map<String, String> env) {
    Map<String, String> out = new LinkedHashMap<>();
    env.forEach((k, v) -> {
      if (!k.startsWith(SECRET_PREFIX)) {
        out.put(k, v);
      }
    });
    return out;
  }

  private static String required(Map<String, String> env, String name) throws ConfigException {
    String v = env.get(name);
    if (v == null || v.isBlank()) {
      throw new ConfigException(name + " is not set");
    }
    return v.trim();
  }

  private static Duration nonNegative(Map<String, String> env, String name, long dflt) throws ConfigException {
    long v = WorkerEnv.longVar(env, name, dflt);
    if (v < 0) {
      throw new ConfigException(name + " must be >= 0, got " + v);
    }
    return Duration.ofMillis(v);
  }

  private static String defaultWorkerName(Map<String, String> env) {
    String host = env.get("HOSTNAME");
    if (host == null || host.isBlank()) {
      try {
        host = InetAddress.getLocalHost().getHostName();
      } catch (UnknownHostException e) {
        host = "worker";
      }
    }
    return host + "-" + ProcessHandle.current().pid();
  }

  /** The configuration as the start-up log shows it: no secrets. */
  @Override
  public String toString() {
    return "job " + topology.namespace() + "/" + topology.name() + " (queue " + topology.taskQueue() + "), broker " + rabbit
        + ", " + slots.slots() + " slot(s) from " + slots.source() + ", " + slots.gpusPerTask() + " GPU(s) per task, prefetch "
        + prefetch() + ", lookahead " + dispatch.lookahead() + " while attempts are short, max attempts " + job.maxAttempts()
        + ", backoff " + job.backoffInitial().toMillis() + "-"
        + job.backoffMax().toMillis() + " ms, task timeout " + job.taskTimeout().toMillis() + " ms, idle timeout "
        + idleTimeout.toMillis() + " ms, shutdown grace " + shutdownGrace.toMillis() + " ms, runner " + job.runner() + ", command " + command;
  }
}
