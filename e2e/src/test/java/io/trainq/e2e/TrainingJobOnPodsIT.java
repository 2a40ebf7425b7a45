package io.trainq.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.trainq.api.TrainingJob;
import io.trainq.api.TrainingJobStatus;
import io.trainq.testkit.RabbitBroker;
import io.trainq.testkit.kube.KueueController;
import io.trainq.testkit.kube.TestCluster;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * TrainingJobs on pods that really run: the chart installed with the project's images (the operator
 * in a pod, as the chart's ServiceAccount), worker pods scheduled on fake GPUs and run by a kubelet,
 * the stand-in training program, the RabbitMQ 4.0 single node. The kubelet, not trainq, restarts a
 * worker that a task killed ({@code restartPolicy: OnFailure}).
 *
 * <p>Needs a cluster that runs pods; on this machine kind that is scripts/kube-local.sh, whose
 * network is loopback only, so the operator and the workers are hostNetwork pods and the operator
 * reaches the API server at 127.0.0.1. Fails, never skips, when there is no such cluster.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TrainingJobOnPodsIT {
  static final Duration JOB_LIMIT = Duration.ofMinutes(6);
  static final String SECRET = "trainq-rabbitmq-default-user";

  TestCluster cluster;
  KubernetesClient client;
  RabbitBroker broker;
  KueueController kueue;
  String ns;
  String release;

  @BeforeAll
  void installTheChart() {
    long t0 = System.nanoTime();
    cluster = TestCluster.shared();
    client = cluster.client();
    assertThat(cluster.runsPods()).as("%s (cluster: %s)", TestCluster.NO_KUBELET, cluster.kind()).isTrue();
    if (cluster.kind() == TestCluster.Kind.LOCAL) {
      LocalImages.buildAndImport();
    }
    broker = RabbitBroker.single();
    // Kueue runs beside the operator (which finds it at start): jobs without its label must not notice
    kueue = KueueController.start(cluster.kubeconfigPath(), client);
    ns = cluster.createNamespace("e2e");
    release = "trainq-" + ns.substring(ns.lastIndexOf('-') + 1);
    // The operator's connection, as the RabbitMQ Cluster Operator's <cluster>-default-user Secret holds it.
    client.resource(new SecretBuilder().withNewMetadata().withName(SECRET).withNamespace(ns).endMetadata()
        .withStringData(Map.of("username", RabbitBroker.USERNAME, "password", RabbitBroker.PASSWORD,
            "host", "127.0.0.1", "port", Integer.toString(broker.amqpPort(0))))
        .build()).create();

    String kubeconfig = cluster.kubeconfigPath().toString();
    String chart = Commands.projectRoot().resolve("helm/trainq").toString();
    // The CRD as this checkout generates it, also over an older one a previous run left (helm never upgrades CRDs).
    Commands.run(Duration.ofMinutes(1), TestCluster.kubectl().toString(), "--kubeconfig", kubeconfig, "apply",
        "--server-side", "--force-conflicts", "-f", chart + "/crds/");
    List<String> helm = new ArrayList<>(List.of(TestCluster.helm().toString(), "install", release, chart,
        "--kubeconfig", kubeconfig, "--namespace", ns, "--skip-crds", "--wait", "--timeout", "5m",
        "--set", "fullnameOverride=" + release,
        "--set", "image.pullPolicy=Never", "--set", "workerImage.pullPolicy=Never", "--set", "kueue.enabled=true",
        // the workers connect as each job's own broker user (the chart's default), made through this API
        "--set", "rabbitmq.managementUrl=http://127.0.0.1:" + broker.managementPort(0)));
    if (cluster.hostNetworkOnly()) {
      // 18080, not 8080: the worker pods' metrics port is on the same node's network.
      helm.addAll(List.of("--set", "hostNetwork=true", "--set", "metrics.port=18080"));
      int i = 0;
      for (Map.Entry<String, String> e : TestCluster.LOCAL_API_ENV.entrySet()) {
        helm.addAll(List.of("--set", "extraEnv[" + i + "].name=" + e.getKey(),
            "--set-string", "extraEnv[" + i + "].value=" + e.getValue()));
        i++;
      }
    }
    Commands.run(Duration.ofMinutes(6), helm);
    System.out.printf("chart installed, operator ready: %.1f s%n", (System.nanoTime() - t0) / 1e9);
  }

  @AfterAll
  void uninstall() {
    if (release != null) {
      // Its ClusterRoles and bindings are cluster-wide; the namespace goes when the cluster closes.
      Commands.run(Duration.ofMinutes(2), TestCluster.helm().toString(), "uninstall", release,
          "--kubeconfig", cluster.kubeconfigPath().toString(), "--namespace", ns, "--wait");
    }
    if (kueue != null) {
      kueue.close();
    }
  }

  /**
   * Kueue on real pods: two jobs share a ClusterQueue of 2 GPUs. The running job's pods really stop when
   * a job of higher priority preempts it (never more than 2 GPUs' worth of worker pods at once), the
   * other runs, and the preempted one resumes and counts every task once.
   */
  @Test
  void kueuePreemptsARunningJobWhosePodsReallyStopAndItResumes() {
    String cq = "e2e-" + ns;
    client.resource(kueueObject("ResourceFlavor", null, cq, Map.of("spec", Map.of()))).serverSideApply();
    client.resource(kueueObject("WorkloadPriorityClass", null, "e2e-urgent", Map.of("value", 1000))).serverSideApply();
    client.resource(kueueObject("ClusterQueue", null, cq, Map.of("spec", Map.of(
        "namespaceSelector", Map.of("matchLabels", Map.of("kubernetes.io/metadata.name", ns)),
        "preemption", Map.of("withinClusterQueue", "LowerPriority"),
        "resourceGroups", List.of(Map.of(
            "coveredResources", List.of("cpu", "memory", "nvidia.com/gpu"),
            "flavors", List.of(Map.of("name", cq, "resources", List.of(
                Map.of("name", "cpu", "nominalQuota", "64"),
                Map.of("name", "memory", "nominalQuota", "256Gi"),
                Map.of("name", "nvidia.com/gpu", "nominalQuota", "2")))))))))).serverSideApply();
    client.resource(kueueObject("LocalQueue", ns, "gpus", Map.of("spec", Map.of("clusterQueue", cq)))).serverSideApply();

    int lowTasks = 40;
    TrainingJob low = applyQueued("kq-low", lowTasks, "0.5", null);
    long deadline = System.nanoTime() + JOB_LIMIT.toNanos();
    while (succeeded(low) < 5 && System.nanoTime() < deadline) {
      sleep(Duration.ofMillis(200));
    }
    assertThat(succeeded(low)).as("low ran before the preemption; " + dump("kq-low", List.of())).isGreaterThanOrEqualTo(5);
    TrainingJob high = applyQueued("kq-high", 6, "0.5", "e2e-urgent");

    // until high finishes: low's pods go, and the two jobs never hold more than the quota's 2 pods
    int most = 0;
    boolean lowStopped = false;
    TrainingJobStatus highStatus = null;
    while (System.nanoTime() < deadline) {
      List<Pod> lowPods = workerPods(low).stream().filter(p -> !terminal(p)).toList();
      List<Pod> highPods = workerPods(high).stream().filter(p -> !terminal(p)).toList();
      most = Math.max(most, lowPods.size() + highPods.size());
      lowStopped |= lowPods.isEmpty() && !highPods.isEmpty();
      highStatus = client.resources(TrainingJob.class).inNamespace(ns).withName("kq-high").get().getStatus();
      if (highStatus != null && "Succeeded".equals(highStatus.getPhase())) {
        break;
      }
      sleep(Duration.ofMillis(250));
    }
    assertThat(highStatus).isNotNull();
    assertThat(highStatus.getPhase()).as(dump("kq-high", List.of())).isEqualTo("Succeeded");
    assertThat(lowStopped).as("the preempted job's pods stopped while the other ran").isTrue();
    assertThat(most).as("worker pods of both jobs at once (quota: 2 GPUs, 1 per pod)").isLessThanOrEqualTo(2);
    assertThat(succeeded(low)).as("low waited").isLessThan(lowTasks);

    Observed seen = awaitFinished(low);
    assertThat(seen.status.getPhase()).as(seen.dump).isEqualTo("Succeeded");
    assertThat(seen.status.getCounts().getSucceeded()).as(seen.dump).isEqualTo(lowTasks);
    assertThat(seen.status.getCounts().getDeadLettered()).as(seen.dump).isZero();
    assertThat(seen.status.getSucceededIndexes()).isEqualTo("0-" + (lowTasks - 1));
    Condition admitted = condition(low, "Admitted");
    assertThat(admitted.getReason()).isEqualTo("QuotaReleased");
    List<String> reasons = client.v1().events().inNamespace(ns).list().getItems().stream()
        .filter(e -> "kq-low".equals(e.getInvolvedObject().getName())).map(e -> e.getReason()).toList();
    assertThat(reasons).contains("QuotaAdmitted", "QuotaEvicted", "QuotaReleased");
  }

  private static boolean terminal(Pod p) {
    String phase = p.getStatus() == null ? null : p.getStatus().getPhase();
    return "Succeeded".equals(phase) || "Failed".equals(phase);
  }

  private static GenericKubernetesResource kueueObject(String kind, String namespace, String name, Map<String, Object> body) {
    GenericKubernetesResource r = new GenericKubernetesResource();
    r.setApiVersion("kueue.x-k8s.io/v1beta2");
    r.setKind(kind);
    r.setMetadata(new ObjectMetaBuilder().withName(name).withNamespace(namespace).build());
    body.forEach(r::setAdditionalProperty);
    return r;
  }

  /** A job of the stand-in program in LocalQueue "gpus": up to 2 pods of 1 GPU. */
  private TrainingJob applyQueued(String name, int tasks, String seconds, String priorityClass) {
    String labels = "\n  labels: {kueue.x-k8s.io/queue-name: gpus"
        + (priorityClass == null ? "" : ", kueue.x-k8s.io/priority-class: " + priorityClass) + "}";
    return applySteady(name, labels, tasks, 1, "5s", seconds);
  }

  /**
   * A job of the stand-in program that neither fails nor crashes: up to 2 pods of {@code gpusPerPod}
   * GPUs, each task {@code seconds} long; {@code labels} is a YAML {@code labels:} line under metadata, or empty.
   */
  private TrainingJob applySteady(String name, String labels, int tasks, int gpusPerPod, String idleTimeout, String seconds) {
    String yaml = """
        apiVersion: trainq.io/v1alpha1
        kind: TrainingJob
        metadata:
          name: %s
          namespace: %s%s
        spec:
          image: %s
          command: ["/usr/local/bin/dummy-train"]
          tasks: {count: %d}
          gpusPerTask: 1
          workers:
            maxPods: 2
            gpusPerPod: %d
            hostNetwork: %s
            imagePullPolicy: Never
            idleTimeout: %s
            env:
            - {name: DUMMY_SECONDS, value: "%s"}
            - {name: DUMMY_CRASH_RATE, value: "0"}
            - {name: DUMMY_FAIL_RATE, value: "0"}
          retry: {maxAttempts: 3, backoff: {initial: 1s, max: 4s}}
          taskTimeout: 1m
          rabbitmq: {secretRef: {name: %s}}
        """.formatted(name, ns, labels, LocalImages.STANDIN, tasks, gpusPerPod, cluster.hostNetworkOnly(), idleTimeout,
        seconds, SECRET);
    return client.resources(TrainingJob.class)
        .load(new ByteArrayInputStream(yaml.getBytes(StandardCharsets.UTF_8))).create();
  }

  /** Every task succeeds on real worker pods, and the status counts each one exactly once. */
  @Test
  void jobSucceedsWithExactCountsOnRealWorkerPods() {
    int tasks = 40;
    TrainingJob job = apply("exact", tasks, "0", "0");
    Observed seen = awaitFinished(job);

    TrainingJobStatus status = seen.status;
    assertThat(status.getPhase()).as(seen.dump).isEqualTo("Succeeded");
    assertThat(status.getCounts().getTotal()).isEqualTo(tasks);
    assertThat(status.getCounts().getSucceeded()).as(seen.dump).isEqualTo(tasks);
    assertThat(status.getCounts().getDeadLettered()).isZero();
    assertThat(status.getSucceededIndexes()).isEqualTo("0-" + (tasks - 1));
    assertThat(status.getFailedIndexes()).isNullOrEmpty();
    // Real pods did the work: one was seen running, scheduled on the node's fake GPUs.
    assertThat(seen.runningWorkerSeen).as("a worker pod was seen Running; " + seen.dump).isTrue();
    assertThat(seen.workerPods).isNotEmpty().allSatisfy(p -> {
      assertThat(p.getSpec().getNodeName()).isNotBlank();
      assertThat(p.getSpec().getContainers().get(0).getResources().getLimits()).containsKey("nvidia.com/gpu");
    });

    // What a user reads: kubectl describe shows the job's Events.
    String kubeconfig = cluster.kubeconfigPath().toString();
    String described = Commands.run(Duration.ofMinutes(1), TestCluster.kubectl().toString(), "--kubeconfig", kubeconfig,
        "describe", "trainingjob", "exact", "--namespace", ns);
    assertThat(described).as(described).contains("Events:").contains("TasksPublished").contains("Completed");

    // kubectl delete removes the job's pods and its queues.
    String key = "tq." + new io.trainq.protocol.JobTopology(ns, "exact", job.getMetadata().getUid()).key() + ".";
    assertThat(broker.queues(key)).as("the job's queues before the delete").isNotEmpty();
    Commands.run(Duration.ofMinutes(2), TestCluster.kubectl().toString(), "--kubeconfig", kubeconfig, "delete", "trainingjob",
        "exact", "--namespace", ns, "--wait=true", "--timeout=90s");
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while ((!workerPods(job).isEmpty() || !broker.queues(key).isEmpty()) && System.nanoTime() < deadline) {
      sleep(Duration.ofMillis(500));
    }
    assertThat(workerPods(job)).as("worker pods after kubectl delete").isEmpty();
    assertThat(broker.queues(key)).as("the job's queues after kubectl delete").isEmpty();
  }

  /**
   * The original design's scenarios 2 and 3 together, on a real pod: 20% of the attempts fail and the
   * task program kills its worker 5% of the time (SIGKILL to its parent, as supervisord's programs
   * did). The kubelet restarts the worker container in place, the broker redelivers what it held,
   * the failures are retried, and every task still ends succeeded exactly once.
   */
  @Test
  void theOriginalCrashAndFailureRatesEndWithEveryTaskSucceededOnce() {
    int tasks = 150;
    TrainingJob job = apply("original", tasks, "0.05", "0.2");
    Observed seen = awaitFinished(job);

    TrainingJobStatus status = seen.status;
    assertThat(status.getPhase()).as(seen.dump).isEqualTo("Succeeded");
    assertThat(status.getCounts().getSucceeded()).as(seen.dump).isEqualTo(tasks);
    assertThat(status.getCounts().getDeadLettered()).as(seen.dump).isZero();
    assertThat(status.getSucceededIndexes()).isEqualTo("0-" + (tasks - 1));
    assertThat(status.getCounts().getRetried()).as("failed attempts retried; " + seen.dump).isPositive();
    // one pod, restarted in place by the kubelet (150 tasks at 5%: no kill at all once in 2 000 runs)
    assertThat(seen.workerPods).as("restarted in place, not replaced; " + seen.dump).hasSize(1);
    assertThat(seen.maxRestarts).as("restarts of the worker container; " + seen.dump).isPositive();
    assertThat(seen.lastExitCodes).as("last exit codes of the worker container; " + seen.dump).contains(137);
  }

  /**
   * Scale-down never deletes a busy pod: two worker pods of two slots, tasks of 3 s; once the queue
   * is empty the job wants fewer pods than it has while both still run tasks. No pod is deleted to
   * scale down (the only WorkerDeleted Events are those of the finished job releasing what is left),
   * each worker ends with exit 0, and every task is counted once.
   */
  @Test
  void scaleDownNeverDeletesABusyPod() {
    int tasks = 10;
    TrainingJob job = applySteady("shrink", "", tasks, 2, "3s", "3");
    long deadline = System.nanoTime() + JOB_LIMIT.toNanos();
    Set<String> seenPods = new TreeSet<>();
    Map<String, Integer> exitCodes = new HashMap<>();
    TrainingJobStatus status = null;
    while (System.nanoTime() < deadline) {
      TrainingJob now = client.resources(TrainingJob.class).inNamespace(ns).withName("shrink").get();
      status = now.getStatus();
      for (Pod p : workerPods(now)) {
        seenPods.add(p.getMetadata().getName());
        for (ContainerStatus st : statuses(p)) {
          if (st.getState() != null && st.getState().getTerminated() != null) {
            exitCodes.put(p.getMetadata().getName(), st.getState().getTerminated().getExitCode());
          }
        }
      }
      if (status != null && ("Succeeded".equals(status.getPhase()) || "Failed".equals(status.getPhase()))) {
        break;
      }
      sleep(Duration.ofMillis(300));
    }
    String dump = dump("shrink", seenPods);
    assertThat(status).as(dump).isNotNull();
    assertThat(status.getPhase()).as(dump).isEqualTo("Succeeded");
    assertThat(status.getCounts().getSucceeded()).as(dump).isEqualTo(tasks);
    assertThat(status.getSucceededIndexes()).isEqualTo("0-" + (tasks - 1));
    assertThat(seenPods).as("two worker pods ran; " + dump).hasSize(2);
    List<String> deletions = client.v1().events().inNamespace(ns).list().getItems().stream()
        .filter(e -> job.getMetadata().getUid().equals(e.getInvolvedObject().getUid()))
        .filter(e -> "WorkerDeleted".equals(e.getReason())).map(e -> e.getMessage()).toList();
    assertThat(deletions).as("WorkerDeleted events of the job; " + dump).allMatch(m -> m.endsWith(": the job is done"));
    // the pods' workers ended by themselves: exit 0 where the kubelet reported it before the pods went
    assertThat(exitCodes.values()).as("exit codes of the workers; " + dump).allMatch(c -> c == 0);
  }

  /**
   * The worker process is killed (SIGKILL, from the node, as the OOM killer would) while its tasks
   * run, and 10% of the attempts fail: the kubelet restarts the worker container in place, the broker
   * redelivers what it held, and each task is still counted succeeded exactly once.
   *
   * <p>The stand-in's own "kill the worker" (DUMMY_CRASH_RATE, as samples/tasks/dummy_train.py does
   * with SIGKILL to its parent) cannot work in a pod: the worker is the container's PID 1, which the
   * kernel protects from SIGKILL sent inside its PID namespace. So the kill comes from the node.
   */
  @Test
  void killedWorkersAreRestartedInPlaceAndEveryTaskSucceedsOnce() {
    assertThat(cluster.kind()).as("the worker is killed through the node's containerd").isEqualTo(TestCluster.Kind.LOCAL);
    int tasks = 100;
    TrainingJob job = apply("crash", tasks, "0", "0.1");
    long deadline = System.nanoTime() + JOB_LIMIT.toNanos();
    int kills = 0;
    while (kills < 2 && System.nanoTime() < deadline) {
      TrainingJob now = client.resources(TrainingJob.class).inNamespace(ns).withName("crash").get();
      int succeeded = now.getStatus() == null || now.getStatus().getCounts() == null
          || now.getStatus().getCounts().getSucceeded() == null ? 0 : now.getStatus().getCounts().getSucceeded();
      // the first kill after 20 successes, the second after 50, each while tasks run on a ready worker
      if (succeeded >= (kills == 0 ? 20 : 50)) {
        for (Pod p : workerPods(now)) {
          if (statuses(p).stream().anyMatch(st -> st.getState() != null && st.getState().getRunning() != null
              && Boolean.TRUE.equals(st.getReady()))) {
            killWorkerProcess(p);
            kills++;
            break;
          }
        }
      }
      sleep(Duration.ofMillis(200));
    }
    Observed seen = awaitFinished(job);
    assertThat(kills).as("workers killed; " + seen.dump).isEqualTo(2);

    TrainingJobStatus status = seen.status;
    assertThat(status.getPhase()).as(seen.dump).isEqualTo("Succeeded");
    assertThat(status.getCounts().getSucceeded()).as(seen.dump).isEqualTo(tasks);
    assertThat(status.getCounts().getDeadLettered()).as(seen.dump).isZero();
    assertThat(status.getSucceededIndexes()).isEqualTo("0-" + (tasks - 1));
    // The restart happened in the pod, not by a new pod: restartCount counts it, the last exit was SIGKILL.
    int restarts = seen.workerPods.stream().flatMap(p -> statuses(p).stream())
        .mapToInt(s -> s.getRestartCount() == null ? 0 : s.getRestartCount()).sum();
    assertThat(restarts).as("worker restarts; " + seen.dump).isEqualTo(kills);
    // seen while the job ran: once the pod has completed, the kubelet may report no last state
    assertThat(seen.lastExitCodes).as("last exit codes of restarted workers; " + seen.dump).contains(137);
  }

  /**
   * The original design's crash, done by the task itself: the stand-in SIGKILLs its parent, the
   * worker. The worker is not the container's PID 1 (the pod shares one PID namespace, whose init is
   * the pause process), so the kill ends the container and the kubelet restarts it; the broker
   * redelivers the task. A task that does so every time is ended by the delivery limit: with
   * {@code deliveryLimit: 1} it runs exactly twice, killing its worker each time, and is dead-lettered
   * with reason delivery-limit, its one attempt unspent by the kills.
   *
   * <p>The first kill's restart is what ran the second delivery, so {@code restartCount} is at least
   * 1; the second kill's restart races the operator's deletion of a finished job's pods, so it may
   * not be counted.
   */
  @Test
  void aTaskThatKillsItsWorkerGetsItRestartedByTheKubelet() {
    TrainingJob job = apply("selfkill", 1, 1, "1", "0", 1, "0.1");
    Observed seen = awaitFinished(job);

    TrainingJobStatus status = seen.status;
    assertThat(status.getPhase()).as(seen.dump).isEqualTo("Failed");
    assertThat(status.getCounts().getSucceeded()).as(seen.dump).isZero();
    assertThat(status.getCounts().getDeadLettered()).as(seen.dump).isEqualTo(1);
    assertThat(status.getDeadLetters()).as(seen.dump).singleElement().satisfies(d -> {
      assertThat(d.getIndex()).isZero();
      assertThat(d.getReason()).isEqualTo("delivery-limit");
      assertThat(d.getAttempts()).as("a killed worker spends no attempt").isEqualTo(1);
    });
    assertThat(seen.workerPods).as("restarted in place, not replaced; " + seen.dump).hasSize(1);
    assertThat(seen.maxRestarts).as("restarts of the worker container; " + seen.dump).isBetween(1, 2);
    assertThat(seen.lastExitCodes).as("last exit codes of the worker container; " + seen.dump).containsExactly(137);
  }

  /**
   * A worker pod deleted while it works (as a person or a node drain would): the kubelet stops it
   * with SIGTERM, the operator creates another, and every task is still counted exactly once.
   */
  @Test
  void aDeletedWorkerPodIsReplacedAndNothingIsLostOrCountedTwice() {
    int tasks = 60;
    TrainingJob job = apply("deleted", tasks, "0", "0");
    String deleted = null;
    long deadline = System.nanoTime() + JOB_LIMIT.toNanos();
    while (deleted == null && System.nanoTime() < deadline) {
      if (succeeded(job) >= 12) {
        for (Pod p : workerPods(job)) {
          if ("Running".equals(p.getStatus().getPhase()) && p.getMetadata().getDeletionTimestamp() == null) {
            deleted = p.getMetadata().getName();
            System.out.printf("deleting worker pod %s at %d succeeded%n", deleted, succeeded(job));
            client.pods().inNamespace(ns).withName(deleted).delete();
            break;
          }
        }
      }
      sleep(Duration.ofMillis(200));
    }
    assertThat(deleted).as("a running worker pod was deleted").isNotNull();
    Observed seen = awaitFinished(job);

    TrainingJobStatus status = seen.status;
    assertThat(status.getPhase()).as(seen.dump).isEqualTo("Succeeded");
    assertThat(status.getCounts().getSucceeded()).as(seen.dump).isEqualTo(tasks);
    assertThat(status.getCounts().getDeadLettered()).as(seen.dump).isZero();
    assertThat(status.getSucceededIndexes()).isEqualTo("0-" + (tasks - 1));
    String gone = deleted;
    assertThat(seen.workerPods).as("the deleted pod and its replacement; " + seen.dump)
        .extracting(p -> p.getMetadata().getName()).contains(gone).hasSizeGreaterThanOrEqualTo(2);
    assertThat(seen.maxRestarts).as("no container restart: the pod was replaced, not restarted; " + seen.dump).isZero();
  }

  /**
   * A job whose worker pod wants more GPUs than the node has: the pod stays Pending and the job's
   * {@code WorkersBlocked} condition carries the scheduler's reason; once the node has the GPUs
   * (its capacity patched, as a device plugin or a new node would add them) the job runs to the end,
   * and afterwards the node has no GPU allocated.
   */
  @Test
  void aPodThatDoesNotFitWaitsWithTheSchedulersReasonAndRunsOnceGpusAppear() {
    String node = client.nodes().list().getItems().get(0).getMetadata().getName();
    String before = allocatableGpus(node);
    // an earlier scenario's worker pod may still hold the GPUs and, with hostNetwork, the metrics
    // port: then the scheduler's first reason would be that one
    awaitNoGpuAllocated(node, "");
    int tasks = 16;
    TrainingJob job = apply("big", tasks, 8, "0", "0", 10, "0.4");
    try {
      long deadline = System.nanoTime() + Duration.ofMinutes(1).toNanos();
      Condition blocked = null;
      while (System.nanoTime() < deadline) {
        blocked = condition(job, "WorkersBlocked");
        if (blocked != null && "True".equals(blocked.getStatus()) && blocked.getMessage().contains("nvidia.com/gpu")) {
          break;
        }
        sleep(Duration.ofMillis(500));
      }
      String dump = dump("big", List.of());
      assertThat(blocked).as("WorkersBlocked; " + dump).isNotNull();
      assertThat(blocked.getStatus()).as(dump).isEqualTo("True");
      assertThat(blocked.getReason()).isEqualTo("PodsUnschedulable");
      assertThat(blocked.getMessage()).contains("Insufficient nvidia.com/gpu");
      TrainingJob now = client.resources(TrainingJob.class).inNamespace(ns).withName("big").get();
      assertThat(now.getStatus().getMessage()).contains("Insufficient nvidia.com/gpu");
      assertThat(workerPods(job)).singleElement().satisfies(p -> assertThat(p.getStatus().getPhase()).isEqualTo("Pending"));
      System.out.printf("blocked as expected: %s%n", blocked.getMessage());

      setGpus(node, "8");
      Observed seen = awaitFinished(job);
      TrainingJobStatus status = seen.status;
      assertThat(status.getPhase()).as(seen.dump).isEqualTo("Succeeded");
      assertThat(status.getCounts().getSucceeded()).as(seen.dump).isEqualTo(tasks);
      assertThat(status.getSucceededIndexes()).isEqualTo("0-" + (tasks - 1));
      assertThat(seen.runningWorkerSeen).as(seen.dump).isTrue();
      assertThat(condition(job, "WorkersBlocked").getStatus()).isEqualTo("False");
      awaitNoGpuAllocated(node, seen.dump);
    } finally {
      setGpus(node, before);
    }
  }

  /**
   * {@code spec.suspend: true} releases the GPUs (the worker pods go, the node has none allocated)
   * and nothing new finishes while suspended; resuming brings a worker back and the job ends with
   * each task counted exactly once.
   */
  @Test
  void suspendingReleasesTheGpusAndResumingFinishesTheJob() {
    int tasks = 80;
    TrainingJob job = apply("pause", tasks, "0", "0");
    String node = client.nodes().list().getItems().get(0).getMetadata().getName();
    long deadline = System.nanoTime() + JOB_LIMIT.toNanos();
    while (succeeded(job) < 12 && System.nanoTime() < deadline) {
      sleep(Duration.ofMillis(200));
    }
    assertThat(succeeded(job)).as("tasks succeeded before the suspension").isGreaterThanOrEqualTo(12);
    setSuspend(true);
    // the pods go (the worker finishes the tasks it holds first), then no GPU is allocated
    long gone = System.nanoTime() + Duration.ofMinutes(2).toNanos();
    while (!workerPods(job).isEmpty() && System.nanoTime() < gone) {
      sleep(Duration.ofMillis(500));
    }
    assertThat(workerPods(job)).as("worker pods while suspended; " + dump("pause", List.of())).isEmpty();
    awaitNoGpuAllocated(node, "");
    // outcomes the last worker sent before it exited may still be on their way into the status
    sleep(Duration.ofSeconds(2));
    int atSuspension = succeeded(job);
    sleep(Duration.ofSeconds(3));
    TrainingJob suspended = client.resources(TrainingJob.class).inNamespace(ns).withName("pause").get();
    assertThat(suspended.getStatus().getPhase()).isEqualTo("Suspended");
    assertThat(suspended.getStatus().getCounts().getSucceeded()).as("nothing finishes while suspended")
        .isEqualTo(atSuspension).isLessThan(tasks);
    System.out.printf("suspended at %d of %d tasks, no worker pod, no GPU allocated%n", atSuspension, tasks);

    setSuspend(false);
    Observed seen = awaitFinished(job);
    TrainingJobStatus status = seen.status;
    assertThat(status.getPhase()).as(seen.dump).isEqualTo("Succeeded");
    assertThat(status.getCounts().getSucceeded()).as(seen.dump).isEqualTo(tasks);
    assertThat(status.getCounts().getDeadLettered()).as(seen.dump).isZero();
    assertThat(status.getSucceededIndexes()).isEqualTo("0-" + (tasks - 1));
    assertThat(seen.runningWorkerSeen).as("a worker ran after the resume; " + seen.dump).isTrue();
  }

  /**
   * The operator runs in a pod as the chart's ServiceAccount, holds the leader-election Lease, and
   * its probes pass: Ready, never restarted.
   */
  @Test
  void theOperatorRunsAsTheChartsServiceAccountHoldingTheLease() {
    Pod operator = client.pods().inNamespace(ns).withLabel("app.kubernetes.io/instance", release).list().getItems()
        .stream().filter(p -> p.getMetadata().getDeletionTimestamp() == null).findFirst()
        .orElseThrow(() -> new AssertionError("no operator pod in " + ns));
    // the chart names the operator's Deployment, ServiceAccount and Lease <fullname>-operator
    String name = release + "-operator";
    assertThat(operator.getSpec().getServiceAccountName()).isEqualTo(name);
    Container c = operator.getSpec().getContainers().get(0);
    assertThat(c.getLivenessProbe()).as("liveness probe").isNotNull();
    assertThat(c.getReadinessProbe()).as("readiness probe").isNotNull();
    assertThat(statuses(operator)).singleElement().satisfies(st -> {
      assertThat(st.getReady()).as("readiness passes").isTrue();
      assertThat(st.getRestartCount()).as("liveness never failed").isZero();
    });
    Lease lease = client.leases().inNamespace(ns).withName(name).get();
    assertThat(lease).as("the leader-election Lease %s/%s", ns, name).isNotNull();
    assertThat(lease.getSpec().getHolderIdentity()).isEqualTo(operator.getMetadata().getName());
    assertThat(lease.getSpec().getRenewTime()).as("renewed").isNotNull();
  }

  private int succeeded(TrainingJob job) {
    TrainingJob now = client.resources(TrainingJob.class).inNamespace(ns).withName(job.getMetadata().getName()).get();
    return now.getStatus() == null || now.getStatus().getCounts() == null || now.getStatus().getCounts().getSucceeded() == null
        ? 0 : now.getStatus().getCounts().getSucceeded();
  }

  private Condition condition(TrainingJob job, String type) {
    TrainingJob now = client.resources(TrainingJob.class).inNamespace(ns).withName(job.getMetadata().getName()).get();
    return now.getStatus() == null || now.getStatus().getConditions() == null ? null
        : now.getStatus().getConditions().stream().filter(c -> type.equals(c.getType())).findFirst().orElse(null);
  }

  private void setSuspend(boolean suspend) {
    client.resources(TrainingJob.class).inNamespace(ns).withName("pause")
        .patch(PatchContext.of(PatchType.JSON_MERGE), "{\"spec\":{\"suspend\":" + suspend + "}}");
  }

  private String allocatableGpus(String node) {
    Quantity q = client.nodes().withName(node).get().getStatus().getAllocatable().get("nvidia.com/gpu");
    assertThat(q).as("nvidia.com/gpu on node %s", node).isNotNull();
    return q.getAmount();
  }

  /** Sets the node's fake GPUs, as scripts/kube-local.sh does: the kubelet keeps them and makes them allocatable. */
  private void setGpus(String node, String gpus) {
    client.nodes().withName(node).subresource("status").patch(PatchContext.of(PatchType.JSON),
        "[{\"op\":\"add\",\"path\":\"/status/capacity/nvidia.com~1gpu\",\"value\":\"" + gpus + "\"}]");
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (!gpus.equals(allocatableGpus(node)) && System.nanoTime() < deadline) {
      sleep(Duration.ofMillis(200));
    }
    assertThat(allocatableGpus(node)).as("allocatable nvidia.com/gpu of %s", node).isEqualTo(gpus);
  }

  /** What {@code kubectl describe node} shows as allocated: the GPU limits of the pods on it that have not ended. */
  private void awaitNoGpuAllocated(String node, String dump) {
    long deadline = System.nanoTime() + Duration.ofMinutes(1).toNanos();
    long allocated;
    do {
      allocated = client.pods().inAnyNamespace().withField("spec.nodeName", node).list().getItems().stream()
          .filter(p -> !"Succeeded".equals(p.getStatus().getPhase()) && !"Failed".equals(p.getStatus().getPhase()))
          .flatMap(p -> p.getSpec().getContainers().stream())
          .map(c -> c.getResources() == null || c.getResources().getLimits() == null ? null
              : c.getResources().getLimits().get("nvidia.com/gpu"))
          .filter(Objects::nonNull).mapToLong(q -> Long.parseLong(q.getAmount())).sum();
      if (allocated == 0) {
        return;
      }
      sleep(Duration.ofMillis(500));
    } while (System.nanoTime() < deadline);
    assertThat(allocated).as("nvidia.com/gpu allocated on %s; %s", node, dump).isZero();
  }

  /** SIGKILL to the worker container's main process, found through the local cluster's containerd. */
  private void killWorkerProcess(Pod pod) {
    String id = statuses(pod).stream().filter(s -> "worker".equals(s.getName())).findFirst().orElseThrow()
        .getContainerID().replaceFirst("^containerd://", "");
    String socket = cluster.kubeconfigPath().getParent().resolve("run/containerd.sock").toString();
    String tasks = Commands.run(Duration.ofSeconds(20), "ctr", "--address", socket, "--namespace", "k8s.io", "tasks", "ls");
    long pid = tasks.lines().map(l -> l.trim().split("\\s+")).filter(f -> f.length >= 2 && f[0].equals(id))
        .mapToLong(f -> Long.parseLong(f[1])).findFirst()
        .orElseThrow(() -> new AssertionError("container " + id + " not among containerd's tasks:\n" + tasks));
    ProcessHandle worker = ProcessHandle.of(pid).orElseThrow(() -> new AssertionError("no process " + pid));
    System.out.printf("killing worker %s (pid %d: %s)%n", pod.getMetadata().getName(), pid, worker.info().command().orElse("?"));
    assertThat(worker.destroyForcibly()).as("SIGKILL sent to %d", pid).isTrue();
  }

  private TrainingJob apply(String name, int tasks, String crashRate, String failRate) {
    return apply(name, tasks, 4, crashRate, failRate, 10, "0.4");
  }

  /** A job of the stand-in program: one worker pod of {@code gpusPerPod} GPUs, a slot per GPU. */
  private TrainingJob apply(String name, int tasks, int gpusPerPod, String crashRate, String failRate, int deliveryLimit,
      String seconds) {
    String yaml = """
        apiVersion: trainq.io/v1alpha1
        kind: TrainingJob
        metadata: {name: %s, namespace: %s}
        spec:
          image: %s
          command: ["/usr/local/bin/dummy-train"]
          tasks: {count: %d}
          gpusPerTask: 1
          workers:
            maxPods: 1
            gpusPerPod: %d
            hostNetwork: %s
            imagePullPolicy: Never
            idleTimeout: 5s
            env:
            - {name: DUMMY_SECONDS, value: "%s"}
            - {name: DUMMY_CRASH_RATE, value: "%s"}
            - {name: DUMMY_FAIL_RATE, value: "%s"}
          retry: {maxAttempts: 10, deliveryLimit: %d, backoff: {initial: 1s, max: 4s}}
          taskTimeout: 1m
          rabbitmq: {secretRef: {name: %s}}
        """.formatted(name, ns, LocalImages.STANDIN, tasks, gpusPerPod, cluster.hostNetworkOnly(), seconds, crashRate,
        failRate, deliveryLimit, SECRET);
    return client.resources(TrainingJob.class)
        .load(new ByteArrayInputStream(yaml.getBytes(StandardCharsets.UTF_8))).create();
  }

  /** What a test saw of a job until it finished (or the limit passed), and a dump for failure messages. */
  record Observed(TrainingJobStatus status, List<Pod> workerPods, boolean runningWorkerSeen, Set<Integer> lastExitCodes,
      int maxRestarts, String dump) {}

  private Observed awaitFinished(TrainingJob job) {
    long deadline = System.nanoTime() + JOB_LIMIT.toNanos();
    boolean runningSeen = false;
    Map<String, Pod> pods = new HashMap<>();
    Set<Integer> lastExitCodes = Collections.synchronizedSet(new TreeSet<>());
    AtomicInteger maxRestarts = new AtomicInteger();
    TrainingJobStatus status = null;
    boolean ended = false;
    // Every status the pods go through, also those between two polls: a short job's pod can restart
    // and be released before the next poll sees its restart count.
    try (Watch watch = client.pods().inNamespace(ns)
        .withLabel("trainq.io/job-uid", job.getMetadata().getUid()).watch(new Watcher<Pod>() {
          @Override
          public void eventReceived(Action action, Pod p) {
            recordContainers(p, lastExitCodes, maxRestarts);
          }

          @Override
          public void onClose(WatcherException e) { }
        })) {
      while (System.nanoTime() < deadline) {
        TrainingJob now = client.resources(TrainingJob.class).inNamespace(ns).withName(job.getMetadata().getName()).get();
        status = now.getStatus();
        for (Pod p : workerPods(now)) {
          pods.put(p.getMetadata().getName(), p); // the latest state of every pod, also of those gone since
          runningSeen |= p.getStatus() != null && "Running".equals(p.getStatus().getPhase());
          recordContainers(p, lastExitCodes, maxRestarts);
        }
        if (ended) {
          break;
        }
        if (status != null && ("Succeeded".equals(status.getPhase()) || "Failed".equals(status.getPhase()))) {
          // the kubelet may report a container's last termination after the job ended: one more look
          ended = true;
          sleep(Duration.ofSeconds(1));
          continue;
        }
        sleep(Duration.ofMillis(500));
      }
    }
    return new Observed(status == null ? new TrainingJobStatus() : status, List.copyOf(pods.values()), runningSeen,
        lastExitCodes, maxRestarts.get(), dump(job.getMetadata().getName(), pods.keySet()));
  }

  /** The worker container's exit codes and restarts, from one polled or watched status of its pod. */
  private static void recordContainers(Pod p, Set<Integer> lastExitCodes, AtomicInteger maxRestarts) {
    for (ContainerStatus s : statuses(p)) {
      if (!"worker".equals(s.getName())) {
        continue;
      }
      if (s.getLastState() != null && s.getLastState().getTerminated() != null) {
        lastExitCodes.add(s.getLastState().getTerminated().getExitCode());
      }
      // a worker that ended by itself and is not restarted yet (the job may end first and its pod go);
      // not one stopped by the pod's deletion
      if (p.getMetadata().getDeletionTimestamp() == null && s.getState() != null && s.getState().getTerminated() != null) {
        lastExitCodes.add(s.getState().getTerminated().getExitCode());
      }
      maxRestarts.accumulateAndGet(s.getRestartCount() == null ? 0 : s.getRestartCount(), Math::max);
    }
  }

  private List<Pod> workerPods(TrainingJob job) {
    return client.pods().inNamespace(ns).withLabel("trainq.io/job-uid", job.getMetadata().getUid()).list().getItems();
  }

  /** What a person needs when a job does not end as expected: its status, its pods, their logs. */
  private String dump(String job, Iterable<String> workerPods) {
    StringBuilder out = new StringBuilder("\n--- TrainingJob ").append(job).append(" ---\n");
    try {
      out.append(client.getKubernetesSerialization().asYaml(
          client.resources(TrainingJob.class).inNamespace(ns).withName(job).get().getStatus()));
      for (Pod p : client.pods().inNamespace(ns).list().getItems()) {
        out.append("--- pod ").append(p.getMetadata().getName()).append(": ").append(p.getStatus().getPhase());
        for (ContainerStatus s : statuses(p)) {
          out.append(", ").append(s.getName()).append(" restarts=").append(s.getRestartCount());
        }
        out.append('\n');
      }
      for (String pod : workerPods) {
        out.append("--- log of ").append(pod).append(" (tail) ---\n").append(tail(pod, "worker"));
      }
      client.pods().inNamespace(ns).withLabel("app.kubernetes.io/instance", release).list().getItems()
          .forEach(p -> out.append("--- log of ").append(p.getMetadata().getName()).append(" (tail) ---\n")
              .append(tail(p.getMetadata().getName(), "operator")));
    } catch (RuntimeException e) {
      out.append("(dump failed: ").append(e).append(")\n");
    }
    return out.toString();
  }

  private String tail(String pod, String container) {
    try {
      return Objects.toString(client.pods().inNamespace(ns).withName(pod).inContainer(container).tailingLines(40).getLog(), "");
    } catch (RuntimeException e) {
      return "(no log: " + e.getMessage() + ")\n";
    }
  }

  private static List<ContainerStatus> statuses(Pod p) {
    return p.getStatus() == null || p.getStatus().getContainerStatuses() == null ? List.of() : p.getStatus().getContainerStatuses();
  }

  private static void sleep(Duration d) {
    try {
      Thread.sleep(d.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
