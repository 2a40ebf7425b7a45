package io.trainq.operator.k8s;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.trainq.api.TrainingJob;
import io.trainq.operator.OperatorConfig;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Supplier;

/**
 * A job's worker pods: the ones that ended are cleaned up (a failed one reported), missing ones are
 * created up to what the work needs, all go when the job is done or suspended, and busy ones are
 * never deleted to scale down (a worker with nothing to do exits by itself). A pod the API server
 * refuses is reported, not thrown: the job's status is still stored, and the pool tries again later.
 * The pool also accounts the GPU-seconds its running pods hold.
 */
final class WorkerPool {
  private final OperatorConfig config;
  private final EventRecorder events;
  private final Supplier<InformerEventSource<Pod, TrainingJob>> pods;

  WorkerPool(OperatorConfig config, EventRecorder events, Supplier<InformerEventSource<Pod, TrainingJob>> pods) {
    this.config = config;
    this.events = events;
    this.pods = pods;
  }

  /** The pods as found: those that count as capacity ({@code active}) and the names of those not ended ({@code live}). */
  record Observed(List<Pod> all, List<Pod> active, Set<String> live) {}

  /** Forgets runs on pods that are gone and deletes pods that ended. */
  Observed observe(TrainingJob job, Context<TrainingJob> ctx, JobRuntime rt) {
    List<Pod> own = List.copyOf(ctx.getSecondaryResources(Pod.class));
    List<Pod> active = own.stream().filter(WorkerPods::active).toList();
    Set<String> live = new HashSet<>();
    own.stream().filter(p -> !WorkerPods.terminated(p)).forEach(p -> live.add(p.getMetadata().getName()));
    rt.retainRunning(live);
    for (Pod p : own) {
      if (WorkerPods.terminated(p) && p.getMetadata().getDeletionTimestamp() == null) {
        if ("Failed".equals(p.getStatus().getPhase())) {
          events.record(job, EventRecorder.Reason.WorkerLost, "worker pod " + p.getMetadata().getName() + " failed"
              + (p.getStatus().getReason() == null ? "" : " (" + p.getStatus().getReason() + ": " + p.getStatus().getMessage() + ")"));
        }
        deletePod(ctx, p);
      }
    }
    return new Observed(own, active, live);
  }

  /**
   * Brings the pool to {@code desired} pods (none when the job is done or suspended) and accounts the
   * GPU-seconds of its running pods since the last look.
   *
   * @return ready workers
   */
  int act(TrainingJob job, Context<TrainingJob> ctx, JobRuntime rt, Observed pods, int desired, boolean release, String why,
      String secretName, Secret secret, WorkerPods.Placement placement, long nowMs) {
    try {
      if (release) {
        deletePods(job, ctx, pods.active(), why);
      } else if (pods.active().size() < desired) {
        createPods(job, ctx, rt, secretName, secret, placement, desired - pods.active().size());
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
      rt.workersBlocked = "the API server refused a worker pod (" + e.getCode() + "): " + apiMessage(e);
      rt.blockedRetries++;
      events.warnOnce(rt, job, EventRecorder.Reason.WorkersBlocked, rt.workersBlocked);
    }
    int gpusPerPod = WorkerPods.gpusPerPod(job.getSpec());
    long runningPods = pods.all().stream().filter(WorkerPods::running).count();
    if (rt.lastAccountMillis > 0 && nowMs > rt.lastAccountMillis) {
      rt.allocatedGpuSeconds += runningPods * gpusPerPod * (nowMs - rt.lastAccountMillis) / 1000.0;
    }
    rt.lastAccountMillis = nowMs;
    return (int) pods.active().stream().filter(WorkerPods::ready).count();
  }

  void createPods(TrainingJob job, Context<TrainingJob> ctx, JobRuntime rt, String secretName, Secret secret,
      WorkerPods.Placement placement, int n) {
    for (int i = 0; i < n; i++) {
      Pod pod = WorkerPods.desired(job, rt, config, secretName, secret, placement);
      Pod created = ctx.getClient().pods().inNamespace(pod.getMetadata().getNamespace()).resource(pod).create();
      // so that the next reconciliation counts it even before the informer has seen it
      pods.get().handleRecentResourceCreate(ResourceID.fromResource(created), created);
      events.record(job, EventRecorder.Reason.WorkerCreated, "created worker pod " + created.getMetadata().getName()
          + " (" + WorkerPods.gpusPerPod(job.getSpec()) + " GPUs)");
    }
  }

  void deletePods(TrainingJob job, Context<TrainingJob> ctx, List<Pod> list, String why) {
    for (Pod p : list) {
      if (p.getMetadata().getDeletionTimestamp() == null) {
        deletePod(ctx, p);
        if (!WorkerPods.terminated(p)) {
          events.record(job, EventRecorder.Reason.WorkerDeleted, "deleted worker pod " + p.getMetadata().getName() + ": " + why);
        }
      }
    }
  }

  static void deletePod(Context<TrainingJob> ctx, Pod p) {
    try {
      ctx.getClient().pods().inNamespace(p.getMetadata().getNamespace()).withName(p.getMetadata().getName()).delete();
    } catch (KubernetesClientException e) {
      if (e.getCode() != 404) {
        throw e;
      }
    }
  }

  /** The API server's own words for a refusal. */
  static String apiMessage(KubernetesClientException e) {
    if (e.getStatus() != null && e.getStatus().getMessage() != null) {
      return e.getStatus().getMessage();
    }
    return e.getMessage();
  }
}
