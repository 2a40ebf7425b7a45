package io.trainq.protocol;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The environment a worker process is started with: one contract for the operator (pod spec), the
 * single-machine runner (child processes) and the worker (its config). The task command is the
 * worker's argv after {@code --}. Broker settings are {@link RabbitSettings#toEnv()}'s variables.
 */
public final class WorkerEnv {
  public static final String JOB_NAMESPACE = "TRAINQ_JOB_NAMESPACE";
  public static final String JOB_NAME = "TRAINQ_JOB_NAME";
  public static final String JOB_UID = "TRAINQ_JOB_UID";
  /** GPUs each task gets. */
  public static final String GPUS_PER_TASK = "TRAINQ_GPUS_PER_TASK";
  /** GPU ids this worker owns ("0,1,2,3"); slot i gets the i-th group of GPUS_PER_TASK ids as CUDA_VISIBLE_DEVICES. */
  public static final String GPUS = "TRAINQ_GPUS";
  /** Slots without GPUs (CUDA_VISIBLE_DEVICES empty): for machines with none, and tests. */
  public static final String SLOTS = "TRAINQ_SLOTS";
  public static final String MAX_ATTEMPTS = "TRAINQ_MAX_ATTEMPTS";
  public static final String BACKOFF_INITIAL_MS = "TRAINQ_BACKOFF_INITIAL_MS";
  public static final String BACKOFF_MAX_MS = "TRAINQ_BACKOFF_MAX_MS";
  public static final String TASK_TIMEOUT_MS = "TRAINQ_TASK_TIMEOUT_MS";
  /** Optional; tasks never expire when unset. */
  public static final String TASK_TTL_MS = "TRAINQ_TASK_TTL_MS";
  public static final String DELIVERY_LIMIT = "TRAINQ_DELIVERY_LIMIT";
  /** Tasks in the job: a message whose index is not below it is not one of the job's tasks. Unset: not checked. */
  public static final String TASK_COUNT = "TRAINQ_TASK_COUNT";
  /** Exit 0 after this long with nothing running and nothing ready; 0 never exits when idle. */
  public static final String IDLE_TIMEOUT_MS = "TRAINQ_IDLE_TIMEOUT_MS";
  public static final String EXTRA_PREFETCH = "TRAINQ_EXTRA_PREFETCH";
  /** STARTED is published only for attempts still running after this long (0: at once); default 1000. */
  public static final String STARTED_DELAY_MS = "TRAINQ_STARTED_DELAY_MS";
  /** Deliveries a worker holds beyond its slots while attempts are short (0 turns lookahead off); default one per slot. */
  public static final String LOOKAHEAD = "TRAINQ_LOOKAHEAD";

  /**
   * The lookahead of a worker with {@code slots} slots when {@link #LOOKAHEAD} is not set: one per slot.
   * Slots whose tasks last about as long end together (they started together), and each then needs a
   * next delivery at once; with fewer, the rest wait for an outcome's confirm, the ack and a delivery.
   */
  public static int defaultLookahead(int slots) {
    return Math.max(1, slots);
  }
  /** Attempts shorter than this (on average) count as short, for the lookahead; default 2000. */
  public static final String LOOKAHEAD_BELOW_MS = "TRAINQ_LOOKAHEAD_BELOW_MS";
  /** Persistent runners: how long a slot waits for its turn to start its runner, then starts it anyway; default 1000. */
  public static final String RUNNER_START_TURN_MS = "TRAINQ_RUNNER_START_TURN_MS";
  /**
   * A worker that starts consuming holds one delivery at a time while it is given redeliveries, so that
   * a task that kills its worker takes no other task with it; it holds its full prefetch from the first
   * fresh delivery, or once a redelivered attempt has run this long (0 turns probation off); default 60000.
   */
  public static final String PROBATION_MS = "TRAINQ_PROBATION_MS";
  /** Port of /metrics, /healthz and /readyz; 0 turns the HTTP server off. */
  public static final String HTTP_PORT = "TRAINQ_HTTP_PORT";
  public static final String STATUS_INTERVAL_MS = "TRAINQ_STATUS_INTERVAL_MS";
  /** How long running tasks may finish after SIGTERM before they are killed and requeued. */
  public static final String SHUTDOWN_GRACE_MS = "TRAINQ_SHUTDOWN_GRACE_MS";
  public static final String WORKER_NAME = "TRAINQ_WORKER_NAME";
  public static final String WORKING_DIR = "TRAINQ_WORKING_DIR";
  /** {@code Process} (a process per attempt) or {@code Persistent} (a runner per slot). */
  public static final String RUNNER_MODE = "TRAINQ_RUNNER_MODE";
  /** Persistent mode: tasks one runner handles before it is replaced; 0 or unset for no limit. */
  public static final String RUNNER_MAX_TASKS = "TRAINQ_RUNNER_MAX_TASKS";
  /** Persistent mode: how long a new runner may take to connect and say it is ready. */
  public static final String RUNNER_START_TIMEOUT_MS = "TRAINQ_RUNNER_START_TIMEOUT_MS";

  /** Exit code of a worker whose configuration is wrong (one clear line on stderr): restarting it will not help. */
  public static final int EXIT_BAD_CONFIG = 2;

  private WorkerEnv() {}

  /** The job's part of a worker's environment, with the job's task count (messages of other indexes are refused). */
  public static Map<String, String> forJob(JobTopology job, JobSettings s, int taskCount) {
    Map<String, String> env = forJob(job, s);
    env.put(TASK_COUNT, Integer.toString(taskCount));
    return env;
  }

  /** The job's part of a worker's environment, without the task count (the worker then checks no index bound). */
  public static Map<String, String> forJob(JobTopology job, JobSettings s) {
    Map<String, String> env = new LinkedHashMap<>();
    env.put(JOB_NAMESPACE, job.namespace());
    env.put(JOB_NAME, job.name());
    env.put(JOB_UID, job.uid());
    env.put(GPUS_PER_TASK, Integer.toString(s.gpusPerTask()));
    env.put(MAX_ATTEMPTS, Integer.toString(s.maxAttempts()));
    env.put(BACKOFF_INITIAL_MS, Long.toString(s.backoffInitial().toMillis()));
    env.put(BACKOFF_MAX_MS, Long.toString(s.backoffMax().toMillis()));
    env.put(TASK_TIMEOUT_MS, Long.toString(s.taskTimeout().toMillis()));
    if (s.taskTtl() != null) {
      env.put(TASK_TTL_MS, Long.toString(s.taskTtl().toMillis()));
    }
    env.put(DELIVERY_LIMIT, Integer.toString(s.deliveryLimit()));
    RunnerSettings r = s.runner();
    env.put(RUNNER_MODE, r.mode().specName());
    if (r.persistent()) {
      env.put(RUNNER_MAX_TASKS, Integer.toString(r.maxTasksPerProcess()));
      env.put(RUNNER_START_TIMEOUT_MS, Long.toString(r.startTimeout().toMillis()));
    }
    return env;
  }

  /**
   * Reads the job settings back from a worker's environment. Every one is required: the operator
   * and {@code trainq run} write them all from the spec, whose defaults the CRD schema holds.
   *
   * @throws IllegalArgumentException naming the variable that is missing or malformed
   */
  public static JobSettings jobSettings(Map<String, String> env) {
    long g = required(env, GPUS_PER_TASK);
    if (g < 1 || g > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(GPUS_PER_TASK + " must be >= 1, got " + g);
    }
    long attempts = required(env, MAX_ATTEMPTS);
    if (attempts < 1 || attempts > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(MAX_ATTEMPTS + " must be >= 1, got " + attempts);
    }
    long limit = required(env, DELIVERY_LIMIT);
    if (limit < 1 || limit > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(DELIVERY_LIMIT + " must be >= 1, got " + limit);
    }
    String ttl = env.get(TASK_TTL_MS);
    return new JobSettings(
        (int) g,
        (int) attempts,
        Duration.ofMillis(required(env, BACKOFF_INITIAL_MS)),
        Duration.ofMillis(required(env, BACKOFF_MAX_MS)),
        Duration.ofMillis(required(env, TASK_TIMEOUT_MS)),
        ttl == null || ttl.isBlank() ? null : Duration.ofMillis(required(env, TASK_TTL_MS)),
        (int) limit,
        runnerSettings(env));
  }

  /** The runner settings of a worker's environment ({@link #RUNNER_MODE}; the start timeout too when Persistent). */
  public static RunnerSettings runnerSettings(Map<String, String> env) {
    String mode = env.get(RUNNER_MODE);
    if (mode == null || mode.isBlank()) {
      throw new IllegalArgumentException(RUNNER_MODE + " is not set (Process or Persistent)");
    }
    RunnerSettings.Mode m;
    try {
      m = RunnerSettings.Mode.parse(mode);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(RUNNER_MODE + " must be Process or Persistent, got '" + mode + "'");
    }
    if (m == RunnerSettings.Mode.PROCESS) {
      return RunnerSettings.PROCESS;
    }
    long max = longVar(env, RUNNER_MAX_TASKS, 0);
    if (max < 0 || max > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(RUNNER_MAX_TASKS + " must be >= 0 (0: no limit), got " + max);
    }
    long start = required(env, RUNNER_START_TIMEOUT_MS);
    if (start <= 0) {
      throw new IllegalArgumentException(RUNNER_START_TIMEOUT_MS + " must be > 0, got " + start);
    }
    return new RunnerSettings(m, (int) max, Duration.ofMillis(start));
  }

  /** A numeric variable that must be set. */
  static long required(Map<String, String> env, String name) {
    String v = env.get(name);
    if (v == null || v.isBlank()) {
      throw new IllegalArgumentException(name + " is not set (the operator and trainq run set it from the job's spec)");
    }
    return longVar(env, name, 0);
  }

  public static int intVar(Map<String, String> env, String name, int dflt) {
    return (int) longVar(env, name, dflt);
  }

  /** A numeric variable; a malformed value is an IllegalArgumentException naming the variable. */
  public static long longVar(Map<String, String> env, String name, long dflt) {
    String v = env.get(name);
    if (v == null || v.isBlank()) {
      return dflt;
    }
    try {
      return Long.parseLong(v.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + " must be an integer, got '" + v + "'");
    }
  }
}
