package io.trainq.operator.k8s;

import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.EnvVarBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceRequirements;
import io.fabric8.kubernetes.api.model.ResourceRequirementsBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Toleration;
import io.trainq.api.TrainingJob;
import io.trainq.api.TrainingJobSpec;
import io.trainq.engine.JobSpecs;
import io.trainq.api.WorkerSpec;
import io.trainq.api.Durations;
import io.trainq.operator.OperatorConfig;
import io.trainq.protocol.RabbitTls;
import io.trainq.protocol.WorkerEnv;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;

/**
 * The worker pod of a TrainingJob and how many the job needs.
 *
 * <p>The pod runs the user's training image; an init container first copies the self-contained
 * worker (a jlink'd runtime, from the worker image's /opt/trainq-worker) into an emptyDir at
 * /trainq, and the main container runs the copied runtime's java directly, with no shell in between
 * ({@link WorkerCommand}: {@code /trainq/runtime/bin/java … io.trainq.worker.WorkerMain -- <command>}), so
 * a training image without a shell works too. It requests
 * {@code gpusPerPod} {@code nvidia.com/gpu} and restarts a crashed worker in place
 * ({@code restartPolicy: OnFailure}; the worker is not PID 1, so that its task can kill it); a worker
 * that runs out of work exits 0 and its pod completes, freeing the GPUs.
 */
final class WorkerPods {
  static final String GPU = "nvidia.com/gpu";
  static final String VOLUME = "trainq";
  static final String MOUNT = WorkerCommand.MOUNT;
  static final String TLS_VOLUME = "rabbitmq-tls";
  /** Where a job's RabbitMQ TLS Secret (ca.crt, tls.crt, tls.key) is mounted in the worker container. */
  static final String TLS_MOUNT = "/etc/trainq/rabbitmq-tls";
  /** Time between SIGTERM's arrival at the worker and the kubelet's SIGKILL that is not given to tasks. */
  static final Duration SHUTDOWN_MARGIN = Duration.ofSeconds(30);
  /** The worker's /metrics, /healthz and /readyz. */
  static final int HTTP_PORT = 8080;

  private WorkerPods() {}

  /** Node labels and tolerations a scheduler outside the pod (Kueue's admission) adds to worker pods. */
  record Placement(Map<String, String> nodeSelector, List<Toleration> tolerations) {
    static final Placement NONE = new Placement(Map.of(), List.of());
  }

  /** GPUs of one pod. */
  static int gpusPerPod(TrainingJobSpec spec) {
    return spec.getWorkers().gpusPerPod(spec.getGpusPerTask());
  }

  /** Tasks one pod runs at once. */
  static int slotsPerPod(TrainingJobSpec spec) {
    return JobSpecs.slotsPerWorker(spec);
  }

  /**
   * How many worker pods the job wants: none when it cannot run, is suspended or done; else enough
   * slots for the work there is (all unfinished tasks while publishing, afterwards the queued and
   * running ones), at most {@code maxPods}.
   *
   * @param readyInQueue tasks waiting in the task queue (not those waiting out a retry backoff)
   */
  static int desired(int maxPods, int slotsPerPod, boolean runnable, boolean publishing, int unfinished,
      long readyInQueue, int running) {
    if (!runnable || unfinished <= 0) {
      return 0;
    }
    long work = publishing ? unfinished : Math.min(unfinished, readyInQueue + running);
    long pods = (work + slotsPerPod - 1) / slotsPerPod;
    return (int) Math.min(maxPods, pods);
  }

  /** The termination grace of a worker pod: enough for a task to finish, bounded by the operator's maximum. */
  static Duration grace(Duration taskTimeout, Duration max) {
    Duration g = taskTimeout.plus(SHUTDOWN_MARGIN);
    return g.compareTo(max) > 0 ? max : g;
  }

  /**
   * A new worker pod.
   *
   * @param secretName the connection Secret in the job's namespace (its username and password, and
   *     its addresses or host and port, become environment variables)
   * @param secret that Secret when the operator could read it (to use its addresses key), else null
   */
  static Pod desired(TrainingJob job, JobRuntime rt, OperatorConfig config, String secretName, Secret secret) {
    return desired(job, rt, config, secretName, secret, Placement.NONE);
  }

  /** A new worker pod, placed where {@code placement} says besides the job's own node selector and tolerations. */
  static Pod desired(TrainingJob job, JobRuntime rt, OperatorConfig config, String secretName, Secret secret, Placement placement) {
    TrainingJobSpec spec = job.getSpec();
    WorkerSpec w = spec.getWorkers();
    int gpus = gpusPerPod(spec);
    Duration grace = grace(rt.settings.taskTimeout(), config.workerMaxGrace());

    List<EnvVar> env = new ArrayList<>();
    Map<String, String> plain = new LinkedHashMap<>(WorkerEnv.forJob(rt.topology, rt.settings, rt.total()));
    StringJoiner ids = new StringJoiner(",");
    for (int i = 0; i < gpus; i++) {
      ids.add(Integer.toString(i));
    }
    // Inside the container the device plugin's GPUs are numbered from 0.
    plain.put(WorkerEnv.GPUS, ids.toString());
    plain.put(WorkerEnv.IDLE_TIMEOUT_MS, Long.toString(Durations.parse(w.getIdleTimeout()).toMillis()));
    plain.put(WorkerEnv.EXTRA_PREFETCH, Integer.toString(w.getExtraPrefetch()));
    plain.put(WorkerEnv.SHUTDOWN_GRACE_MS, Long.toString(grace.minus(SHUTDOWN_MARGIN).toMillis()));
    plain.put(WorkerEnv.HTTP_PORT, Integer.toString(HTTP_PORT));
    if (spec.getWorkingDir() != null) {
      plain.put(WorkerEnv.WORKING_DIR, spec.getWorkingDir());
    }
    String vhost = spec.getRabbitmq() != null && spec.getRabbitmq().getVhost() != null ? spec.getRabbitmq().getVhost()
        : config.defaultVhost();
    plain.put("TRAINQ_RABBITMQ_VHOST", vhost);
    plain.forEach((k, v) -> env.add(new EnvVarBuilder().withName(k).withValue(v).build()));
    env.add(new EnvVarBuilder().withName(WorkerEnv.WORKER_NAME)
        .withNewValueFrom().withNewFieldRef().withFieldPath("metadata.name").endFieldRef().endValueFrom().build());
    env.add(secretEnv("TRAINQ_RABBITMQ_USERNAME", secretName, "username"));
    env.add(secretEnv("TRAINQ_RABBITMQ_PASSWORD", secretName, "password"));
    if (spec.getRabbitmq() != null && spec.getRabbitmq().getAddresses() != null && !spec.getRabbitmq().getAddresses().isEmpty()) {
      env.add(new EnvVarBuilder().withName("TRAINQ_RABBITMQ_ADDRESSES").withValue(String.join(",", spec.getRabbitmq().getAddresses())).build());
    } else if (secret != null && secret.getData() != null && secret.getData().containsKey("addresses")) {
      env.add(secretEnv("TRAINQ_RABBITMQ_ADDRESSES", secretName, "addresses"));
    } else {
      env.add(secretEnv("TRAINQ_RABBITMQ_HOST", secretName, "host"));
      env.add(secretEnv("TRAINQ_RABBITMQ_PORT", secretName, "port"));
      env.add(new EnvVarBuilder().withName("TRAINQ_RABBITMQ_ADDRESSES").withValue("$(TRAINQ_RABBITMQ_HOST):$(TRAINQ_RABBITMQ_PORT)").build());
    }
    String tlsSecret = null;
    boolean tls = spec.getRabbitmq() != null ? spec.getRabbitmq().getTls() != null
        : config.rabbitmq().map(r -> r.tls() != null).orElse(false);
    if (tls) {
      tlsSecret = spec.getRabbitmq() != null ? JobConnection.tlsSecretName(spec.getRabbitmq()) : config.rabbitmqTlsSecret();
      env.add(new EnvVarBuilder().withName(RabbitTls.TLS).withValue("true").build());
      if (tlsSecret != null) {
        env.add(new EnvVarBuilder().withName(RabbitTls.TLS_DIR).withValue(TLS_MOUNT).build());
      }
    }
    // The user's variables last: they may refer to ours, and may deliberately override one.
    if (w.getEnv() != null) {
      env.addAll(w.getEnv());
    }

    List<String> command = WorkerCommand.of(env, spec.getCommand());

    Map<String, String> annotations = new HashMap<>();
    annotations.put(Names.JOB_NAME, job.getMetadata().getName());

    Pod pod = new PodBuilder()
        .withNewMetadata()
          .withGenerateName(Names.workerPodPrefix(job.getMetadata().getName()))
          .withNamespace(job.getMetadata().getNamespace())
          .withLabels(Names.workerLabels(job))
          .withAnnotations(annotations)
          .withOwnerReferences(Names.controllerRef(job))
        .endMetadata()
        .withNewSpec()
          .withRestartPolicy("OnFailure")
          // The pod's pause process is PID 1 and the worker is not: a task that kills its worker (the
          // original design's infrastructure failure) ends the container, which the kubelet restarts,
          // as supervisord restarted the worker; as PID 1 the worker would ignore the SIGKILL. The
          // pause process also reaps orphaned task processes.
          .withShareProcessNamespace(true)
          .withTerminationGracePeriodSeconds(grace.toSeconds())
          .withNodeSelector(merged(w.getNodeSelector(), placement.nodeSelector()))
          .withTolerations(merged(w.getTolerations(), placement.tolerations()))
          .withPriorityClassName(w.getPriorityClassName())
          .withServiceAccountName(w.getServiceAccountName())
          // Only for clusters whose pod network is the node's own (spec.workers.hostNetwork).
          .withHostNetwork(Boolean.TRUE.equals(w.getHostNetwork()) ? true : null)
          .withDnsPolicy(Boolean.TRUE.equals(w.getHostNetwork()) ? "ClusterFirstWithHostNet" : null)
          // Workers never call the Kubernetes API; keep the token out unless the user chose an account.
          .withAutomountServiceAccountToken(w.getServiceAccountName() == null ? false : null)
          .addNewVolume().withName(VOLUME).withNewEmptyDir().endEmptyDir().endVolume()
          .addToInitContainers(new ContainerBuilder()
              .withName("install-worker")
              .withImage(config.workerImage())
              .withImagePullPolicy(config.workerImagePullPolicy())
              .withArgs(MOUNT + "/")
              .addNewVolumeMount().withName(VOLUME).withMountPath(MOUNT).endVolumeMount()
              .withResources(new ResourceRequirementsBuilder()
                  .addToRequests("cpu", new Quantity("50m")).addToRequests("memory", new Quantity("64Mi"))
                  .addToLimits("memory", new Quantity("256Mi")).build())
              .build())
          .addToContainers(new ContainerBuilder()
              .withName("worker")
              .withImage(spec.getImage())
              .withImagePullPolicy(w.getImagePullPolicy() == null ? "IfNotPresent" : w.getImagePullPolicy())
              .withCommand(command)
              .withEnv(env)
              .withResources(resources(w.getResources(), gpus))
              .addNewPort().withName("metrics").withContainerPort(HTTP_PORT).withProtocol("TCP").endPort()
              // Ready while it consumes; no liveness probe, which could kill a worker in the middle of a task.
              .withNewReadinessProbe().withNewHttpGet().withPath("/readyz").withNewPort("metrics").endHttpGet()
                .withPeriodSeconds(5).withFailureThreshold(2).endReadinessProbe()
              .addNewVolumeMount().withName(VOLUME).withMountPath(MOUNT).withReadOnly(true).endVolumeMount()
              .build())
        .endSpec()
        .build();
    if (tlsSecret != null) {
      pod.getSpec().getVolumes().add(new io.fabric8.kubernetes.api.model.VolumeBuilder().withName(TLS_VOLUME)
          .withNewSecret().withSecretName(tlsSecret).endSecret().build());
      pod.getSpec().getContainers().get(0).getVolumeMounts().add(new io.fabric8.kubernetes.api.model.VolumeMountBuilder()
          .withName(TLS_VOLUME).withMountPath(TLS_MOUNT).withReadOnly(true).build());
    }
    return pod;
  }

  private static Map<String, String> merged(Map<String, String> own, Map<String, String> added) {
    if (added.isEmpty()) {
      return own;
    }
    Map<String, String> m = new LinkedHashMap<>(own == null ? Map.of() : own);
    m.putAll(added);
    return m;
  }

  private static List<Toleration> merged(List<Toleration> own, List<Toleration> added) {
    if (added.isEmpty()) {
      return own;
    }
    List<Toleration> l = new ArrayList<>(own == null ? List.of() : own);
    added.stream().filter(t -> !l.contains(t)).forEach(l::add);
    return l;
  }

  /** The user's resources with {@code nvidia.com/gpu} set from gpusPerPod (limits; requests follow them). */
  static ResourceRequirements resources(ResourceRequirements user, int gpus) {
    ResourceRequirementsBuilder b = user == null ? new ResourceRequirementsBuilder() : new ResourceRequirementsBuilder(user);
    Map<String, Quantity> limits = new HashMap<>(user == null || user.getLimits() == null ? Map.of() : user.getLimits());
    limits.put(GPU, new Quantity(Integer.toString(gpus)));
    b.withLimits(limits);
    if (user != null && user.getRequests() != null && user.getRequests().containsKey(GPU)) {
      Map<String, Quantity> requests = new HashMap<>(user.getRequests());
      requests.put(GPU, new Quantity(Integer.toString(gpus)));
      b.withRequests(requests);
    }
    return b.build();
  }

  private static EnvVar secretEnv(String name, String secret, String key) {
    return new EnvVarBuilder().withName(name)
        .withNewValueFrom().withNewSecretKeyRef().withName(secret).withKey(key).endSecretKeyRef().endValueFrom().build();
  }

  /** Whether the pod holds (or will hold) its node's resources: not finished, not being deleted. */
  static boolean active(Pod p) {
    String phase = p.getStatus() == null ? null : p.getStatus().getPhase();
    return p.getMetadata().getDeletionTimestamp() == null && !"Succeeded".equals(phase) && !"Failed".equals(phase);
  }

  /**
   * Why worker pods wait for a node, in the scheduler's words ({@code PodScheduled=False}, reason
   * {@code Unschedulable}: too few GPUs, a node selector nothing matches), or null when none waits.
   */
  static String unschedulable(List<Pod> active) {
    List<String> messages = active.stream()
        .filter(p -> p.getStatus() != null && p.getStatus().getConditions() != null)
        .flatMap(p -> p.getStatus().getConditions().stream())
        .filter(c -> "PodScheduled".equals(c.getType()) && "False".equals(c.getStatus()) && "Unschedulable".equals(c.getReason()))
        .map(c -> c.getMessage() == null ? "no node fits" : c.getMessage())
        .toList();
    if (messages.isEmpty()) {
      return null;
    }
    return messages.size() + " of " + active.size() + " worker pod" + (active.size() == 1 ? "" : "s")
        + " cannot be scheduled: " + messages.get(0);
  }

  static boolean terminated(Pod p) {
    String phase = p.getStatus() == null ? null : p.getStatus().getPhase();
    return "Succeeded".equals(phase) || "Failed".equals(phase);
  }

  static boolean running(Pod p) {
    return p.getStatus() != null && "Running".equals(p.getStatus().getPhase());
  }

  static boolean ready(Pod p) {
    return p.getStatus() != null && p.getStatus().getConditions() != null && p.getStatus().getConditions().stream()
        .anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()));
  }
}
