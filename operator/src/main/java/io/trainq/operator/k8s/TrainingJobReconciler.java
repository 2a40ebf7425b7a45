package io.trainq.operator.k8s;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.ErrorStatusUpdateControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
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
import io.trainq.engine.JobProgress;
import io.trainq.engine.JobSpecs;
import io.trainq.engine.TaskPublisher;
import io.trainq.protocol.ConfirmingPublisher;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * Reconciles a TrainingJob, top to bottom: observe how it stands with its broker
 * ({@link BrokerReadiness}); act on the broker (a re-queue of dead letters, {@link DeadLetterRequeue};
 * the next batch of tasks from the status's cursor); observe its pods and queues ({@link WorkerPool},
 * {@link QueueChecks}: capacity, lost tasks); ask Kueue what the job may run where it manages the job
 * ({@link KueueWorkloads}); size the pool; store the status ({@link StatusWriter}, the
 * fold of its events, stored before the events are acknowledged); decide when to look again. It never
 * waits for anything but the broker's confirms of one batch; it returns with a reschedule instead.
 */
public class TrainingJobReconciler implements Reconciler<TrainingJob>, Cleaner<TrainingJob> {
  public static final String NAME = "trainingjob";
  private static final Logger log = LoggerFactory.getLogger(TrainingJobReconciler.class);
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
  private volatile KueueWorkloads kueue;
  private final BrokerReadiness brokerReadiness;
  private final DeadLetterRequeue deadLetters;
  private final QueueChecks queueChecks;
  private final WorkerPool workerPool;
  private final StatusWriter statusWriter;

  TrainingJobReconciler(OperatorConfig config, JobRegistry registry, Brokers brokers, EventRecorder events,
      OperatorMetrics metrics, Clock clock) {
    this.config = config;
    this.registry = registry;
    this.brokers = brokers;
    this.events = events;
    this.metrics = metrics;
    this.clock = clock;
    this.secrets = new SecretCache(config.resyncInterval().multipliedBy(3));
    this.brokerReadiness = new BrokerReadiness(config, brokers, secrets, events);
    this.deadLetters = new DeadLetterRequeue();
    this.queueChecks = new QueueChecks(config, events, metrics);
    this.workerPool = new WorkerPool(config, events, () -> pods);
    this.statusWriter = new StatusWriter(events, metrics);
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
    kueue = new KueueWorkloads(config.kueue() && KueueWorkloads.installed(context.getClient()), events, clock);
    if (!kueue.enabled()) {
      return List.of(pods, folded);
    }
    // Kueue's decisions (admitted, evicted) wake the job's reconciliation at once
    InformerEventSource<GenericKubernetesResource, TrainingJob> workloads = new InformerEventSource<>(
        InformerEventSourceConfiguration.from(KueueWorkloads.WORKLOAD, TrainingJob.class)
            .withName("kueue-workloads")
            .withLabelSelector(Names.MANAGED_BY + "=" + Names.OPERATOR + "," + Names.COMPONENT + "=" + KueueWorkloads.COMPONENT)
            .build(), context);
    return List.of(pods, folded, workloads);
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

  /** Observe (the broker, the pods), act (re-queue, publish, the pool), store the status, decide when to look again. */
  private UpdateControl<TrainingJob> reconcileJob(TrainingJob job, Context<TrainingJob> ctx) throws Exception {
    registry.useCache(ctx.getPrimaryCache());
    JobRuntime rt = registry.getOrCreate(job);
    long nowMs = clock.millis();
    Instant now = Instant.ofEpochMilli(nowMs);
    TrainingJobSpec spec = job.getSpec();
    if (rt.specError != null) {
      events.warnOnce(rt, job, EventRecorder.Reason.InvalidSpec, rt.specError);
      workerPool.deletePods(job, ctx, List.copyOf(ctx.getSecondaryResources(Pod.class)), "the spec cannot run");
      statusWriter.store(job, ctx, rt, new Conditions.Facts(rt.specError, Conditions.Broker.UNKNOWN, null, spec.suspended(), 0, 0,
          0, 0, null, null, false), 0, 0, 0, now, null);
      return UpdateControl.noUpdate();
    }

    // observe the broker; re-queue dead letters and publish while it is ready
    BrokerReadiness.State broker = brokerReadiness.observe(job, ctx, rt, nowMs);
    boolean ready = broker.ready();
    List<String> problems = new ArrayList<>();
    DeadLetterRequeue.Requeue requeue = null;
    if (!DeadLetterRequeue.asked(job)) {
      rt.requeueSinceMillis = 0;
    } else if (broker.canPublish()) {
      requeue = deadLetters.take(rt, broker.broker(), nowMs);
    }
    long cursor = publish(job, rt, broker, problems);
    int total = rt.total();
    boolean publishing = cursor < total;

    // observe the pods and the queues, then size the pool
    WorkerPool.Observed pods = workerPool.observe(job, ctx, rt);
    JobRuntime.Snapshot snap = rt.snapshot(nowMs);
    JobProgress progress = snap.progress();
    boolean done = progress.done();
    long queued = 0;
    // (not while a resource alarm blocks publishing: the audit may republish)
    if (broker.canPublish() && !publishing && !done && !spec.suspended()) {
      // the broker is asked at most once per resync interval: the depth sizes the pool, the audit finds lost tasks
      if (System.nanoTime() - rt.queuedAtNanos > config.resyncInterval().toNanos() || rt.queuedAtNanos == 0) {
        try {
          queueChecks.audit(job, rt, broker.broker(), progress, (long) pods.live().size() * JobSpecs.heldPerWorker(spec), nowMs);
          rt.queuedAtNanos = System.nanoTime();
        } catch (IOException e) {
          problems.add("inspecting " + rt.topology.taskQueue() + ": " + e.getMessage());
        } catch (ConfirmingPublisher.PublishException e) {
          problems.add("republishing lost tasks: " + e.getMessage());
        }
      }
      queued = rt.queued;
    }
    // Kueue, where it manages the job, admits how many pods may run
    int maxPods = spec.getWorkers().getMaxPods();
    int slots = WorkerPods.slotsPerPod(spec);
    KueueWorkloads.Gate gate = null;
    if (kueue != null && kueue.manages(job)) {
      int podCount = (int) Math.min(maxPods, (progress.remaining() + (long) slots - 1) / slots);
      gate = kueue.observe(job, ctx, rt, done, progress.deadLettered() > 0, podCount,
          WorkerPods.desired(job, rt, config, broker.secretName(), null), pods.active().size(), pods.live().size());
      maxPods = Math.min(maxPods, gate.maxPods());
    }
    int desired = WorkerPods.desired(maxPods, slots, ready && !spec.suspended(), publishing, progress.remaining(), queued,
        progress.running());
    boolean release = spec.suspended() || done || (gate != null && gate.stopWorkers());
    String why = spec.suspended() ? "the job is suspended" : done ? "the job is done"
        : gate != null ? "Kueue: " + gate.quota().message() : "";
    int workersReady = workerPool.act(job, ctx, rt, pods, desired, release, why, broker.secretName(), broker.secret(),
        gate == null ? WorkerPods.Placement.NONE : gate.placement(), nowMs);
    if (gate != null && ready && !publishing && !done && !spec.suspended() && rt.queuedAtNanos != 0) {
      // nothing waits in the queue: the pods still working (or wanted) are all the job needs until it ends
      kueue.reportReclaimable(job, ctx, gate, queued == 0, Math.max(desired, pods.active().size()));
    }

    // the status, then what waited for it
    Conditions.Facts facts = new Conditions.Facts(null, broker.state(), broker.message(), spec.suspended(), total,
        progress.succeeded(), progress.deadLettered(), cursor, rt.workersBlocked, rt.tasksLost, rt.tasksLostPending,
        WorkerPods.unschedulable(pods.active()), gate == null ? null : gate.quota());
    TrainingJobStatus stored = statusWriter.store(job, ctx, rt, facts, cursor, desired, workersReady, now, snap);
    if (requeue != null) {
      requeue.acknowledge();
      if (requeue.finished()) {
        DeadLetterRequeue.removeAnnotation(job, ctx);
        events.record(job, EventRecorder.Reason.DeadLettersRequeued, "re-queued " + requeue.republished + " dead-lettered tasks");
        rt.requeueSinceMillis = 0;
      }
    }
    statusWriter.phaseEvents(job, rt, stored, progress);
    if (done && ready && !rt.strayChecked) {
      queueChecks.reportStrayMessages(job, rt, broker.broker());
    }
    return nextCheck(job, ctx, rt, stored, now, ready, done, publishing, requeue, problems);
  }

  /** Publishes the next batch of tasks from the cursor while the broker is ready; returns the cursor. */
  private long publish(TrainingJob job, JobRuntime rt, BrokerReadiness.State broker, List<String> problems)
      throws IOException, InterruptedException {
    long cursor = Math.max(rt.cursor, job.getStatus() == null || job.getStatus().getPublishCursor() == null ? 0
        : job.getStatus().getPublishCursor());
    int total = rt.total();
    if (!broker.canPublish() || job.getSpec().suspended() || cursor >= total) {
      return cursor;
    }
    ConfirmingPublisher p = broker.broker().borrow();
    TaskPublisher.Result r;
    try {
      r = new TaskPublisher(p, config.publishWindow()).publish(rt.topology, rt.plan, cursor, config.publishBatch(), Duration.ofSeconds(30));
    } finally {
      broker.broker().release(p);
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
    return cursor;
  }

  /** When to look at the job again (or delete it, once its TTL after finishing has passed). */
  private UpdateControl<TrainingJob> nextCheck(TrainingJob job, Context<TrainingJob> ctx, JobRuntime rt, TrainingJobStatus stored,
      Instant now, boolean ready, boolean done, boolean publishing, DeadLetterRequeue.Requeue requeue, List<String> problems) {
    TrainingJobSpec spec = job.getSpec();
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
      workerPool.deletePods(job, ctx, new ArrayList<>(ctx.getSecondaryResources(Pod.class)), "the job is deleted");
      if (kueue != null && kueue.manages(job)) {
        KueueWorkloads.delete(ctx.getClient(), job);
      }
      JobRuntime rt = registry.get(job.getMetadata().getUid()).orElseGet(() -> JobRuntime.of(job));
      if (rt.settings != null) {
        String ns = job.getMetadata().getNamespace();
        String secretName = job.getSpec().getRabbitmq() != null ? job.getSpec().getRabbitmq().getSecretRef().getName() : config.rabbitmqSecret();
        Secret secret = job.getSpec().getRabbitmq() == null ? null : secrets.get(ctx, ns, secretName);
        String tlsName = JobConnection.tlsSecretName(job.getSpec().getRabbitmq());
        Secret tlsSecret = tlsName == null ? null : secrets.get(ctx, ns, tlsName);
        JobConnection.Resolved conn = JobConnection.resolve(job.getSpec().getRabbitmq(), secret, tlsSecret, ns, config.rabbitmq());
        String problem = conn.problem();
        if (conn.settings() != null) {
          try {
            List<String> deleted = brokers.get(conn.settings()).declarer.delete(rt.topology, rt.settings);
            log.info("deleted queues {}", deleted);
            if (config.perJobBrokerUsers()) {
              // its Secret goes with the job (owner reference); the user is the broker's
              BrokerUsers.delete(conn.settings(), BrokerUsers.managementUrl(job, config, conn.settings()), rt.topology);
            }
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
          events.record(job, EventRecorder.Reason.CleanupFailed, "the job's queues" + (config.perJobBrokerUsers() ? " or broker user" : "")
              + " could not be deleted and are left on the broker: " + problem);
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
