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

  void execute(Slot slot, Delivery d) {
    TaskMessage t;
    try {
      t = Messages.decodeTask(d.body());
      checkBelongsToJob(t, config);
    } catch (MalformedMessageException e) {
      if (!consumer.lost(d)) {
        reporter.malformed(d, e.getMessage());
      }
      return;
    }
    if (consumer.lost(d)) {
      // delivered before a reconnect and already back in the queue
      log.debug("task {}: skipping a delivery from before the reconnect", t.index());
      return;
    }
    MDC.put("task", Integer.toString(t.index()));
    try {
      run(slot, d, t);
    } finally {
      MDC.remove("task");
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

  private void run(Slot slot, Delivery d, TaskMessage t) {
    long slotStart = System.nanoTime();
    if (d.redelivered()) {
      metrics.redelivered.increment();
      log.info("attempt {} redelivered (delivery count {}): running it again as the same attempt", t.attempt(), d.deliveryCount());
      if (reporter.ackIfDone(d, t)) {
        return;
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
      return;
    }
    slot.attemptStartNanos = run.startNanos();
    slot.current = run.process();
    metrics.dispatch.observeNanos(run.startNanos() - d.receivedNanos());
    StartedEvent startedEvent = StartedEvent.schedule(timers, config.dispatch().startedDelay(), () -> reporter.started(t, slot.id));
    log.info("attempt {} started on slot {} (pid {}{})", t.attempt(), slot.id, run.process().pid(),
        slot.devices.isEmpty() ? "" : ", CUDA_VISIBLE_DEVICES=" + slot.devices);

    Attempt.Result r;
    CompletableFuture<Void> started;
    try {
      r = run.await(config.job().taskTimeout());
    } catch (InterruptedException e) {
      run.process().forceKill();
      Thread.currentThread().interrupt();
      return;
    } finally {
      started = startedEvent.end();
      deleteQuietly(params);
    }
    switch (r.stoppedBy()) {
      case JOB_DELETED -> {
        reporter.stoppedWithQueue(t, slot.id, started, r.durationNanos());
        return;
      }
      case SHUTDOWN -> {
        reporter.requeued(d, t, slot.id, started, r.durationNanos(), shutdownDeadlinePassed);
        return;
      }
      case NONE -> { }
    }
    metrics.duration.observeNanos(r.durationNanos());
    lookahead.finished(r.durationNanos());
    double seconds = r.durationNanos() / 1e9;
    // The outcome is settled off this thread (confirmed, then acked): the slot is free for its next task now.
    if (r.timedOut()) {
      log.warn("attempt {} timed out after {} ms; its process tree was killed", t.attempt(), config.job().taskTimeout().toMillis());
      String error = tail(run, "timed out after " + config.job().taskTimeout().toMillis() + " ms");
      settler.failed(() -> reporter.failed(d, t, slot.id, started, TaskEvent.Reason.TIMEOUT, r.exitCode(), error, r.durationNanos()));
    } else if (r.failure() != null) {
      // a persistent runner's failures: the task's own (its answer), or the runner's (exited, protocol, not ready)
      log.info("attempt {} failed ({}) after {} s", t.attempt(), r.failure(), String.format(java.util.Locale.ROOT, "%.3f", seconds));
      settler.failed(() -> reporter.failed(d, t, slot.id, started, r.failure(), r.exitCode(), r.error(), r.durationNanos()));
    } else if (r.succeeded()) {
      settler.succeeded(new Settler.Success(d, t, slot.id, started, r.durationNanos()));
      log.info("attempt {} succeeded in {} s", t.attempt(), String.format(java.util.Locale.ROOT, "%.3f", seconds));
      if (log.isDebugEnabled()) {
        // the dispatch chain, for tuning: delivery to slot, to process running, process
        log.debug("timing: queued {} us, prepared {} us, spawned {} us, ran {} us",
            (slotStart - d.receivedNanos()) / 1000, (run.startNanos() - slotStart) / 1000,
            (run.spawnedNanos() - run.startNanos()) / 1000, r.durationNanos() / 1000);
      }
    } else {
      log.info("attempt {} failed with exit code {} after {} s", t.attempt(), r.exitCode(),
          String.format(java.util.Locale.ROOT, "%.3f", seconds));
      String error = tail(run, null);
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
