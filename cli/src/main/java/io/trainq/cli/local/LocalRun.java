package io.trainq.cli.local;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.rabbitmq.client.Connection;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.trainq.api.TrainingJob;
import io.trainq.api.TrainingJobSpec;
import io.trainq.engine.EventGuard;
import io.trainq.engine.EventStream;
import io.trainq.engine.JobEvent;
import io.trainq.engine.JobProgress;
import io.trainq.engine.JobSpecs;
import io.trainq.engine.JobStatusFold;
import io.trainq.engine.QueueAudit;
import io.trainq.engine.RateLimitedLog;
import io.trainq.engine.TaskPlan;
import io.trainq.engine.TaskPublisher;
import io.trainq.engine.TopologyDeclarer;
import io.trainq.protocol.ConfirmingPublisher;
import io.trainq.protocol.Connections;
import io.trainq.protocol.JobSettings;
import io.trainq.protocol.JobTopology;
import io.trainq.protocol.RabbitSettings;
import io.trainq.protocol.WorkerEnv;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * `trainq run`: one TrainingJob on this machine. The same job logic as the operator declares the
 * queues, publishes from a cursor and folds events into exact counts; the state a TrainingJob keeps
 * in its status is kept in a file instead, written before the events it folds are acknowledged, so a
 * run stopped at any point (Ctrl-C, a crash, a reboot) continues where it was and counts nothing twice.
 */
public final class LocalRun {
  private static final int PUBLISH_BATCH = 2_000;
  private static final Duration CONFIRM_TIMEOUT = Duration.ofSeconds(30);
  /** How often the job's queues are compared with its accounting once every task is published. */
  private static final Duration AUDIT_EVERY = Duration.ofSeconds(2);
  /** A broker that cannot be read (a node restarting) is said once a minute, not every audit. */
  private final RateLimitedLog auditProblems = new RateLimitedLog(Duration.ofMinutes(1));

  /** Command-line options. */
  public static final class Options {
    public Path file;
    public Integer gpus;
    public String rabbitmqUri;
    public String namespace;
    public Path stateDir;
    public boolean fresh;
    public boolean plain;
    public Path projectRoot;
  }

  private final Options o;
  private final PrintStream out;
  private final PrintStream err;
  private volatile boolean interrupted;

  public LocalRun(Options o, PrintStream out, PrintStream err) {
    this.o = o;
    this.out = out;
    this.err = err;
  }

  /** Runs the job; returns the process exit code. */
  public int run() {
    TrainingJob job;
    try {
      job = JobFile.read(o.file);
    } catch (JobFile.InvalidJobException e) {
      err.println(e.getMessage());
      return 2;
    }
    TrainingJobSpec spec = job.getSpec();
    String name = job.getMetadata().getName();
    String ns = o.namespace != null ? o.namespace
        : job.getMetadata().getNamespace() != null ? job.getMetadata().getNamespace() : "default";
    int gpusPerTask = spec.getGpusPerTask();
    List<List<String>> groups;
    TaskPlan plan;
    JobSettings settings;
    try {
      // one worker per pod-sized group of GPUs, with gpusPerPod / gpusPerTask slots: the layout of the job's pods
      List<String> gpus = o.gpus != null ? Gpus.simulated(o.gpus) : Gpus.detect();
      Gpus.groups(gpus, gpusPerTask); // a machine without one task's GPUs: the error names spec.gpusPerTask
      groups = Gpus.groups(gpus, spec.getWorkers().gpusPerPod(gpusPerTask), "spec.workers.gpusPerPod");
      plan = TaskPlan.of(spec.getTasks());
      settings = JobSpecs.settings(spec);
    } catch (IllegalArgumentException e) {
      err.println("trainq run: " + e.getMessage());
      return 2;
    }

    Path stateDir = o.stateDir != null ? o.stateDir : Path.of(".trainq");
    try (JobLock lock = JobLock.acquire(stateDir, ns, name)) {
      return run(job, spec, ns, name, groups, plan, settings, stateDir);
    } catch (JobLock.HeldException e) {
      err.println("trainq run: " + e.getMessage());
      return 2;
    } catch (IOException e) {
      err.println("trainq run: cannot lock the job's state in " + stateDir + ": " + e.getMessage());
      return 2;
    }
  }

  private int run(TrainingJob job, TrainingJobSpec spec, String ns, String name, List<List<String>> groups, TaskPlan plan,
      JobSettings settings, Path stateDir) {
    Path stateFile = LocalState.file(stateDir, ns, name);
    String specHash = specHash(spec);
    LocalState previous;
    try {
      previous = LocalState.load(stateFile);
    } catch (IOException e) {
      err.println("trainq run: " + e.getMessage());
      return 2;
    }
    if (previous != null && !o.fresh && !previous.specHash().equals(specHash)) {
      err.println("trainq run: the TrainingJob " + ns + "/" + name + " changed since its last run here (" + stateFile
          + "): pass --fresh to start it over");
      return 2;
    }
    if (previous != null && !o.fresh && previous.finished()) {
      out.println("TrainingJob " + ns + "/" + name + " already ran to the end here (" + stateFile + "); pass --fresh to run it again.");
      printSummary(ns, name, previous.progress(), null, 0, 0, 0);
      return previous.progress().deadLettered() == 0 ? 0 : 1;
    }

    ProgressView view = new ProgressView(out, !o.plain && System.console() != null, Duration.ofSeconds(5));
    RabbitSettings rabbit;
    try {
      rabbit = LocalBroker.resolve(o.rabbitmqUri, o.projectRoot, view::log);
    } catch (IOException | IllegalArgumentException e) {
      err.println("trainq run: " + e.getMessage());
      return 2;
    } catch (InterruptedException e) {
      return 130;
    }

    installSignalHandlers();
    try (Connection conn = Connections.connect(rabbit, "trainq-run " + ns + "/" + name, Duration.ofSeconds(30))) {
      TopologyDeclarer declarer = new TopologyDeclarer(conn);
      if (previous != null && o.fresh) {
        forget(declarer, new JobTopology(ns, name, previous.uid()), settings, view);
      }
      LocalState state = previous != null && !o.fresh ? previous
          : new LocalState(UUID.randomUUID().toString(), specHash, 0, JobProgress.empty(plan.size()), false);
      state.save(stateFile);
      return runJob(conn, declarer, new JobTopology(ns, name, state.uid()), state, stateFile, spec, plan, settings, groups, rabbit, view);
    } catch (JobLock.HeldException e) {
      err.println("trainq run: " + e.getMessage());
      return 2;
    } catch (IOException e) {
      err.println("trainq run: " + e.getMessage());
      return 2;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return 130;
    }
  }

  private int runJob(Connection conn, TopologyDeclarer declarer, JobTopology topology, LocalState initial, Path stateFile,
      TrainingJobSpec spec, TaskPlan plan, JobSettings settings, List<List<String>> groups, RabbitSettings rabbit,
      ProgressView view) throws IOException, InterruptedException {
    String ns = topology.namespace();
    String name = topology.name();
    // the file lock covers one state directory; this covers copies of the state and other machines
    JobLock.onBroker(conn, topology);
    TopologyDeclarer.Result declared = declarer.declare(topology, settings);
    if (!declared.ok()) {
      err.println("trainq run: " + declared.object() + ": " + declared.detail());
      return 1;
    }
    boolean resumed = initial.publishCursor() > 0;
    view.log((resumed ? "Continuing" : "Running") + " TrainingJob " + ns + "/" + name + ": " + plan.size() + " tasks on "
        + groups.size() + " worker(s) of " + groups.get(0).size() + " GPU(s) with " + groups.get(0).size() / settings.gpusPerTask()
        + " slot(s) each, queue " + topology.taskQueue()
        + (resumed ? " (" + initial.progress().progressText() + " done before)" : ""));

    // while the workers start: the first outcomes, which come all at once, then find the decoders warm
    io.trainq.protocol.Messages.warmUpInBackground(topology);
    JobStatusFold fold = JobStatusFold.restore(initial.progress(), settings.gpusPerTask());
    RateLimitedLog rejections = new RateLimitedLog(Duration.ofMinutes(1));
    fold.guardedBy(new EventGuard(topology.uid(), settings.maxAttempts(), settings.gpusPerTask(), settings.taskTimeout(),
        System::currentTimeMillis), (reason, e) -> {
          long suppressed = rejections.permit(reason);
          if (suppressed >= 0) {
            view.log("ignored an event that cannot be about this job (" + reason + ": index " + e.index() + ", attempt "
                + e.attempt() + ")" + (suppressed > 0 ? "; " + suppressed + " more since the last report" : ""));
          }
        });
    Object lock = new Object();
    LocalState[] state = {initial};
    double busyAtStart = initial.progress().busyGpuSeconds();

    String eventsQueue = "tq." + topology.key() + ".events";
    EventStream.Handler store = batch -> {
      try {
        synchronized (lock) {
          boolean changed = false;
          for (JobEvent e : batch) {
            if (topology.key().equals(e.jobKey())) {
              changed |= fold.apply(e);
            }
          }
          if (changed) {
            state[0] = state[0].withProgress(fold.progress());
            state[0].save(stateFile);
          }
        }
        return CompletableFuture.completedFuture(null);
      } catch (IOException | RuntimeException e) {
        return CompletableFuture.failedFuture(e);
      }
    };
    Path logFile = stateFile.resolveSibling(ns + "." + name + ".log");
    Consumer<String> workerLog = fileLog(logFile, view);
    view.log("Worker logs: " + logFile);
    BrokerAlarmNotice alarm = new BrokerAlarmNotice(view::log);

    List<Map<String, String>> envs = workerEnvs(topology, settings, spec, plan.size(), groups, rabbit, view);
    Path workDir = spec.getWorkingDir() == null ? null : Path.of(spec.getWorkingDir());
    try (EventStream events = EventStream.start(conn, EventStream.Options.defaults().withQueue(eventsQueue)
            .withBindingKeys(List.of(topology.key())), store, "trainq-run");
         WorkerSupervisor workers = new WorkerSupervisor(envs, spec.getCommand(), workDir, line -> {
           if (line.startsWith("[worker ")) {
             workerLog.accept(line);
             alarm.see(line);
           } else {
             view.log(line);
             workerLog.accept(line);
           }
         });
         ConfirmingPublisher confirming = new ConfirmingPublisher(conn.createChannel())) {
      workers.start();
      TaskPublisher publisher = new TaskPublisher(confirming, TaskPublisher.DEFAULT_WINDOW);
      long cursor = initial.publishCursor();
      int publishFailures = 0;
      QueueAudit audit = new QueueAudit();
      long heldPerWorker = JobSpecs.heldPerWorker(spec);
      long nextAudit = System.nanoTime();
      while (!interrupted) {
        JobProgress p;
        synchronized (lock) {
          p = fold.progress();
        }
        view.update(snapshot(p, workers, groups.size()));
        if (workers.fatalError() != null) {
          view.finish(snapshot(p, workers, groups.size()));
          err.println("trainq run: " + workers.fatalError() + "; worker logs: " + logFile);
          return 2;
        }
        if (cursor < plan.size()) {
          TaskPublisher.Result r = publisher.publish(topology, plan, cursor, PUBLISH_BATCH, CONFIRM_TIMEOUT);
          cursor = r.cursor();
          synchronized (lock) {
            state[0] = state[0].withCursor(cursor);
            state[0].save(stateFile);
          }
          if (!r.complete()) {
            if (++publishFailures > 10) {
              err.println("trainq run: cannot publish tasks: " + r.failure().getMessage());
              return 1;
            }
            view.log("publishing paused: " + r.failure().getMessage() + "; retrying");
            Thread.sleep(1000);
          }
          continue;
        }
        if (p.done()) {
          break;
        }
        if (System.nanoTime() - nextAudit >= 0) {
          nextAudit = System.nanoTime() + AUDIT_EVERY.toNanos();
          auditQueues(audit, declarer, topology, settings, plan, eventsQueue, events, publisher, workers,
              (long) workers.alive() * heldPerWorker, () -> {
                synchronized (lock) {
                  return fold.progress();
                }
              }, view);
        }
        Thread.sleep(200);
      }

      JobProgress p;
      if (interrupted) {
        view.log("Stopping: running tasks go back to the queue; run the same command again to continue.");
        workers.stop(Duration.ofSeconds(30));
        drain(events);
        synchronized (lock) {
          p = fold.progress();
        }
        view.finish(snapshot(p, workers, groups.size()));
        out.println("Stopped at " + p.progressText() + ". State kept in " + stateFile + ".");
        return 130;
      }
      workers.stop(Duration.ofSeconds(30));
      synchronized (lock) {
        p = fold.progress();
        state[0] = state[0].withProgress(p).withFinished(true);
        state[0].save(stateFile);
      }
      view.finish(snapshot(p, workers, groups.size()));
      int gpus = groups.size() * groups.get(0).size();
      printSummary(ns, name, p, view.elapsed(), workers.restarts(), gpus, p.busyGpuSeconds() - busyAtStart);
      events.close();
      long left = declarer.messagesIn(topology, settings);
      if (left > 0) {
        view.log(left + " message(s) left in the job's task and retry queues were none of its tasks (every task is "
            + "finished); they are deleted with the queues");
      }
      cleanUp(conn, declarer, topology, settings, eventsQueue, p, view);
      return p.deadLettered() == 0 ? 0 : 1;
    }
  }

  /**
   * Finds tasks lost with the task queue (deleted by hand, or deleted and declared again, or purged):
   * when the broker holds fewer of them than are unfinished ({@link QueueAudit}, as the operator
   * checks), the queues are declared again, the missing tasks published again and the workers that
   * exited with the queue started again. A broker that cannot be read now is read at the next audit.
   */
  private void auditQueues(QueueAudit audit, TopologyDeclarer declarer, JobTopology topology, JobSettings settings,
      TaskPlan plan, String eventsQueue, EventStream events, TaskPublisher publisher, WorkerSupervisor workers,
      long heldBound, java.util.function.Supplier<JobProgress> progress, ProgressView view) throws InterruptedException {
    try {
      // observed before the accounting is read: what is folded meanwhile only makes the deficit smaller
      QueueAudit.Observation o = declarer.observe(topology, settings, eventsQueue, events.unacknowledged(), heldBound);
      JobProgress p = progress.get();
      QueueAudit.Verdict v = audit.check(p, o, System.currentTimeMillis());
      if (v.kind() == QueueAudit.Verdict.Kind.STRANDED) {
        TaskPublisher.Result r = publisher.republish(topology, plan, v.republish(), CONFIRM_TIMEOUT);
        view.log("republished " + r.confirmed() + " task(s) that were running when the task queue was lost and stopped with it"
            + (r.complete() ? "" : " (" + r.failure().getMessage() + "; the queue checks find the rest)"));
        return;
      }
      if (v.kind() != QueueAudit.Verdict.Kind.LOST) {
        // a worker still stopping when the lost tasks were republished exits afterwards: work is left for it
        if (o.taskQueueExists() && o.ready() + o.retrying() > 0) {
          int revived = workers.revive();
          if (revived > 0) {
            view.log("started " + revived + " worker(s) again: tasks are waiting and they had exited");
          }
        }
        return;
      }
      String what = o.taskQueueExists() ? "was emptied (deleted and declared again, or purged)" : "was deleted";
      view.log("task queue " + topology.taskQueue() + " " + what + " with " + p.remaining() + " unfinished task(s); "
          + "republishing the " + v.republish().cardinality() + " not running");
      TopologyDeclarer.Result declared = declarer.declare(topology, settings);
      if (!declared.ok()) {
        view.log("cannot declare the job's queues again (" + declared.object() + ": " + declared.detail() + "); trying again");
        return;
      }
      TaskPublisher.Result r = publisher.republish(topology, plan, v.republish(), CONFIRM_TIMEOUT);
      if (!r.complete()) {
        view.log("republishing stopped after " + r.confirmed() + " task(s): " + r.failure().getMessage() + "; trying again");
        return;
      }
      int revived = workers.revive();
      view.log("republished " + r.confirmed() + " task(s)" + (revived > 0 ? "; started " + revived + " worker(s) again" : ""));
    } catch (IOException | RuntimeException e) {
      // a connection down (a node restarting: AlreadyClosedException) never ends the run; the client recovers it
      long suppressed = auditProblems.permit("read");
      if (suppressed >= 0) {
        view.log("cannot read the job's queues to check them (" + e.getMessage() + "); trying again every "
            + AUDIT_EVERY.toSeconds() + " s" + (suppressed > 0 ? " (" + suppressed + " more since the last report)" : ""));
      }
    }
  }

  /** Waits until the workers' last events are folded, so a continued run starts from exact counts. */
  private static void drain(EventStream events) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    long last = -1;
    while (System.nanoTime() < deadline) {
      long acked = events.acknowledged();
      if (events.unacknowledged() == 0 && acked == last) {
        return;
      }
      last = acked;
      Thread.sleep(300);
    }
  }

  private static void cleanUp(Connection conn, TopologyDeclarer declarer, JobTopology topology, JobSettings settings,
      String eventsQueue, JobProgress p, ProgressView view) {
    try (var ch = conn.createChannel()) {
      ch.queueDelete(eventsQueue);
      if (p.deadLettered() == 0 && p.rejectedMessages() == 0) {
        declarer.delete(topology, settings);
      } else {
        ch.queueDelete(topology.taskQueue());
        for (Duration d : JobTopology.retryDelays(settings)) {
          ch.queueDelete(topology.retryQueue(d));
        }
        view.log("Dead letters stay in " + topology.deadLetterQueue() + " for inspection.");
      }
    } catch (IOException | java.util.concurrent.TimeoutException | RuntimeException e) {
      view.log("could not delete the job's queues: " + e.getMessage());
    }
  }

  private static void forget(TopologyDeclarer declarer, JobTopology old, JobSettings settings, ProgressView view) {
    try {
      List<String> gone = declarer.delete(old, settings);
      if (!gone.isEmpty()) {
        view.log("--fresh: deleted the earlier run's queues " + gone);
      }
    } catch (IOException e) {
      view.log("--fresh: could not delete the earlier run's queues: " + e.getMessage());
    }
  }

  private List<Map<String, String>> workerEnvs(JobTopology topology, JobSettings settings, TrainingJobSpec spec, int taskCount,
      List<List<String>> groups, RabbitSettings rabbit, ProgressView view) {
    Map<String, String> common = new LinkedHashMap<>();
    var w = spec.getWorkers();
    if (w.getEnv() != null) {
      for (EnvVar v : w.getEnv()) {
        if (v.getValueFrom() != null) {
          view.log("spec.workers.env " + v.getName() + ": valueFrom needs Kubernetes and is ignored by trainq run");
        } else {
          common.put(v.getName(), v.getValue() == null ? "" : v.getValue());
        }
      }
    }
    common.putAll(rabbit.toEnv());
    common.putAll(WorkerEnv.forJob(topology, settings, taskCount));
    // the runner decides when workers stop: not when idle, but when the job is done
    common.put(WorkerEnv.IDLE_TIMEOUT_MS, "0");
    common.put(WorkerEnv.HTTP_PORT, "0");
    common.put(WorkerEnv.SHUTDOWN_GRACE_MS, "3000");
    common.put(WorkerEnv.EXTRA_PREFETCH, Integer.toString(w.getExtraPrefetch()));
    if (spec.getWorkingDir() != null) {
      common.put(WorkerEnv.WORKING_DIR, spec.getWorkingDir());
    }
    List<Map<String, String>> envs = new ArrayList<>();
    for (int i = 0; i < groups.size(); i++) {
      Map<String, String> env = new LinkedHashMap<>(common);
      env.put(WorkerEnv.GPUS, String.join(",", groups.get(i)));
      env.put(WorkerEnv.WORKER_NAME, "local-" + i + "-" + ProcessHandle.current().pid());
      envs.add(env);
    }
    return envs;
  }

  private static ProgressView.Snapshot snapshot(JobProgress p, WorkerSupervisor w, int workers) {
    return new ProgressView.Snapshot(p.total(), p.succeeded(), p.deadLettered(), p.running(), (int) p.retried(), w.alive(), workers);
  }

  private void printSummary(String ns, String name, JobProgress p, Duration elapsed, int restarts, int gpus, double busyGpuSeconds) {
    String outcome = p.deadLettered() == 0 ? "Succeeded" : "Failed";
    out.println();
    out.println("TrainingJob " + ns + "/" + name + " " + outcome + (elapsed == null ? "" : " in " + ProgressView.clock(elapsed)));
    out.printf(Locale.ROOT, "  %-18s %d%n", "tasks", p.total());
    out.printf(Locale.ROOT, "  %-18s %d%n", "succeeded", p.succeeded());
    out.printf(Locale.ROOT, "  %-18s %d%n", "dead-lettered", p.deadLettered());
    out.printf(Locale.ROOT, "  %-18s %d%n", "retries", p.retried());
    if (elapsed != null) {
      out.printf(Locale.ROOT, "  %-18s %d%n", "worker restarts", restarts);
      double allocated = gpus * (elapsed.toMillis() / 1000.0);
      out.printf(Locale.ROOT, "  %-18s %.0f%%%n", "GPU utilization",
          allocated <= 0 ? 0 : 100.0 * Math.min(1.0, busyGpuSeconds / allocated));
    }
    if (p.rejectedMessages() > 0) {
      out.printf(Locale.ROOT, "  %-18s %d (dead-lettered; none of the job's tasks)%n", "rejected messages", p.rejectedMessages());
    }
    if (!p.deadLetters().isEmpty()) {
      out.println();
      out.println("Dead letters (the last " + p.deadLetters().size() + "):");
      out.printf(Locale.ROOT, "  %-7s %-9s %-15s %-5s %s%n", "INDEX", "ATTEMPTS", "REASON", "EXIT", "LAST ERROR");
      for (JobProgress.DeadLetterInfo d : p.deadLetters()) {
        String error = d.lastError() == null ? "" : d.lastError().replace('\n', ' ').strip();
        if (error.length() > 100) {
          error = "…" + error.substring(error.length() - 99);
        }
        out.printf(Locale.ROOT, "  %-7s %-9s %-15s %-5s %s%n", d.index() < 0 ? "-" : Integer.toString(d.index()),
            d.index() < 0 ? "-" : Integer.toString(d.attempts()), d.reason(), d.exitCode() == null ? "-" : d.exitCode().toString(), error);
      }
      if (!p.failedIndexes().isEmpty()) {
        out.println("Indexes: " + p.failedIndexes());
      }
    }
  }

  private void installSignalHandlers() {
    try {
      sun.misc.Signal.handle(new sun.misc.Signal("INT"), s -> interrupted = true);
      sun.misc.Signal.handle(new sun.misc.Signal("TERM"), s -> interrupted = true);
    } catch (IllegalArgumentException e) {
      // a JVM that reserves these signals stops the run through its default handling
    }
  }

  private static Consumer<String> fileLog(Path file, ProgressView view) {
    try {
      Files.createDirectories(file.getParent());
      var w = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
      return line -> {
        synchronized (w) {
          try {
            w.write(line);
            w.newLine();
            w.flush();
          } catch (IOException e) {
            // the terminal still shows progress; a full disk must not stop the job
          }
        }
      };
    } catch (IOException e) {
      view.log("cannot write worker logs to " + file + ": " + e.getMessage());
      return line -> { };
    }
  }

  static String specHash(TrainingJobSpec spec) {
    try {
      byte[] json = new ObjectMapper().writeValueAsBytes(spec);
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(json)).substring(0, 16);
    } catch (IOException | NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
