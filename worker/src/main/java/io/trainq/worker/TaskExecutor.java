package io.trainq.worker;

import io.trainq.protocol.MalformedMessageException;
import io.trainq.protocol.Messages;
import io.trainq.protocol.TaskEvent;
import io.trainq.protocol.TaskMessage;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * Runs one delivery on a slot, start to settlement: decode, spawn, wait, report, ack. The path from
 * a delivery to its process holds nothing that can wait: STARTED is published after the spawn and
 * its confirm is awaited only before the outcome.
 */
final class TaskExecutor {
  private static final Logger log = LoggerFactory.getLogger(TaskExecutor.class);
  /** Parameters longer than this go to the file only: one environment string is limited to 128 KiB by Linux. */
  static final int MAX_PARAMS_ENV = 64 * 1024;
  private static final File DEV_NULL = new File("/dev/null");

  private final WorkerConfig config;
  private final Reporter reporter;
  private final TaskConsumer consumer;
  private final Metrics metrics;
  private final ExecutorService pumps;
  private final Path paramsDir;
  private final BooleanSupplier shutdownDeadlinePassed;
  private final Settler settler;
  private final ScheduledExecutorService timers;
  private final Lookahead lookahead;
  private final Runners runners;

  TaskExecutor(WorkerConfig config, Reporter reporter, Settler settler, TaskConsumer consumer, Metrics metrics,
      ExecutorService pumps, ScheduledExecutorService timers, Lookahead lookahead, Path paramsDir, Runners runners,
      BooleanSupplier shutdownDeadlinePassed) {
    this.config = config;
    this.reporter = reporter;
    this.settler = settler;
    this.timers = timers;
    this.lookahead = lookahead;
    this.consumer = consumer;
    this.metrics = metrics;
    this.pumps = pumps;
    this.paramsDir = paramsDir;
    this.shutdownDeadlinePassed = shutdownDeadlinePassed;
    this.runners = runners;
  }

  /** Stops the slots' persistent runners (the worker is closing). */
  void close() {
    runners.close();
  }

  /**
   * Runs one delivery on the slot. {@code previous} is the slot's work left from its previous attempt
   * (its outcome's log line and settlement): it runs once this attempt is under way, so that the
   * next task starts without waiting for it, and in any case before this returns.
   *
   * @return this attempt's own such work, for the caller to pass on (or run), or null
   */
  Runnable execute(Slot slot, Delivery d, Runnable previous) {
    Once before = new Once(previous);
    try {
      TaskMessage t;
      try {
        t = Messages.decodeTask(d.body());
        checkBelongsToJob(t, config);
      } catch (MalformedMessageException e) {
        if (!consumer.lost(d)) {
          reporter.malformed(d, e.getMessage());
        }
        return null;
      }
      if (consumer.lost(d)) {
        // delivered before a reconnect and already back in the queue
        log.debug("task {}: skipping a delivery from before the reconnect", t.index());
        return null;
      }
      MDC.put("task", Integer.toString(t.index()));
      try {
        return run(slot, d, t, before);
      } finally {
        MDC.remove("task");
      }
    } finally {
      before.run();
    }
  }

  /** Runs a slot's work left from its previous attempt (no next attempt to overlap it with). */
  static void finish(Runnable previous) {
    new Once(previous).run();
  }

  /** Runs its work once, at the first call; errors are logged, never thrown into the slot's path. */
  private static final class Once implements Runnable {
    private Runnable work;

    Once(Runnable work) {
      this.work = work;
    }

    @Override
    public void run() {
      Runnable w = work;
      work = null;
      if (w != null) {
        try {
          w.run();
        } catch (RuntimeException e) {
          log.error("unexpected error in the work left from a slot's previous attempt", e);
        }
      }
    }
  }

  /** Work for later under the task's name in the log (MDC), whichever task the slot names then. */
  private static Runnable underTask(TaskMessage t, Runnable work) {
    String task = Integer.toString(t.index());
    return () -> underTask(task, () -> {
      work.run();
      return null;
    });
  }

  private static <T> T underTask(String task, Supplier<T> work) {
    String outer = MDC.get("task");
    MDC.put("task", task);
    try {
      return work.get();
    } finally {
      if (outer == null) {
        MDC.remove("task");
      } else {
        MDC.put("task", outer);
      }
    }
  }

  /**
   * A well-formed message is still not a task of this job when it names another job, an index the
   * job does not have, or an attempt beyond its budget: none of these may run on a GPU.
   */
  static void checkBelongsToJob(TaskMessage t, WorkerConfig config) throws MalformedMessageException {
    if (!t.jobUid().equals(config.topology().uid())) {
      throw new MalformedMessageException("task of job uid " + t.jobUid() + " on the queue of job uid " + config.topology().uid());
    }
    if (config.taskCount() > 0 && t.index() >= config.taskCount()) {
      throw new MalformedMessageException("index " + t.index() + " is not a task of the job (it has " + config.taskCount()
          + " tasks, 0-" + (config.taskCount() - 1) + ")");
    }
    if (t.attempt() > config.job().maxAttempts()) {
      throw new MalformedMessageException("attempt " + t.attempt() + " is beyond the job's retry budget of "
          + config.job().maxAttempts() + " attempts");
    }
  }

  /** Returns a delivery whose run failed unexpectedly to the queue (infrastructure: the budget is kept). */
  void release(Delivery d) {
    consumer.nack(d, true);
  }

  private Runnable run(Slot slot, Delivery d, TaskMessage t, Runnable underWay) {
    long slotStart = System.nanoTime();
    if (d.redelivered()) {
      metrics.redelivered.increment();
      log.info("attempt {} redelivered (delivery count {}): running it again as the same attempt", t.attempt(), d.deliveryCount());
      if (reporter.ackIfDone(d, t)) {
        return null;
      }
    }
    Path params = paramsDir.resolve("task-" + t.index() + "-" + t.attempt() + "-" + slot.id + ".json");
    Attempt run;
    try {
      String json = t.params().toString();
      Files.writeString(params, json, StandardCharsets.UTF_8);
      run = runners.forSlot(slot).start(slot, t, json, params);
    } catch (IOException | RuntimeException e) {
      deleteQuietly(params);
      log.warn("attempt {} could not start: {}", t.attempt(), e.getMessage());
      String error = "cannot start " + config.command() + ": " + e.getMessage();
      settler.failed(() -> reporter.failed(d, t, slot.id, null, TaskEvent.Reason.SPAWN_FAILED, null, error, 0));
      return null;
    }
    slot.attemptStartNanos = run.startNanos();
    slot.current = run.process();
    metrics.dispatch.observeNanos(run.startNanos() - d.receivedNanos());
    long pid = run.process().pid();
    // An outcome implies its start: the start is logged (and STARTED published) only for an attempt
    // still running after the delay, so that a short one costs one line, with its slot and pid.
    String task = Integer.toString(t.index());
    StartedEvent startedEvent = StartedEvent.schedule(timers, config.dispatch().startedDelay(), () -> underTask(task, () -> {
      log.info("attempt {} started on slot {} (pid {}{})", t.attempt(), slot.id, pid,
          slot.devices.isEmpty() ? "" : ", CUDA_VISIBLE_DEVICES=" + slot.devices);
      return reporter.started(t, slot.id);
    }));

    Attempt.Result r;
    CompletableFuture<Void> started;
    try {
      r = run.await(config.job().taskTimeout(), underWay);
    } catch (InterruptedException e) {
      run.process().forceKill();
      Thread.currentThread().interrupt();
      return null;
    } finally {
      started = startedEvent.end();
      deleteQuietly(params);
    }
    switch (r.stoppedBy()) {
      case JOB_DELETED -> {
        reporter.stoppedWithQueue(t, slot.id, started, r.durationNanos());
        return null;
      }
      case SHUTDOWN -> {
        reporter.requeued(d, t, slot.id, started, r.durationNanos(), shutdownDeadlinePassed);
        return null;
      }
      case NONE -> { }
    }
    metrics.duration.observeNanos(r.durationNanos());
    lookahead.finished(r.durationNanos());
    String error = r.timedOut() ? tail(run, "timed out after " + config.job().taskTimeout().toMillis() + " ms")
        : r.failure() == null && !r.succeeded() ? tail(run, null) : null;
    long spawnMicros = (run.spawnedNanos() - run.startNanos()) / 1000;
    // The outcome is logged and settled (confirmed, then acked) once the slot's next task is under way.
    return underTask(t, () -> {
      try {
        outcome(d, t, slot, pid, started, r, error, slotStart - d.receivedNanos(), spawnMicros);
      } catch (RuntimeException e) {
        // as for an error on the slot's path: the delivery, unless settled, goes back to the queue
        log.error("slot {}: unexpected error settling attempt {}; returning it to the queue", slot.id, t.attempt(), e);
        release(d);
      }
    });
  }

  /** Nanoseconds as seconds with three decimals ("0.201"), without a Formatter's cost on the slot's path. */
  static String seconds(long nanos) {
    long ms = Math.max(0, (nanos + 500_000) / 1_000_000);
    long frac = ms % 1000;
    return (ms / 1000) + (frac < 10 ? ".00" : frac < 100 ? ".0" : ".") + frac;
  }

  private void outcome(Delivery d, TaskMessage t, Slot slot, long pid, CompletableFuture<Void> started, Attempt.Result r,
      String error, long queuedNanos, long spawnMicros) {
    String seconds = seconds(r.durationNanos());
    if (r.timedOut()) {
      log.warn("attempt {} timed out after {} ms on slot {} (pid {}); its process tree was killed", t.attempt(),
          config.job().taskTimeout().toMillis(), slot.id, pid);
      settler.failed(() -> reporter.failed(d, t, slot.id, started, TaskEvent.Reason.TIMEOUT, r.exitCode(), error, r.durationNanos()));
    } else if (r.failure() != null) {
      // a persistent runner's failures: the task's own (its answer), or the runner's (exited, protocol, not ready)
      log.info("attempt {} failed ({}) after {} s on slot {} (pid {})", t.attempt(), r.failure(), seconds, slot.id, pid);
      settler.failed(() -> reporter.failed(d, t, slot.id, started, r.failure(), r.exitCode(), r.error(), r.durationNanos()));
    } else if (r.succeeded()) {
      settler.succeeded(new Settler.Success(d, t, slot.id, started, r.durationNanos()));
      log.info("attempt {} succeeded in {} s on slot {} (pid {})", t.attempt(), seconds, slot.id, pid);
      if (log.isDebugEnabled()) {
        // the dispatch chain, for tuning: delivery to slot, process spawned (or task sent), ran
        log.debug("timing: queued {} us, spawned {} us, ran {} us", queuedNanos / 1000, spawnMicros, r.durationNanos() / 1000);
      }
    } else {
      log.info("attempt {} failed with exit code {} after {} s on slot {} (pid {})", t.attempt(), r.exitCode(), seconds,
          slot.id, pid);
      settler.failed(() -> reporter.failed(d, t, slot.id, started, TaskEvent.Reason.FAILED, r.exitCode(), error, r.durationNanos()));
    }
  }

  /** The task's process: the worker's environment without the broker's secrets, plus the task's variables. */
  static ProcessBuilder processBuilder(WorkerConfig config, int slot, String devices, TaskMessage t, String paramsJson,
      Path paramsFile) {
    ProcessBuilder pb = new ProcessBuilder(config.command());
    Map<String, String> env = pb.environment();
    // the JVM's own environment holds TRAINQ_RABBITMQ_*: start from nothing, not from it
    env.clear();
    env.putAll(config.taskEnv());
    TaskEnv.put(env, config, slot, devices, t, paramsJson, paramsFile);
    pb.redirectInput(ProcessBuilder.Redirect.from(DEV_NULL));
    if (config.workingDir() != null) {
      pb.directory(config.workingDir().toFile());
    }
    return pb;
  }

  private static String tail(Attempt run, String fallback) {
    try {
      String s = run.stderrTail();
      if (s.isEmpty()) {
        return fallback;
      }
      return fallback == null ? s : fallback + "; stderr: " + s;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return fallback;
    }
  }

  private static void deleteQuietly(Path p) {
    try {
      Files.deleteIfExists(p);
    } catch (IOException e) {
      // a leftover parameter file in the worker's own temp directory is harmless
    }
  }
}
