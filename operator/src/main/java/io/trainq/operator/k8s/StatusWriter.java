package io.trainq.operator.k8s;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.PrimaryUpdateAndCacheUtils;
import io.trainq.api.TrainingJob;
import io.trainq.api.TrainingJobStatus;
import io.trainq.engine.Conditions;
import io.trainq.engine.JobProgress;
import java.time.Instant;
import java.util.List;
import java.util.Objects;

/**
 * Writes a job's status — the fold's counts, the conditions, the workers, GPU utilization — with one
 * JSON patch when it changed, then releases the events it holds; and the Events of phase changes.
 */
final class StatusWriter {
  private final EventRecorder events;
  private final OperatorMetrics metrics;

  StatusWriter(EventRecorder events, OperatorMetrics metrics) {
    this.events = events;
    this.metrics = metrics;
  }

  /**
   * Builds the status and stores it when it changed, then releases the events it contains. The
   * informer cache gets the result at once, so the next reconciliation builds on it.
   */
  TrainingJobStatus store(TrainingJob job, Context<TrainingJob> ctx, JobRuntime rt, Conditions.Facts facts,
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
    if (f.workersUnschedulable() != null && !f.done() && !f.suspended()) {
      return f.workersUnschedulable();
    }
    return switch (phase) {
      case Conditions.SUCCEEDED -> "all " + f.total() + " tasks succeeded";
      case Conditions.PHASE_FAILED -> f.deadLettered() + " of " + f.total() + " tasks were dead-lettered";
      case Conditions.PHASE_SUSPENDED -> "suspended: no new task starts";
      case Conditions.PENDING -> "publishing tasks";
      default -> (f.succeeded() + f.deadLettered()) + " of " + f.total() + " tasks finished";
    };
  }

  void phaseEvents(TrainingJob job, JobRuntime rt, TrainingJobStatus st, JobProgress p) {
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
}
