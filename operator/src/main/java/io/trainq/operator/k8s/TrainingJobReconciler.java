package io.trainq.operator.k8s;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.GetResponse;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.ErrorStatusUpdateControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.PrimaryUpdateAndCacheUtils;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.inbound.SimpleInboundEventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.trainq.api.TrainingJob;
import io.trainq.api.TrainingJobSpec;
import io.trainq.api.TrainingJobStatus;
import io.trainq.operator.OperatorConfig;
import io.trainq.engine.Conditions;
import io.trainq.engine.JobEvent;
import io.trainq.engine.EventStream;
import io.trainq.engine.JobProgress;
import io.trainq.engine.QueueAudit;
import io.trainq.engine.TaskPublisher;
import io.trainq.engine.TopologyDeclarer;
import io.trainq.protocol.ConfirmingPublisher;
import io.trainq.protocol.JobTopology;
import io.trainq.protocol.Messages;
import io.trainq.protocol.MalformedMessageException;
import io.trainq.protocol.TaskMessage;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * Reconciles a TrainingJob: its queues (declared with the contract's arguments), its tasks
 * (published from the status's cursor in bounded batches), its worker pods (as many as there is work
 * for, up to maxPods), and its status (the fold of its events, stored before the events are
 * acknowledged). It never waits for anything but the broker's confirms of one batch; it returns
 * with a reschedule instead.
 */
public class TrainingJobReconciler implements Reconciler<TrainingJob>, Cleaner<TrainingJob> {
  public static final String NAME = "trainingjob";
  private static final Logger log = LoggerFactory.getLogger(TrainingJobReconciler.class);
  /** How long a re-queue waits for a dead letter's own event to be folded before it re-publishes anyway. */
  private static final Duration REQUEUE_PATIENCE = Duration.ofSeconds(10);
  private static final int REQUEUE_BATCH = 10_000;
  /** Queues are declared again now and then, so that queues deleted by hand come back. */
  private static final Duration REDECLARE = Duration.ofMinutes(5);
  /** A job whose broker stays unreachable this long after deletion is let go, its queues left behind. */
  private static final Duration CLEANUP_PATIENCE = Duration.ofMinutes(5);

  private final OperatorConfig config;
  private final JobRegistry registry;
  private final Brokers brokers;
  private final EventRecorder events;
  private final OperatorMetrics metrics;
  private final Clock clock;
  private final SecretCache secrets;
  private final SimpleInboundEventSource<TrainingJob> folded = new SimpleInboundEventSource<>("folded-events");
  private volatile InformerEventSource<Pod, TrainingJob> pods;

  TrainingJobReconciler(OperatorConfig config, JobRegistry registry, Brokers brokers, EventRecorder events,
      OperatorMetrics metrics, Clock clock) {
    this.config = config;
    this.registry = registry;
    this.brokers = brokers;
    this.events = events;
    this.metrics = metrics;
    this.clock = clock;
    this.secrets = new SecretCache(config.resyncInterval().multipliedBy(3));
  }

  /** Only changes a reconciliation must see: spec, annotations (the re-queue request), deletion, finalizers. */
  static boolean relevantUpdate(TrainingJob now, TrainingJob before) {
    return !Objects.equals(now.getMetadata().getGeneration(), before.getMetadata().getGeneration())
        || !Objects.equals(now.getMetadata().getAnnotations(), before.getMetadata().getAnnotations())
        || !Objects.equals(now.getMetadata().getDeletionTimestamp(), before.getMetadata().getDeletionTimestamp())
        || !Objects.equals(now.getMetadata().getFinalizers(), before.getMetadata().getFinalizers());
  }

  @Override
  public List<EventSource<?, TrainingJob>> prepareEventSources(EventSourceContext<TrainingJob> context) {
    pods = new InformerEventSource<>(InformerEventSourceConfiguration.from(Pod.class, TrainingJob.class)
        .withName("worker-pods")
        .withLabelSelector(Names.WORKER_SELECTOR)
        .build(), context);
    return List.of(pods, folded);
  }

  /** Events of this job were folded: reconcile it soon, to store them. */
  void onFolded(ResourceID id) {
    folded.propagateEvent(id);
  }

  @Override
  public UpdateControl<TrainingJob> reconcile(TrainingJob job, Context<TrainingJob> ctx) throws Exception {
    MDC.put("namespace", job.getMetadata().getNamespace());
    MDC.put("name", job.getMetadata().getName());
    try {
      return reconcileJob(job, ctx);
    } finally {
      MDC.remove("namespace");
      MDC.remove("name");
    }
  }

  private UpdateControl<TrainingJob> reconcileJob(TrainingJob job, Context<TrainingJob> ctx) throws Exception {
    registry.useCache(ctx.getPrimaryCache());
    JobRuntime rt = registry.getOrCreate(job);
    long nowMs = clock.millis();
    Instant now = Instant.ofEpochMilli(nowMs);
    TrainingJobSpec spec = job.getSpec();
    String ns = job.getMetadata().getNamespace();
    List<Pod> ownPods = new ArrayList<>(ctx.getSecondaryResources(Pod.class));

    if (rt.specError != null) {
      warnOnce(rt, job, EventRecorder.Reason.InvalidSpec, rt.specError);
      deletePods(job, ctx, ownPods, "the spec cannot run");
      storeStatus(job, ctx, rt, new Conditions.Facts(rt.specError, Conditions.Broker.UNKNOWN, null, spec.suspended(), 0, 0, 0, 0,
          null, null, false), 0, 0, 0, now, null);
      return UpdateControl.noUpdate();
    }

    // --- the broker ------------------------------------------------------------------------
    String secretName = spec.getRabbitmq() != null ? spec.getRabbitmq().getSecretRef().getName() : config.rabbitmqSecret();
    Secret secret = secrets.get(ctx, ns, secretName);
    Conditions.Broker brokerState = Conditions.Broker.UNKNOWN;
    String brokerMessage = null;
    Brokers.Broker broker = null;
    JobConnection.Resolved conn = JobConnection.resolve(spec.getRabbitmq(), secret, ns, config.rabbitmq());
    if (conn.settings() == null) {
      brokerState = Conditions.Broker.SECRET_MISSING;
      brokerMessage = conn.problem();
      warnOnce(rt, job, EventRecorder.Reason.ConnectionSecretMissing, brokerMessage);
    } else {
      try {
        broker = brokers.get(conn.settings());
      } catch (IOException e) {
        brokerState = Conditions.Broker.UNREACHABLE;
        brokerMessage = e.getMessage();
        secrets.forget(ns, secretName);
        warnOnce(rt, job, EventRecorder.Reason.BrokerUnavailable, brokerMessage);
      }
    }
    if (broker != null) {
      if (broker.eventsProblem() != null) {
        brokerState = Conditions.Broker.MISMATCH;
        brokerMessage = broker.eventsProblem();
        warnOnce(rt, job, EventRecorder.Reason.TopologyMismatch, brokerMessage);
      } else {
        if (!rt.topologyReady || nowMs - rt.lastDeclareMillis > REDECLARE.toMillis()) {
          try {
            TopologyDeclarer.Result r = broker.declarer.declare(rt.topology, rt.settings);
            rt.lastDeclareMillis = nowMs;
            if (r.ok()) {
              if (!rt.topologyReady) {
                events.record(job, EventRecorder.Reason.QueuesDeclared, "declared " + rt.topology.taskQueue() + " and its dead-letter and retry queues");
              }
              rt.topologyReady = true;
            } else {
              rt.topologyReady = false;
              brokerState = Conditions.Broker.MISMATCH;
              brokerMessage = r.object() + ": " + r.detail();
              warnOnce(rt, job, EventRecorder.Reason.TopologyMismatch, brokerMessage);
            }
          } catch (IOException e) {
            rt.topologyReady = false;
            brokerState = Conditions.Broker.UNREACHABLE;
            brokerMessage = "declaring queues: " + e.getMessage();
          }
        }
        if (rt.topologyReady) {
          brokerState = Conditions.Broker.READY;
        }
      }
    }
    boolean ready = brokerState == Conditions.Broker.READY;
    if (spec.getRabbitmq() == null && secret == null) {
      warnOnce(rt, job, EventRecorder.Reason.ConnectionSecretMissing, "worker pods read the connection from Secret " + secretName
          + " in namespace " + ns + " (keys username, password, host, port), which does not exist");
    }
    List<String> problems = new ArrayList<>();

    // --- re-queue of dead letters (acknowledged once the status says they are pending) ------
    Requeue requeue = null;
    boolean requeueAsked = job.getMetadata().getAnnotations() != null
        && job.getMetadata().getAnnotations().containsKey(TrainingJob.REQUEUE_DEAD_LETTERS_ANNOTATION);
    if (!requeueAsked) {
      rt.requeueSinceMillis = 0;
    } else if (ready) {
      requeue = requeueDeadLetters(rt, broker, nowMs);
    }

    // --- publishing ---------------------------------------------------------------------
    long cursor = Math.max(rt.cursor, job.getStatus() == null || job.getStatus().getPublishCursor() == null ? 0
        : job.getStatus().getPublishCursor());
    int total = rt.total();
    if (ready && !spec.suspended() && cursor < total) {
      ConfirmingPublisher p = broker.borrow();
      TaskPublisher.Result r;
      try {
        r = new TaskPublisher(p, config.publishWindow()).publish(rt.topology, rt.plan, cursor, config.publishBatch(), Duration.ofSeconds(30));
      } finally {
        broker.release(p);
      }
      metrics.published(r.confirmed());
      if (cursor == 0 && r.cursor() > 0) {
        events.record(job, EventRecorder.Reason.PublishingStarted, "publishing " + total + " tasks to " + rt.topology.taskQueue());
      }
      cursor = r.cursor();
      rt.cursor = cursor;
      if (!r.complete()) {
        problems.add(r.failure().getMessage());
        events.record(job, EventRecorder.Reason.PublishFailed, r.failure().getMessage());
        if (r.failure().getMessage() != null && r.failure().getMessage().contains("unroutable")) {
          rt.topologyReady = false;
        }
      } else if (cursor == total) {
        events.record(job, EventRecorder.Reason.TasksPublished, "all " + total + " tasks are on " + rt.topology.taskQueue());
      }
    }
    boolean publishing = cursor < total;

    // --- worker pods ----------------------------------------------------------------------
    List<Pod> active = ownPods.stream().filter(WorkerPods::active).toList();
    Set<String> live = new HashSet<>();
    ownPods.stream().filter(p -> !WorkerPods.terminated(p)).forEach(p -> live.add(p.getMetadata().getName()));
    rt.retainRunning(live);
    for (Pod p : ownPods) {
      if (WorkerPods.terminated(p) && p.getMetadata().getDeletionTimestamp() == null) {
        if ("Failed".equals(p.getStatus().getPhase())) {
          events.record(job, EventRecorder.Reason.WorkerLost, "worker pod " + p.getMetadata().getName() + " failed"
              + (p.getStatus().getReason() == null ? "" : " (" + p.getStatus().getReason() + ": " + p.getStatus().getMessage() + ")"));
        }
        deletePod(ctx, p);
      }
    }
    JobRuntime.Snapshot snap = rt.snapshot(nowMs);
    JobProgress progress = snap.progress();
    boolean done = progress.done();
    long queued = 0;
    if (ready && !publishing && !done && !spec.suspended()) {
      // the broker is asked at most once per resync interval: the depth sizes the pool, the audit finds lost tasks
      if (System.nanoTime() - rt.queuedAtNanos > config.resyncInterval().toNanos() || rt.queuedAtNanos == 0) {
        try {
          auditQueues(job, rt, broker, progress, (long) live.size() * WorkerPods.prefetch(spec), nowMs);
          rt.queuedAtNanos = System.nanoTime();
        } catch (IOException e) {
          problems.add("inspecting " + rt.topology.taskQueue() + ": " + e.getMessage());
        } catch (ConfirmingPublisher.PublishException e) {
          problems.add("republishing lost tasks: " + e.getMessage());
        }
      }
      queued = rt.queued;
    }
    int desired = WorkerPods.desired(spec.effectiveWorkers().effectiveMaxPods(), WorkerPods.slotsPerPod(spec),
        ready && !spec.suspended(), publishing, progress.remaining(), queued, progress.running());
    String workersBlocked = null;
    try {
      if (spec.suspended() || done) {
        deletePods(job, ctx, active, spec.suspended() ? "the job is suspended" : "the job is done");
      } else if (active.size() < desired) {
        createPods(job, ctx, rt, secretName, secret, desired - active.size());
      }
      if (rt.workersBlocked != null) {
        events.record(job, EventRecorder.Reason.WorkersUnblocked, "the API server accepts the job's worker pods again");
        rt.warnedOnce.removeIf(k -> k.startsWith(EventRecorder.Reason.WorkersBlocked + ":"));
        rt.workersBlocked = null;
        rt.blockedRetries = 0;
      }
    } catch (KubernetesClientException e) {
      // A refused pod (quota, admission, a missing ServiceAccount) is the namespace's to fix: say so in
      // the status and look again with a backoff; the rest of the reconciliation (the status with its
      // publish cursor) still happens.
      workersBlocked = "the API server refused a worker pod (" + e.getCode() + "): " + apiMessage(e);
      rt.workersBlocked = workersBlocked;
      rt.blockedRetries++;
      warnOnce(rt, job, EventRecorder.Reason.WorkersBlocked, workersBlocked);
    }
    // Busy pods are never deleted to scale down: a worker with nothing to do exits by itself.

    int gpusPerPod = WorkerPods.gpusPerPod(spec);
    long runningPods = ownPods.stream().filter(WorkerPods::running).count();
    if (rt.lastAccountMillis > 0 && nowMs > rt.lastAccountMillis) {
      rt.allocatedGpuSeconds += runningPods * gpusPerPod * (nowMs - rt.lastAccountMillis) / 1000.0;
    }
    rt.lastAccountMillis = nowMs;
    int workersReady = (int) active.stream().filter(WorkerPods::ready).count();

    // --- status -------------------------------------------------------------------------
    Conditions.Facts facts = new Conditions.Facts(null, brokerState, brokerMessage, spec.suspended(), total,
        progress.succeeded(), progress.deadLettered(), cursor, rt.workersBlocked, rt.tasksLost, rt.tasksLostPending);
    TrainingJobStatus stored = storeStatus(job, ctx, rt, facts, cursor, desired, workersReady, now, snap);
    if (requeue != null) {
      requeue.acknowledge();
      if (requeue.finished()) {
        removeRequeueAnnotation(job, ctx);
        events.record(job, EventRecorder.Reason.DeadLettersRequeued, "re-queued " + requeue.republished + " dead-lettered tasks");
        rt.requeueSinceMillis = 0;
      }
    }
    phaseEvents(job, rt, stored, progress);
    if (done && ready && !rt.strayChecked) {
      reportStrayMessages(job, rt, broker);
    }

    // --- when to look again ---------------------------------------------------------------
    if (done && spec.getTtlSecondsAfterFinished() != null && stored.getCompletionTime() != null) {
      Instant due = Instant.parse(stored.getCompletionTime()).plusSeconds(spec.getTtlSecondsAfterFinished());
      if (!now.isBefore(due)) {
        events.record(job, EventRecorder.Reason.Expired, "deleted " + spec.getTtlSecondsAfterFinished() + " s after it finished (ttlSecondsAfterFinished)");
        ctx.getClient().resource(job).delete();
        return UpdateControl.noUpdate();
      }
      return UpdateControl.<TrainingJob>noUpdate().rescheduleAfter(Duration.between(now, due).plusMillis(100));
    }
    if (rt.workersBlocked != null && !done && !spec.suspended()) {
      // nothing watches quotas and ServiceAccounts here: look again, less often the longer it lasts
      long backoff = Math.min(5_000L << Math.min(rt.blockedRetries - 1, 5), 120_000L);
      return UpdateControl.<TrainingJob>noUpdate().rescheduleAfter(Duration.ofMillis(backoff));
    }
    if (!ready || !problems.isEmpty()) {
      if (!problems.isEmpty()) {
        log.warn("{}", String.join("; ", problems));
      }
      return UpdateControl.<TrainingJob>noUpdate().rescheduleAfter(Duration.ofSeconds(5));
    }
    if (requeue != null && !requeue.finished()) {
      return UpdateControl.<TrainingJob>noUpdate().rescheduleAfter(Duration.ofSeconds(1));
    }
    if (publishing && !spec.suspended()) {
      return UpdateControl.<TrainingJob>noUpdate().rescheduleAfter(Duration.ofMillis(1));
    }
    if (!done && !spec.suspended()) {
      return UpdateControl.<TrainingJob>noUpdate().rescheduleAfter(config.resyncInterval());
    }
    return UpdateControl.noUpdate();
  }

  /**
   * Reads the job's queues (the task queue's depth also sizes the pool) and, when unfinished tasks are
   * nowhere on the broker — the task queue deleted, or deleted and declared again, or purged — declares
   * the queues again and republishes the missing tasks ({@link QueueAudit}).
   */
  private void auditQueues(TrainingJob job, JobRuntime rt, Brokers.Broker broker, JobProgress progress, long heldBound,
      long nowMs) throws IOException, InterruptedException, ConfirmingPublisher.PublishException {
    TopologyDeclarer d = broker.declarer;
    Optional<TopologyDeclarer.QueueState> task = d.inspect(rt.topology.taskQueue());
    long retrying = 0;
    for (Duration delay : JobTopology.retryDelays(rt.settings)) {
      retrying += d.inspect(rt.topology.retryQueue(delay)).map(TopologyDeclarer.QueueState::ready).orElse(0L);
    }
    EventStream stream = broker.events();
    long unfolded = d.inspect(config.eventsQueue()).map(TopologyDeclarer.QueueState::ready).orElse(0L)
        + (stream == null ? 0 : stream.unacknowledged());
    rt.queued = task.map(TopologyDeclarer.QueueState::ready).orElse(0L);
    // Events folded after this reconciliation's snapshot are not acknowledged before its status is
    // stored, so they are among the unacknowledged ones: the deficit never counts them as lost.
    QueueAudit.Verdict v = rt.audit.check(progress,
        new QueueAudit.Observation(task.isPresent(), rt.queued, retrying, heldBound, unfolded), nowMs);
    if (v.kind() == QueueAudit.Verdict.Kind.SUSPECT) {
      log.info("{} unfinished task(s) are not on the broker by its counts; checking again before republishing", v.deficit());
      return;
    }
    if (v.kind() != QueueAudit.Verdict.Kind.LOST) {
      rt.tasksLostPending = false;
      return;
    }
    String what = task.isPresent() ? "was emptied (deleted and declared again, or purged)" : "was deleted";
    rt.tasksLostPending = true;
    rt.tasksLost = "task queue " + rt.topology.taskQueue() + " " + what + " with " + progress.remaining() + " unfinished task(s); "
        + v.republish().cardinality() + " not running were republished at " + Instant.ofEpochMilli(nowMs);
    events.record(job, EventRecorder.Reason.TasksLost, "task queue " + rt.topology.taskQueue() + " " + what + " with "
        + progress.remaining() + " unfinished task(s); republishing the " + v.republish().cardinality() + " not running");
    log.warn("task queue {} {}: republishing {} task(s)", rt.topology.taskQueue(), what, v.republish().cardinality());
    TopologyDeclarer.Result declared = d.declare(rt.topology, rt.settings);
    if (!declared.ok()) {
      rt.topologyReady = false;
      throw new IOException(declared.object() + ": " + declared.detail());
    }
    ConfirmingPublisher p = broker.borrow();
    TaskPublisher.Result r;
    try {
      r = new TaskPublisher(p, config.publishWindow()).republish(rt.topology, rt.plan, v.republish(), Duration.ofSeconds(30));
    } finally {
      broker.release(p);
    }
    metrics.published(r.confirmed());
    if (!r.complete()) {
      // the next audit finds what is still missing
      throw r.failure();
    }
    rt.tasksLostPending = false;
    rt.queued += r.confirmed();
    events.record(job, EventRecorder.Reason.TasksRepublished, "republished " + r.confirmed() + " task(s) lost with "
        + rt.topology.taskQueue());
  }

  /**
   * Once a job is finished, whatever is left in its task and retry queues is none of its tasks (each
   * was counted once already): say so, since those messages are deleted with the job's queues.
   */
  private void reportStrayMessages(TrainingJob job, JobRuntime rt, Brokers.Broker broker) {
    try {
      long left = broker.declarer.messagesIn(rt.topology, rt.settings);
      rt.strayChecked = true;
      if (left > 0) {
        warnOnce(rt, job, EventRecorder.Reason.StrayMessages, left + " message(s) remain in " + rt.topology.taskQueue()
            + " and its retry queues although every task is finished: none of them is a task of this job; they are "
            + "deleted with the job's queues");
      }
    } catch (IOException e) {
      log.debug("cannot count what is left in the job's queues: {}", e.toString());
    }
  }

  /** The API server's own words for a refusal. */
  private static String apiMessage(KubernetesClientException e) {
    if (e.getStatus() != null && e.getStatus().getMessage() != null) {
      return e.getStatus().getMessage();
    }
    return e.getMessage();
  }

  /**
   * Builds the status and stores it when it changed, then releases the events it contains. The
   * informer cache gets the result at once, so the next reconciliation builds on it.
   */
  private TrainingJobStatus storeStatus(TrainingJob job, Context<TrainingJob> ctx, JobRuntime rt, Conditions.Facts facts,
      long cursor, int desired, int workersReady, Instant now, JobRuntime.Snapshot snap) {
    TrainingJobStatus old = job.getStatus();
    TrainingJobStatus st = new TrainingJobStatus();
    st.setObservedGeneration(job.getMetadata().getGeneration());
    st.setQueue(rt.topology.taskQueue());
    st.setDeadLetterQueue(rt.topology.deadLetterQueue());
    JobProgress progress = snap == null ? JobProgress.empty(rt.total()) : snap.progress();
    StatusMapper.applyProgress(st, progress, cursor);
    st.setPublishCursor(cursor);
    List<Conditions.Condition> conditions = Conditions.update(
        StatusMapper.fromKubernetes(old == null ? null : old.getConditions()), facts, now, job.getMetadata().getGeneration());
    st.setConditions(StatusMapper.toKubernetes(conditions));
    String phase = Conditions.phase(facts);
    st.setPhase(phase);
    st.setMessage(message(phase, facts, conditions));
    st.setWorkersDesired(desired);
    st.setWorkersReady(workersReady);
    st.setWorkers(workersReady + "/" + desired);
    double busy = progress.busyGpuSeconds() + (snap == null ? 0 : snap.runningGpuSeconds());
    st.setAllocatedGpuSeconds(StatusMapper.round(rt.allocatedGpuSeconds));
    st.setGpuUtilization(StatusMapper.utilization(busy, rt.allocatedGpuSeconds));
    String start = old == null ? null : old.getStartTime();
    st.setStartTime(start != null ? start : cursor > 0 ? now.toString() : null);
    boolean done = facts.specError() == null && progress.done();
    String completion = old == null ? null : old.getCompletionTime();
    st.setCompletionTime(done ? (completion != null ? completion : now.toString()) : null);

    if (old == null || !Serialization.jsonMapper().valueToTree(old).equals(Serialization.jsonMapper().valueToTree(st))) {
      TrainingJob fresh = new TrainingJob();
      fresh.setMetadata(new ObjectMetaBuilder().withName(job.getMetadata().getName())
          .withNamespace(job.getMetadata().getNamespace()).build());
      fresh.setStatus(st);
      // The operator is the status's only writer: one JSON patch sets the whole status. It costs the
      // API server far less than a server-side apply of this schema, which matters with many busy jobs.
      String patch = "[{\"op\":\"add\",\"path\":\"/status\",\"value\":" + Serialization.asJson(st) + "}]";
      PrimaryUpdateAndCacheUtils.updateAndCacheResource(job, ctx, r -> fresh,
          r -> ctx.getClient().resources(TrainingJob.class).inNamespace(r.getMetadata().getNamespace())
              .withName(r.getMetadata().getName()).subresource("status").patch(PatchContext.of(PatchType.JSON), patch));
      metrics.statusPatched();
    }
    rt.lastStoreNanos = System.nanoTime();
    if (snap != null) {
      rt.stored(snap.version());
    }
    metrics.jobStatus(rt, st);
    return st;
  }

  private static String message(String phase, Conditions.Facts f, List<Conditions.Condition> conditions) {
    if (f.specError() != null) {
      return f.specError();
    }
    if (f.broker() != Conditions.Broker.READY) {
      return conditions.get(0).message();
    }
    if (f.workersBlocked() != null && !f.done()) {
      return f.workersBlocked();
    }
    return switch (phase) {
      case Conditions.SUCCEEDED -> "all " + f.total() + " tasks succeeded";
      case Conditions.PHASE_FAILED -> f.deadLettered() + " of " + f.total() + " tasks were dead-lettered";
      case Conditions.PHASE_SUSPENDED -> "suspended: no new task starts";
      case Conditions.PENDING -> "publishing tasks";
      default -> (f.succeeded() + f.deadLettered()) + " of " + f.total() + " tasks finished";
    };
  }

  private void phaseEvents(TrainingJob job, JobRuntime rt, TrainingJobStatus st, JobProgress p) {
    String before = rt.lastPhase;
    String now = st.getPhase();
    if (Objects.equals(before, now)) {
      return;
    }
    rt.lastPhase = now;
    switch (now) {
      case Conditions.SUCCEEDED -> events.record(job, EventRecorder.Reason.Completed, "all " + p.total() + " tasks succeeded");
      case Conditions.PHASE_FAILED -> {
        if (p.deadLettered() > 0) {
          events.record(job, EventRecorder.Reason.Failed, p.deadLettered() + " of " + p.total() + " tasks were dead-lettered: "
              + p.failedIndexes());
        }
      }
      case Conditions.PHASE_SUSPENDED -> events.record(job, EventRecorder.Reason.Suspended, "suspended: worker pods are released");
      default -> {
        if (Conditions.PHASE_SUSPENDED.equals(before)) {
          events.record(job, EventRecorder.Reason.Resumed, "resumed");
        }
      }
    }
  }

  private void createPods(TrainingJob job, Context<TrainingJob> ctx, JobRuntime rt, String secretName, Secret secret, int n) {
    for (int i = 0; i < n; i++) {
      Pod pod = WorkerPods.desired(job, rt, config, secretName, secret);
      Pod created = ctx.getClient().pods().inNamespace(pod.getMetadata().getNamespace()).resource(pod).create();
      // so that the next reconciliation counts it even before the informer has seen it
      pods.handleRecentResourceCreate(ResourceID.fromResource(created), created);
      events.record(job, EventRecorder.Reason.WorkerCreated, "created worker pod " + created.getMetadata().getName()
          + " (" + WorkerPods.gpusPerPod(job.getSpec()) + " GPUs)");
    }
  }

  private void deletePods(TrainingJob job, Context<TrainingJob> ctx, List<Pod> list, String why) {
    for (Pod p : list) {
      if (p.getMetadata().getDeletionTimestamp() == null) {
        deletePod(ctx, p);
        if (!WorkerPods.terminated(p)) {
          events.record(job, EventRecorder.Reason.WorkerDeleted, "deleted worker pod " + p.getMetadata().getName() + ": " + why);
        }
      }
    }
  }

  private static void deletePod(Context<TrainingJob> ctx, Pod p) {
    try {
      ctx.getClient().pods().inNamespace(p.getMetadata().getNamespace()).withName(p.getMetadata().getName()).delete();
    } catch (KubernetesClientException e) {
      if (e.getCode() != 404) {
        throw e;
      }
    }
  }

  private void warnOnce(JobRuntime rt, TrainingJob job, EventRecorder.Reason reason, String message) {
    if (rt.warnedOnce.add(reason + ":" + message)) {
      events.record(job, reason, message);
      log.warn("{}: {}", reason, message);
    }
  }

  private static void removeRequeueAnnotation(TrainingJob job, Context<TrainingJob> ctx) {
    String path = "/metadata/annotations/" + TrainingJob.REQUEUE_DEAD_LETTERS_ANNOTATION.replace("~", "~0").replace("/", "~1");
    try {
      ctx.getClient().resources(TrainingJob.class).inNamespace(job.getMetadata().getNamespace()).withName(job.getMetadata().getName())
          .patch(PatchContext.of(PatchType.JSON), "[{\"op\":\"remove\",\"path\":\"" + path + "\"}]");
    } catch (KubernetesClientException e) {
      if (e.getCode() != 404 && e.getCode() != 422) {
        throw e;
      }
    }
  }

  /**
   * Moves the dead-letter queue's messages back to the task queue as first attempts. A message whose
   * task is counted dead-lettered is re-published and its index made pending; one whose task
   * succeeded (a duplicate) is dropped; one whose dead letter is not folded yet waits a little (so
   * its late event cannot mark the re-run dead again), then is re-published anyway. The dead letters
   * are acknowledged only after the status that makes them pending is stored.
   */
  private Requeue requeueDeadLetters(JobRuntime rt, Brokers.Broker broker, long nowMs) throws IOException, InterruptedException {
    if (rt.requeueSinceMillis == 0) {
      rt.requeueSinceMillis = nowMs;
    }
    boolean patient = nowMs - rt.requeueSinceMillis < REQUEUE_PATIENCE.toMillis();
    Channel ch = broker.connection.createChannel();
    Requeue r = new Requeue(ch);
    ConfirmingPublisher p = broker.borrow();
    List<CompletableFuture<Void>> confirms = new ArrayList<>();
    BitSet reopen = new BitSet();
    try {
      int seen = 0;
      GetResponse g;
      while (seen < REQUEUE_BATCH && (g = ch.basicGet(rt.topology.deadLetterQueue(), false)) != null) {
        seen++;
        long tag = g.getEnvelope().getDeliveryTag();
        int index;
        try {
          index = JobEvent.decode(rt.topology.key(), g.getProps(), g.getBody()).index();
        } catch (MalformedMessageException e) {
          log.warn("dropping an unreadable dead letter: {}", e.getMessage());
          r.ack.add(tag);
          continue;
        }
        if (index < 0 || index >= rt.total()) {
          r.ack.add(tag);
          continue;
        }
        JobRuntime.TaskState state = rt.state(index);
        if (state == JobRuntime.TaskState.SUCCEEDED) {
          r.ack.add(tag);
        } else if (state == JobRuntime.TaskState.UNFINISHED && patient) {
          r.deferred.add(tag);
        } else {
          TaskMessage t = rt.plan.task(rt.uid, index);
          confirms.add(p.publish("", rt.topology.taskQueue(), Messages.taskProperties(t), Messages.encodeTask(t)));
          r.ack.add(tag);
          r.republished++;
          if (state == JobRuntime.TaskState.DEAD_LETTERED) {
            reopen.set(index);
          }
        }
      }
      r.drained = seen < REQUEUE_BATCH;
      for (CompletableFuture<Void> f : confirms) {
        ConfirmingPublisher.await(f, Duration.ofSeconds(30));
      }
    } catch (ConfirmingPublisher.PublishException e) {
      r.abandon();
      throw new IOException("re-queue of dead letters: " + e.getMessage(), e);
    } catch (IOException | RuntimeException e) {
      r.abandon();
      throw e;
    } finally {
      broker.release(p);
    }
    // deferred ones go back now, so the next round sees them again
    for (long tag : r.deferred) {
      ch.basicNack(tag, false, true);
    }
    rt.reopen(reopen);
    // the queue has work again: size the pool from its depth now, not at the next resync
    rt.queuedAtNanos = 0;
    return r;
  }

  /** Dead letters taken from their queue, acknowledged once the status is stored. */
  private static final class Requeue {
    final Channel channel;
    final List<Long> ack = new ArrayList<>();
    final List<Long> deferred = new ArrayList<>();
    int republished;
    boolean drained;

    Requeue(Channel channel) {
      this.channel = channel;
    }

    boolean finished() {
      return drained && deferred.isEmpty();
    }

    void acknowledge() throws IOException {
      try {
        for (long tag : ack) {
          channel.basicAck(tag, false);
        }
      } finally {
        abandon();
      }
    }

    /** Closing the channel returns what was not acknowledged to the dead-letter queue. */
    void abandon() {
      try {
        if (channel.isOpen()) {
          channel.close();
        }
      } catch (IOException | java.util.concurrent.TimeoutException | RuntimeException ignored) {
        // the broker requeues whatever was not acknowledged
      }
    }
  }

  @Override
  public ErrorStatusUpdateControl<TrainingJob> updateErrorStatus(TrainingJob job, Context<TrainingJob> ctx, Exception e) {
    log.warn("reconciliation of {}/{} failed: {}", job.getMetadata().getNamespace(), job.getMetadata().getName(), e.toString());
    metrics.reconcileFailed();
    return ErrorStatusUpdateControl.defaultErrorProcessing();
  }

  /** Deletes the job's worker pods and queues, then lets the job go. */
  @Override
  public DeleteControl cleanup(TrainingJob job, Context<TrainingJob> ctx) {
    MDC.put("namespace", job.getMetadata().getNamespace());
    MDC.put("name", job.getMetadata().getName());
    try {
      deletePods(job, ctx, new ArrayList<>(ctx.getSecondaryResources(Pod.class)), "the job is deleted");
      JobRuntime rt = registry.get(job.getMetadata().getUid()).orElseGet(() -> JobRuntime.of(job));
      if (rt.settings != null) {
        String ns = job.getMetadata().getNamespace();
        String secretName = job.getSpec().getRabbitmq() != null ? job.getSpec().getRabbitmq().getSecretRef().getName() : config.rabbitmqSecret();
        Secret secret = job.getSpec().getRabbitmq() == null ? null : secrets.get(ctx, ns, secretName);
        JobConnection.Resolved conn = JobConnection.resolve(job.getSpec().getRabbitmq(), secret, ns, config.rabbitmq());
        String problem = conn.problem();
        if (conn.settings() != null) {
          try {
            List<String> deleted = brokers.get(conn.settings()).declarer.delete(rt.topology, rt.settings);
            log.info("deleted queues {}", deleted);
          } catch (IOException e) {
            problem = e.getMessage();
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return DeleteControl.noFinalizerRemoval().rescheduleAfter(Duration.ofSeconds(1));
          }
        }
        if (problem != null) {
          Instant since = StatusMapper.parseTime(job.getMetadata().getDeletionTimestamp());
          if (since != null && Duration.between(since, clock.instant()).compareTo(CLEANUP_PATIENCE) < 0) {
            log.warn("cannot delete the job's queues yet: {}", problem);
            return DeleteControl.noFinalizerRemoval().rescheduleAfter(Duration.ofSeconds(10));
          }
          events.record(job, EventRecorder.Reason.CleanupFailed, "the job's queues could not be deleted and are left on the broker: " + problem);
        }
      }
      registry.remove(job.getMetadata().getUid());
      metrics.forget(job.getMetadata().getUid());
      return DeleteControl.defaultDelete();
    } finally {
      MDC.remove("namespace");
      MDC.remove("name");
    }
  }

  Map<String, Object> describe() {
    return Map.of("jobs", registry.all().size());
  }
}
