package io.trainq.operator.k8s;

import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.trainq.api.TrainingJob;
import io.trainq.engine.EventGuard;
import io.trainq.engine.JobEvent;
import io.trainq.engine.RateLimitedLog;
import io.trainq.engine.JobProgress;
import io.trainq.engine.JobSpecs;
import io.trainq.engine.JobStatusFold;
import io.trainq.engine.QueueAudit;
import io.trainq.engine.TaskPlan;
import io.trainq.protocol.JobSettings;
import io.trainq.protocol.JobTopology;
import io.trainq.protocol.TaskEvent;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What the operator keeps in memory for one TrainingJob (by uid): its plan and settings, derived once
 * from the immutable part of the spec, and its fold with the versions that tie folded events to
 * stored statuses. Events wait in {@link #fold} until a status at least as new as their fold
 * version is stored ({@link #stored}); only then are they acknowledged.
 */
final class JobRuntime {
  private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(JobRuntime.class);
  private static final RateLimitedLog REJECTIONS_LOG = new RateLimitedLog(java.time.Duration.ofMinutes(1));
  final ResourceID id;
  final String uid;
  final JobTopology topology;
  final int gpusPerTask;
  /** Null when the spec cannot run; then {@link #specError} says why. */
  final TaskPlan plan;
  final JobSettings settings;
  final String specError;
  private final JobStatusFold fold;
  private long version;
  private long storedVersion;
  private final TreeMap<Long, List<CompletableFuture<Void>>> waiters = new TreeMap<>();
  private boolean closed;

  // Reconciler-owned state (one reconciliation per job at a time).
  volatile boolean topologyReady;
  /** The job's own broker user exists with its permissions (per-job broker users); made once per operator run. */
  volatile boolean workerUserReady;
  volatile long lastDeclareMillis;
  volatile long cursor;
  volatile double allocatedGpuSeconds;
  volatile long lastAccountMillis;
  volatile long requeueSinceMillis;
  volatile String lastPhase;
  /** When a status was last stored (System.nanoTime), for spacing the stores of a busy job. */
  volatile long lastStoreNanos;
  final java.util.concurrent.atomic.AtomicBoolean storeScheduled = new java.util.concurrent.atomic.AtomicBoolean();
  /** Ready tasks in the task queue at {@link #queuedAtNanos}, to size the worker pool without asking every time. */
  volatile long queued;
  volatile long queuedAtNanos;
  final Set<String> warnedOnce = ConcurrentHashMap.newKeySet();
  /** Why the API server refuses the job's worker pods, while it does; null when it does not. */
  volatile String workersBlocked;
  volatile int blockedRetries;
  /** Finds tasks lost with their queue. */
  final QueueAudit audit = new QueueAudit();
  /** What the last loss of tasks was, for the TasksLost condition; null when none was seen. */
  volatile String tasksLost;
  /** Lost tasks found and not all republished yet. */
  volatile boolean tasksLostPending;
  /** Whether the queues of the finished job were looked at for messages that are none of its tasks. */
  volatile boolean strayChecked;
  /** Kueue: the ClusterQueue and count of the admission last reported (empty while pending, null before). */
  volatile String kueueAdmittedTo;
  /** Kueue: when the eviction last reported happened. */
  volatile String kueueEvictedAt;
  /** Why the broker blocks publishing (a resource alarm) as last reported, or null. */
  volatile String brokerBlocked;

  /** For metrics: folded outcomes, task durations, events dropped by the guard. */
  private final JobMeters meters;

  private JobRuntime(TrainingJob job, TaskPlan plan, JobSettings settings, String specError, JobProgress restored,
      JobMeters meters) {
    this.meters = meters;
    this.id = ResourceID.fromResource(job);
    this.uid = job.getMetadata().getUid();
    this.topology = new JobTopology(job.getMetadata().getNamespace(), job.getMetadata().getName(), uid);
    // a spec that cannot be read runs no task: its size only weighs the (empty) GPU figures
    this.gpusPerTask = settings == null ? 1 : settings.gpusPerTask();
    this.plan = plan;
    this.settings = settings;
    this.specError = specError;
    this.fold = restored == null ? new JobStatusFold(plan == null ? 0 : plan.size(), gpusPerTask)
        : JobStatusFold.restore(restored, gpusPerTask);
    if (settings != null) {
      fold.guardedBy(new EventGuard(uid, settings.maxAttempts(), settings.gpusPerTask(), settings.taskTimeout(), System::currentTimeMillis),
          this::rejected);
    }
  }

  /** A worker event the fold dropped: counted for the metrics, logged at most once a minute per job and reason. */
  private void rejected(String reason, JobEvent e) {
    meters.rejected(reason);
    long suppressed = REJECTIONS_LOG.permit(uid + ":" + reason);
    if (suppressed >= 0) {
      TaskEvent t = ((JobEvent.Progress) e).event();
      log.warn("TrainingJob {}/{}: ignored a {} event ({}: uid {}, index {}, attempt {}, worker {}){}", topology.namespace(),
          topology.name(), t.type(), reason, t.jobUid(), t.index(), t.attempt(), t.worker(),
          suppressed > 0 ? "; " + suppressed + " more ignored since the last report" : "");
    }
  }

  /** The runtime of a job seen for the first time (or again after a restart), its fold restored from the status. */
  static JobRuntime of(TrainingJob job) {
    return of(job, JobMeters.NONE);
  }

  /** As {@link #of(TrainingJob)}, counting into {@code meters}. */
  static JobRuntime of(TrainingJob job, JobMeters meters) {
    TaskPlan plan = null;
    JobSettings settings = null;
    String error = null;
    try {
      if (job.getSpec() == null) {
        throw new IllegalArgumentException("spec is missing");
      }
      plan = TaskPlan.of(job.getSpec().getTasks());
      settings = JobSpecs.settings(job.getSpec());
    } catch (IllegalArgumentException e) {
      error = e.getMessage();
      plan = null;
    }
    JobProgress restored = null;
    if (plan != null && job.getStatus() != null) {
      restored = StatusMapper.progressOf(job.getStatus(), plan.size());
    }
    JobRuntime rt;
    try {
      rt = new JobRuntime(job, plan, settings, error, restored, meters);
    } catch (IllegalArgumentException e) {
      // a status edited into something unreadable: count from scratch rather than not at all
      rt = new JobRuntime(job, plan, settings, error, null, meters);
    }
    if (job.getStatus() != null) {
      if (job.getStatus().getPublishCursor() != null) {
        rt.cursor = job.getStatus().getPublishCursor();
      }
      if (job.getStatus().getAllocatedGpuSeconds() != null) {
        rt.allocatedGpuSeconds = job.getStatus().getAllocatedGpuSeconds();
      }
      rt.lastPhase = job.getStatus().getPhase();
    }
    return rt;
  }

  int total() {
    return plan == null ? 0 : plan.size();
  }

  /**
   * Folds events; the future completes once a status containing them is stored, or at once when
   * they changed nothing already stored.
   */
  synchronized CompletableFuture<Void> fold(List<JobEvent> events) {
    boolean changed = false;
    for (JobEvent e : events) {
      if (fold.apply(e)) {
        changed = true;
        count(e);
      }
    }
    if (changed) {
      version++;
    }
    if (closed || storedVersion >= version) {
      return CompletableFuture.completedFuture(null);
    }
    CompletableFuture<Void> f = new CompletableFuture<>();
    waiters.computeIfAbsent(version, v -> new ArrayList<>()).add(f);
    return f;
  }

  private void count(JobEvent e) {
    String outcome;
    if (e instanceof JobEvent.Progress p) {
      TaskEvent t = p.event();
      outcome = t.type().name().toLowerCase();
      if (t.durationMs() != null && (t.type() == TaskEvent.Type.SUCCEEDED || t.type() == TaskEvent.Type.RETRYING
          || t.type() == TaskEvent.Type.DEAD_LETTERED)) {
        meters.duration(t.durationMs() / 1000.0);
      }
    } else {
      JobEvent.DeadLettered d = (JobEvent.DeadLettered) e;
      outcome = d.index() >= 0 && d.index() < total() && uid.equals(d.jobUid()) ? "dead_lettered" : "rejected_message";
    }
    meters.outcome(outcome);
  }

  /** Forgets runs on workers that are gone (a new version when that changed the fold). */
  synchronized void retainRunning(Set<String> liveWorkers) {
    if (fold.retainRunning(liveWorkers)) {
      version++;
    }
  }

  /** Task states for a re-queue of dead letters. */
  enum TaskState { SUCCEEDED, DEAD_LETTERED, UNFINISHED }

  synchronized TaskState state(int index) {
    if (fold.isSucceeded(index)) {
      return TaskState.SUCCEEDED;
    }
    return fold.isDeadLettered(index) ? TaskState.DEAD_LETTERED : TaskState.UNFINISHED;
  }

  /** Makes dead-lettered tasks pending again (a re-queue); a new version to store. */
  synchronized int reopen(java.util.BitSet indexes) {
    int n = fold.reopen(indexes).cardinality();
    if (n > 0) {
      version++;
    }
    return n;
  }

  /** A consistent view of the fold: the progress and the version it stands for. */
  synchronized Snapshot snapshot(long nowMillis) {
    return new Snapshot(fold.progress(), version, fold.runningGpuSeconds(nowMillis));
  }

  record Snapshot(JobProgress progress, long version, double runningGpuSeconds) {}

  /** A status holding everything up to {@code v} is stored: its events may be acknowledged. */
  void stored(long v) {
    List<CompletableFuture<Void>> done = new ArrayList<>();
    synchronized (this) {
      storedVersion = Math.max(storedVersion, v);
      var head = waiters.headMap(v, true);
      head.values().forEach(done::addAll);
      head.clear();
    }
    done.forEach(f -> f.complete(null));
  }

  /** The job is gone: nothing will be stored any more, its events are dropped. */
  void close() {
    List<CompletableFuture<Void>> done = new ArrayList<>();
    synchronized (this) {
      closed = true;
      waiters.values().forEach(done::addAll);
      waiters.clear();
    }
    done.forEach(f -> f.complete(null));
  }

  synchronized boolean hasUnstored() {
    return version > storedVersion;
  }
}
