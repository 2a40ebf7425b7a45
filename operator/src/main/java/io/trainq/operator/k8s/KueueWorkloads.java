package io.trainq.operator.k8s;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceRequirements;
import io.fabric8.kubernetes.api.model.Toleration;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.processing.GroupVersionKind;
import io.trainq.api.TrainingJob;
import io.trainq.engine.Conditions;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Kueue's job integration for TrainingJobs, done the way Kueue's jobframework does it for its own
 * kinds: a job labelled {@code kueue.x-k8s.io/queue-name} gets a {@code Workload} it owns (one pod set,
 * the worker pods), runs no worker until Kueue admits it, then at most the admitted count with the
 * flavor's node labels and tolerations; on eviction it stops its workers (their tasks go back to the
 * queue) and gives the admission back so Kueue can admit it again; a finished job marks its Workload
 * Finished, and a draining one reports the pods it no longer needs in {@code status.reclaimablePods},
 * so their quota returns before the job ends. Status is written with the Workload's resourceVersion
 * (a conflict is retried on the next reconciliation), never as a merge patch of the condition list.
 */
final class KueueWorkloads {
  private static final Logger log = LoggerFactory.getLogger(KueueWorkloads.class);
  static final String QUEUE_LABEL = "kueue.x-k8s.io/queue-name";
  static final String PRIORITY_CLASS_LABEL = "kueue.x-k8s.io/priority-class";
  static final String GROUP = "kueue.x-k8s.io";
  static final String VERSION = "v1beta2";
  static final String API_VERSION = GROUP + "/" + VERSION;
  static final String KIND = "Workload";
  static final GroupVersionKind WORKLOAD = new GroupVersionKind(GROUP, VERSION, KIND);
  /** The Workload's one pod set: the worker pods. */
  static final String POD_SET = "workers";
  static final String COMPONENT = "workload";
  /** Kueue's own limit on the name of a Workload it derives from its owner. */
  private static final int MAX_NAME = 253;

  private final EventRecorder events;
  private final Clock clock;
  private final boolean installed;

  KueueWorkloads(boolean installed, EventRecorder events, Clock clock) {
    this.installed = installed;
    this.events = events;
    this.clock = clock;
  }

  /** Whether the API server serves Kueue's Workloads (discovery: no extra permission needed). */
  static boolean installed(KubernetesClient client) {
    try {
      boolean yes = client.supports(API_VERSION, KIND);
      if (yes) {
        log.info("Kueue is installed ({} served): TrainingJobs labelled {} are admitted through Kueue Workloads", API_VERSION,
            QUEUE_LABEL);
      } else {
        log.info("Kueue is not installed ({} Workloads not served): TrainingJobs run without Kueue, {} labels are ignored",
            API_VERSION, QUEUE_LABEL);
      }
      return yes;
    } catch (KubernetesClientException e) {
      log.warn("cannot tell whether Kueue is installed ({}): TrainingJobs run without Kueue", e.getMessage());
      return false;
    }
  }

  boolean enabled() {
    return installed;
  }

  /** The LocalQueue the job asks for, or null. */
  static String queueName(TrainingJob job) {
    Map<String, String> labels = job.getMetadata().getLabels();
    String q = labels == null ? null : labels.get(QUEUE_LABEL);
    return q == null || q.isBlank() ? null : q.trim();
  }

  /** Whether Kueue decides when this job's workers run. */
  boolean manages(TrainingJob job) {
    return installed && queueName(job) != null;
  }

  /** As Kueue names a Workload after its owner: kind, name, a hash of the owner's uid. */
  static String workloadName(TrainingJob job) {
    String hash;
    try {
      byte[] d = MessageDigest.getInstance("SHA-1").digest(job.getMetadata().getUid().getBytes(StandardCharsets.UTF_8));
      hash = HexFormat.of().formatHex(d).substring(0, 5);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    String prefix = "trainingjob-" + job.getMetadata().getName();
    if (prefix.length() > MAX_NAME - 6) {
      prefix = prefix.substring(0, MAX_NAME - 6);
    }
    return prefix + "-" + hash;
  }

  /**
   * What Kueue allows the job's workers now.
   *
   * @param quota the job's Admitted condition
   * @param maxPods most worker pods the job may have (0 until admitted)
   * @param stopWorkers evicted: the workers must go (gracefully: their tasks return to the queue)
   * @param placement node labels and tolerations the admission adds to new pods
   * @param workload the Workload as read, or null
   * @param admittedPods the admission's pod count (0 when not admitted)
   * @param reclaimable pods already given back through status.reclaimablePods
   */
  record Gate(Conditions.Quota quota, int maxPods, boolean stopWorkers, WorkerPods.Placement placement,
      GenericKubernetesResource workload, int admittedPods, int reclaimable) {}

  /**
   * Reads (or creates) the job's Workload and says what it allows; a finished job's Workload is marked
   * Finished, an evicted one is given back once its workers are gone.
   *
   * @param podCount the pods the job can use (the pod set's count when the Workload is created)
   * @param template a worker pod as the job would create it: the pod set's template (resources, selectors)
   * @param activePods the job's worker pods that still hold resources and are not being deleted
   * @param livePods the job's worker pods that have not ended, those being deleted included
   */
  Gate observe(TrainingJob job, Context<TrainingJob> ctx, JobRuntime rt, boolean done, boolean failed, int podCount,
      Pod template, int activePods, int livePods) {
    KubernetesClient client = ctx.getClient();
    String ns = job.getMetadata().getNamespace();
    String name = workloadName(job);
    GenericKubernetesResource wl = ctx.getSecondaryResources(GenericKubernetesResource.class).stream()
        .filter(w -> name.equals(w.getMetadata().getName())).findFirst().orElse(null);
    if (wl == null) {
      wl = client.genericKubernetesResources(API_VERSION, KIND).inNamespace(ns).withName(name).get();
    } else {
      // the informer's copy is shared: changes go to a copy of it
      wl = Serialization.clone(wl);
    }
    String queue = queueName(job);
    if (wl == null) {
      if (done) {
        return new Gate(new Conditions.Quota(false, Conditions.Reason.QuotaReleased, "the job finished without a Workload"), 0,
            true, WorkerPods.Placement.NONE, null, 0, 0);
      }
      wl = client.genericKubernetesResources(API_VERSION, KIND).inNamespace(ns)
          .resource(newWorkload(job, client, name, queue, Math.max(1, podCount), template)).create();
      events.record(job, EventRecorder.Reason.WorkloadCreated, "created Kueue Workload " + name + " in LocalQueue " + queue
          + " for " + Math.max(1, podCount) + " worker pod(s)");
    }

    // the user's suspension deactivates the Workload: Kueue evicts it and its quota returns
    boolean active = !job.getSpec().suspended();
    if (bool(spec(wl).get("active"), true) != active && !isTrue(wl, "Finished")) {
      spec(wl).put("active", active);
      GenericKubernetesResource w = wl;
      GenericKubernetesResource updated = write(() -> client.genericKubernetesResources(API_VERSION, KIND).inNamespace(ns)
          .resource(w).update());
      wl = updated != null ? updated : wl;
    }

    int reclaimable = reclaimable(wl);
    if (done) {
      if (!isTrue(wl, "Finished") && finish(client, wl, failed ? "Failed" : "Succeeded",
          failed ? "the TrainingJob finished with dead-lettered tasks" : "the TrainingJob finished: every task succeeded")) {
        events.record(job, EventRecorder.Reason.QuotaReleased, "marked Workload " + name + " Finished: its quota is free");
      }
      return new Gate(new Conditions.Quota(false, Conditions.Reason.QuotaReleased, "the job finished: Workload " + name
          + " is Finished and its quota is free"), 0, true, WorkerPods.Placement.NONE, wl, 0, reclaimable);
    }

    Map<String, Object> evicted = condition(wl, "Evicted");
    Map<String, Object> admission = map(status(wl).get("admission"));
    if (evicted != null && "True".equals(evicted.get("status")) && admission != null) {
      String why = "evicted by Kueue (" + evicted.get("reason") + ": " + evicted.get("message") + ")";
      if (rt.kueueEvictedAt == null || !rt.kueueEvictedAt.equals(evicted.get("lastTransitionTime"))) {
        rt.kueueEvictedAt = String.valueOf(evicted.get("lastTransitionTime"));
        events.record(job, EventRecorder.Reason.QuotaEvicted, "Workload " + name + " " + why
            + ": stopping the workers, their running tasks go back to the queue");
      }
      if (livePods == 0 && release(client, wl, evicted)) {
        // only now: the quota goes to another job when these GPUs are really free
        log.info("gave back the admission of Workload {} after its eviction ({})", name, evicted.get("reason"));
      }
      return new Gate(new Conditions.Quota(false, Conditions.Reason.QuotaEvicted, "Workload " + name + " " + why
          + (livePods == 0 ? "; waiting to be admitted again" : "; stopping " + livePods + " worker pod(s)")), 0, true,
          WorkerPods.Placement.NONE, wl, 0, reclaimable);
    }

    Map<String, Object> admitted = condition(wl, "Admitted");
    if (admitted != null && "True".equals(admitted.get("status")) && admission != null) {
      String cq = String.valueOf(admission.get("clusterQueue"));
      Map<String, Object> assignment = podSetAssignment(admission);
      int count = assignment != null && assignment.get("count") instanceof Number n ? n.intValue() : podSetCount(wl);
      WorkerPods.Placement placement = placement(client, wl, assignment);
      String key = cq + "/" + count;
      if (!key.equals(rt.kueueAdmittedTo)) {
        rt.kueueAdmittedTo = key;
        events.record(job, EventRecorder.Reason.QuotaAdmitted, "Workload " + name + " admitted by Kueue to ClusterQueue " + cq
            + " for " + count + " worker pod(s)");
      }
      int max = Math.max(0, count - reclaimable);
      return new Gate(new Conditions.Quota(true, Conditions.Reason.QuotaAdmitted, "Workload " + name + " admitted to ClusterQueue "
          + cq + ": " + count + " worker pod(s)" + (reclaimable > 0 ? ", " + reclaimable + " given back as the job drains" : "")),
          max, false, placement, wl, count, reclaimable);
    }

    Map<String, Object> reserved = condition(wl, "QuotaReserved");
    String kueueSays = reserved != null && reserved.get("message") != null ? reserved.get("reason") + ": " + reserved.get("message")
        : "not admitted yet";
    if (rt.kueueAdmittedTo == null || !rt.kueueAdmittedTo.isEmpty()) {
      rt.kueueAdmittedTo = "";
      events.record(job, EventRecorder.Reason.QuotaPending, "Workload " + name + " waits for Kueue to admit it in LocalQueue "
          + queue + " (" + kueueSays + ")");
    }
    return new Gate(new Conditions.Quota(false, Conditions.Reason.WaitingForQuota, "Workload " + name + " waits in LocalQueue "
        + queue + " (" + kueueSays + ")"), 0, activePods > 0, WorkerPods.Placement.NONE, wl, 0, reclaimable);
  }

  /**
   * Gives Kueue back the quota of worker pods the job will not run again: while nothing waits in the task
   * queue, pods beyond those still working are reclaimable (one is always kept until the job ends, for
   * retries coming back). The count only grows, as Kueue requires.
   */
  void reportReclaimable(TrainingJob job, Context<TrainingJob> ctx, Gate gate, boolean draining, int podsStillNeeded) {
    if (gate.workload() == null || !gate.quota().admitted() || !draining) {
      return;
    }
    int podSetCount = podSetCount(gate.workload());
    int reclaim = Math.min(podSetCount - 1, Math.max(gate.reclaimable(), gate.admittedPods() - Math.max(1, podsStillNeeded)));
    if (reclaim <= gate.reclaimable()) {
      return;
    }
    GenericKubernetesResource wl = gate.workload();
    List<Map<String, Object>> list = new ArrayList<>();
    list.add(new LinkedHashMap<>(Map.of("name", POD_SET, "count", reclaim)));
    status(wl).put("reclaimablePods", list);
    if (write(() -> ctx.getClient().genericKubernetesResources(API_VERSION, KIND).inNamespace(wl.getMetadata().getNamespace())
        .resource(wl).updateStatus()) != null) {
      events.record(job, EventRecorder.Reason.QuotaReclaimable, "the job needs " + (gate.admittedPods() - reclaim) + " of its "
          + gate.admittedPods() + " admitted worker pod(s) now: " + reclaim + " given back to Kueue (status.reclaimablePods)");
    }
  }

  /**
   * A write with the resourceVersion read: null when Kueue changed the Workload meanwhile (409); the
   * next reconciliation, which that change also triggers, reads it again and tries again.
   */
  private static GenericKubernetesResource write(java.util.function.Supplier<GenericKubernetesResource> w) {
    try {
      return w.get();
    } catch (KubernetesClientException e) {
      if (e.getCode() == 409) {
        log.debug("the Workload changed meanwhile; trying again on the next reconciliation");
        return null;
      }
      throw e;
    }
  }

  /** Deletes the job's Workload (its quota returns at once; the garbage collector would too, later). */
  static void delete(KubernetesClient client, TrainingJob job) {
    client.genericKubernetesResources(API_VERSION, KIND).inNamespace(job.getMetadata().getNamespace())
        .withName(workloadName(job)).delete();
  }

  private GenericKubernetesResource newWorkload(TrainingJob job, KubernetesClient client, String name, String queue, int count,
      Pod template) {
    Map<String, Object> spec = new LinkedHashMap<>();
    spec.put("queueName", queue);
    Map<String, Object> podSet = new LinkedHashMap<>();
    podSet.put("name", POD_SET);
    podSet.put("count", count);
    if (count > 1) {
      // partial admission: fewer workers run the same tasks, only slower
      podSet.put("minCount", 1);
    }
    podSet.put("template", podTemplate(template));
    spec.put("podSets", List.of(podSet));
    if (job.getSpec().suspended()) {
      spec.put("active", false);
    }
    priority(job, client, spec);
    Map<String, String> labels = new LinkedHashMap<>(Names.workerLabels(job));
    labels.put(Names.COMPONENT, COMPONENT);
    return new GenericKubernetesResourceBuilder()
        .withApiVersion(API_VERSION)
        .withKind(KIND)
        .withNewMetadata()
          .withName(name)
          .withNamespace(job.getMetadata().getNamespace())
          .withLabels(labels)
          .withOwnerReferences(Names.controllerRef(job))
        .endMetadata()
        .withAdditionalProperties(Map.of("spec", spec))
        .build();
  }

  /** What Kueue needs of the worker pod: resources, selectors, tolerations, priority; not the env or command. */
  private static Map<String, Object> podTemplate(Pod pod) {
    PodSpec s = pod.getSpec();
    Map<String, Object> spec = new LinkedHashMap<>();
    spec.put("restartPolicy", s.getRestartPolicy());
    spec.put("initContainers", s.getInitContainers().stream().map(c -> Map.of("name", c.getName(), "image", c.getImage(),
        "resources", requests(c.getResources()))).toList());
    spec.put("containers", s.getContainers().stream().map(c -> Map.of("name", c.getName(), "image", c.getImage(),
        "resources", requests(c.getResources()))).toList());
    if (s.getNodeSelector() != null && !s.getNodeSelector().isEmpty()) {
      spec.put("nodeSelector", s.getNodeSelector());
    }
    if (s.getTolerations() != null && !s.getTolerations().isEmpty()) {
      spec.put("tolerations", Serialization.jsonMapper().convertValue(s.getTolerations(), List.class));
    }
    if (s.getPriorityClassName() != null) {
      spec.put("priorityClassName", s.getPriorityClassName());
    }
    return Map.of("spec", spec);
  }

  /** A container's resources with requests filled in from limits, as the API server defaults a pod's. */
  private static Map<String, Object> requests(ResourceRequirements r) {
    Map<String, Quantity> requests = new LinkedHashMap<>(r == null || r.getRequests() == null ? Map.of() : r.getRequests());
    if (r != null && r.getLimits() != null) {
      r.getLimits().forEach(requests::putIfAbsent);
    }
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("requests", requests.entrySet().stream().collect(java.util.stream.Collectors.toMap(Map.Entry::getKey,
        e -> e.getValue().toString(), (a, b) -> a, LinkedHashMap::new)));
    if (r != null && r.getLimits() != null && !r.getLimits().isEmpty()) {
      out.put("limits", r.getLimits().entrySet().stream().collect(java.util.stream.Collectors.toMap(Map.Entry::getKey,
          e -> e.getValue().toString(), (a, b) -> a, LinkedHashMap::new)));
    }
    return out;
  }

  /**
   * The Workload's priority, as Kueue's jobframework resolves it: the job's
   * {@code kueue.x-k8s.io/priority-class} label (a WorkloadPriorityClass), else the worker pods'
   * PriorityClass, else none (0).
   */
  private static void priority(TrainingJob job, KubernetesClient client, Map<String, Object> spec) {
    Map<String, String> labels = job.getMetadata().getLabels();
    String wpc = labels == null ? null : labels.get(PRIORITY_CLASS_LABEL);
    if (wpc != null && !wpc.isBlank()) {
      GenericKubernetesResource c = client.genericKubernetesResources(API_VERSION, "WorkloadPriorityClass").withName(wpc).get();
      if (c != null && c.getAdditionalProperties().get("value") instanceof Number v) {
        spec.put("priority", v.intValue());
        spec.put("priorityClassRef", Map.of("group", GROUP, "kind", "WorkloadPriorityClass", "name", wpc));
        return;
      }
      log.warn("WorkloadPriorityClass {} (label {}) not found: the Workload gets no priority", wpc, PRIORITY_CLASS_LABEL);
    }
    String pc = job.getSpec().getWorkers().getPriorityClassName();
    if (pc != null) {
      var c = client.scheduling().v1().priorityClasses().withName(pc).get();
      if (c != null && c.getValue() != null) {
        spec.put("priority", c.getValue());
        spec.put("priorityClassRef", Map.of("group", "scheduling.k8s.io", "kind", "PriorityClass", "name", pc));
      }
    }
  }

  /** Node labels and tolerations of the admission's flavors, and its admission checks' pod set updates. */
  private static WorkerPods.Placement placement(KubernetesClient client, GenericKubernetesResource wl, Map<String, Object> assignment) {
    Map<String, String> selector = new LinkedHashMap<>();
    List<Toleration> tolerations = new ArrayList<>();
    Map<String, Object> flavors = assignment == null ? null : map(assignment.get("flavors"));
    if (flavors != null) {
      for (Object f : flavors.values().stream().distinct().toList()) {
        GenericKubernetesResource rf = client.genericKubernetesResources(API_VERSION, "ResourceFlavor").withName(String.valueOf(f)).get();
        Map<String, Object> spec = rf == null ? null : map(rf.getAdditionalProperties().get("spec"));
        if (spec == null) {
          continue;
        }
        Map<String, Object> nodeLabels = map(spec.get("nodeLabels"));
        if (nodeLabels != null) {
          nodeLabels.forEach((k, v) -> selector.put(k, String.valueOf(v)));
        }
        addTolerations(tolerations, spec.get("tolerations"));
      }
    }
    if (status(wl).get("admissionChecks") instanceof List<?> checks) {
      for (Object c : checks) {
        Map<String, Object> check = map(c);
        if (check != null && check.get("podSetUpdates") instanceof List<?> updates) {
          for (Object u : updates) {
            Map<String, Object> update = map(u);
            if (update != null && POD_SET.equals(update.get("name"))) {
              Map<String, Object> ns = map(update.get("nodeSelector"));
              if (ns != null) {
                ns.forEach((k, v) -> selector.put(k, String.valueOf(v)));
              }
              addTolerations(tolerations, update.get("tolerations"));
            }
          }
        }
      }
    }
    return selector.isEmpty() && tolerations.isEmpty() ? WorkerPods.Placement.NONE : new WorkerPods.Placement(selector, tolerations);
  }

  private static void addTolerations(List<Toleration> into, Object list) {
    if (list instanceof List<?> l) {
      for (Object t : l) {
        Toleration tol = Serialization.jsonMapper().convertValue(t, Toleration.class);
        if (!into.contains(tol)) {
          into.add(tol);
        }
      }
    }
  }

  private boolean finish(KubernetesClient client, GenericKubernetesResource wl, String reason, String message) {
    setCondition(wl, "Finished", "True", reason, message);
    return write(() -> client.genericKubernetesResources(API_VERSION, KIND).inNamespace(wl.getMetadata().getNamespace())
        .resource(wl).updateStatus()) != null;
  }

  /** What Kueue's jobframework writes once an evicted job's pods are gone: the admission is given back. */
  private boolean release(KubernetesClient client, GenericKubernetesResource wl, Map<String, Object> evicted) {
    String reason = String.valueOf(evicted.get("reason"));
    String message = String.valueOf(evicted.get("message"));
    boolean requeue = "Preempted".equals(reason) || "NodeFailures".equals(reason);
    setCondition(wl, "Requeued", requeue ? "True" : "False", reason, message);
    setCondition(wl, "QuotaReserved", "False", "Pending", message);
    setCondition(wl, "Admitted", "False", "NoReservation", "The workload has no reservation");
    status(wl).remove("admission");
    // what was reclaimable counted against that admission; the next one starts from the pods the job needs then
    status(wl).remove("reclaimablePods");
    return write(() -> client.genericKubernetesResources(API_VERSION, KIND).inNamespace(wl.getMetadata().getNamespace())
        .resource(wl).updateStatus()) != null;
  }

  private void setCondition(GenericKubernetesResource wl, String type, String status, String reason, String message) {
    List<Map<String, Object>> conditions = conditions(wl);
    String now = Instant.now(clock).truncatedTo(ChronoUnit.SECONDS).toString();
    Map<String, Object> c = conditions.stream().filter(x -> type.equals(x.get("type"))).findFirst().orElse(null);
    if (c == null) {
      c = new LinkedHashMap<>();
      c.put("type", type);
      conditions.add(c);
      c.put("lastTransitionTime", now);
    } else if (!status.equals(c.get("status"))) {
      c.put("lastTransitionTime", now);
    }
    c.put("status", status);
    c.put("reason", reason);
    c.put("message", message.length() > 32768 ? message.substring(0, 32768) : message);
    if (wl.getMetadata().getGeneration() != null) {
      c.put("observedGeneration", wl.getMetadata().getGeneration());
    }
  }

  private static int podSetCount(GenericKubernetesResource wl) {
    if (spec(wl).get("podSets") instanceof List<?> sets && !sets.isEmpty() && map(sets.get(0)).get("count") instanceof Number n) {
      return n.intValue();
    }
    return 1;
  }

  private static int reclaimable(GenericKubernetesResource wl) {
    if (status(wl).get("reclaimablePods") instanceof List<?> list) {
      for (Object o : list) {
        Map<String, Object> r = map(o);
        if (r != null && POD_SET.equals(r.get("name")) && r.get("count") instanceof Number n) {
          return n.intValue();
        }
      }
    }
    return 0;
  }

  private static Map<String, Object> podSetAssignment(Map<String, Object> admission) {
    if (admission.get("podSetAssignments") instanceof List<?> list) {
      for (Object o : list) {
        Map<String, Object> a = map(o);
        if (a != null && POD_SET.equals(a.get("name"))) {
          return a;
        }
      }
    }
    return null;
  }

  static boolean isTrue(GenericKubernetesResource wl, String type) {
    Map<String, Object> c = condition(wl, type);
    return c != null && "True".equals(c.get("status"));
  }

  static Map<String, Object> condition(GenericKubernetesResource wl, String type) {
    return conditions(wl).stream().filter(c -> type.equals(c.get("type"))).findFirst().orElse(null);
  }

  @SuppressWarnings("unchecked")
  private static List<Map<String, Object>> conditions(GenericKubernetesResource wl) {
    Map<String, Object> status = status(wl);
    Object list = status.get("conditions");
    if (!(list instanceof List<?>)) {
      list = new ArrayList<Map<String, Object>>();
      status.put("conditions", list);
    } else if (!(list instanceof ArrayList<?>)) {
      list = new ArrayList<>((List<Map<String, Object>>) list);
      status.put("conditions", list);
    }
    return (List<Map<String, Object>>) list;
  }

  static Map<String, Object> status(GenericKubernetesResource wl) {
    return child(wl, "status");
  }

  static Map<String, Object> spec(GenericKubernetesResource wl) {
    return child(wl, "spec");
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> child(GenericKubernetesResource wl, String key) {
    Object o = wl.getAdditionalProperties().get(key);
    if (!(o instanceof Map<?, ?>)) {
      o = new LinkedHashMap<String, Object>();
      wl.getAdditionalProperties().put(key, o);
    }
    return (Map<String, Object>) o;
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> map(Object o) {
    return o instanceof Map<?, ?> m ? (Map<String, Object>) m : null;
  }

  private static boolean bool(Object o, boolean absent) {
    return o instanceof Boolean b ? b : absent;
  }
}
