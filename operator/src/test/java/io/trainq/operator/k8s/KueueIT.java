package io.trainq.operator.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.trainq.api.BackoffSpec;
import io.trainq.api.RetrySpec;
import io.trainq.api.TaskSource;
import io.trainq.api.TrainingJob;
import io.trainq.api.TrainingJobSpec;
import io.trainq.api.TrainingJobStatus;
import io.trainq.api.WorkerSpec;
import io.trainq.operator.KubeTestServer;
import io.trainq.operator.LocalKubelet;
import io.trainq.operator.OperatorHarness;
import io.trainq.testkit.RabbitBroker;
import io.trainq.testkit.kube.KueueController;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * TrainingJobs queued through the real Kueue controller (v0.17.1) on a real kube-apiserver of their own,
 * with real workers behind the pods ({@link LocalKubelet}): admitted and pending, preempted and
 * resumed, a draining job's freed pods admitting another job before it ends. Not in the RabbitMQ 3.10
 * pass: what it checks is Kueue's part, the broker's is the same as in the other tests.
 */
class KueueIT {
  static final Duration WAIT = Duration.ofSeconds(120);
  static KubeTestServer kube;
  static KubernetesClient client;
  static KueueController kueue;
  static RabbitBroker broker;
  static String eventsQueue;
  static io.trainq.operator.k8s.TrainqOperator operator;
  static int run;
  String ns;
  String clusterQueue;
  LocalKubelet kubelet;

  @BeforeAll
  static void start() throws Exception {
    kube = KubeTestServer.privateInstance();
    client = kube.client();
    kueue = KueueController.start(kube.kubeconfigFile(), client);
    broker = RabbitBroker.single();
    client.resource(generic("ResourceFlavor", null, "gpu-pool", Map.of("spec", Map.of(
        "nodeLabels", Map.of("trainq.io/test-pool", "a100"))))).create();
    client.resource(generic("WorkloadPriorityClass", null, "urgent", Map.of("value", 1000))).create();
    eventsQueue = RabbitBroker.uniqueName("trainq.operator.events");
    operator = OperatorHarness.start(OperatorHarness.config(broker, Set.of(), eventsQueue), client);
  }

  @AfterAll
  static void stop() throws Exception {
    if (operator != null) {
      operator.close();
    }
    if (kueue != null) {
      kueue.close();
    }
    if (kube != null) {
      kube.close();
    }
    broker.deleteQueue(eventsQueue);
  }

  /** Per test: a namespace with its connection Secret, a ClusterQueue of 2 GPUs and a LocalQueue, a kubelet. */
  @BeforeEach
  void queue() throws Exception {
    run++;
    ns = kube.newNamespace("kueue");
    clusterQueue = "team-" + run;
    client.secrets().inNamespace(ns).resource(new SecretBuilder().withNewMetadata().withName("trainq-rabbitmq-default-user").endMetadata()
        .withStringData(Map.of("username", RabbitBroker.USERNAME, "password", RabbitBroker.PASSWORD,
            "host", "127.0.0.1", "port", Integer.toString(broker.amqpPort(0)))).build()).create();
    client.resource(generic("ClusterQueue", null, clusterQueue, Map.of("spec", Map.of(
        "namespaceSelector", Map.of("matchLabels", Map.of("kubernetes.io/metadata.name", ns)),
        "preemption", Map.of("withinClusterQueue", "LowerPriority"),
        "resourceGroups", List.of(Map.of(
            "coveredResources", List.of("cpu", "memory", "nvidia.com/gpu"),
            "flavors", List.of(Map.of("name", "gpu-pool", "resources", List.of(
                Map.of("name", "cpu", "nominalQuota", "100"),
                Map.of("name", "memory", "nominalQuota", "100Gi"),
                Map.of("name", "nvidia.com/gpu", "nominalQuota", "2")))))))))).create();
    client.resource(generic("LocalQueue", ns, "team-queue", Map.of("spec", Map.of("clusterQueue", clusterQueue)))).create();
    await("ClusterQueue active").atMost(WAIT).ignoreExceptions().until(() ->
        KueueWorkloads.isTrue(client.genericKubernetesResources(KueueWorkloads.API_VERSION, "ClusterQueue").withName(clusterQueue).get(), "Active"));
    kubelet = new LocalKubelet(client, ns);
  }

  @AfterEach
  void report() throws Exception {
    if (kubelet != null) {
      kubelet.close();
    }
  }

  /**
   * Quota for one job: the first is admitted and gets its pods (placed on the flavor's nodes), the
   * second waits with Kueue's reason and no pod; once the first finishes, its Workload is Finished and
   * the second runs. Each counts every task once.
   */
  @Test
  void twoJobsInOneQueueRunInTurn() throws Exception {
    TrainingJob a = create("first", 4, 2, "sleep 2", null);
    await("first admitted").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      assertThat(KueueWorkloads.isTrue(workload(a), "Admitted")).isTrue();
      assertThat(pods(a)).hasSize(2);
    });
    assertThat(pods(a)).allSatisfy(p -> assertThat(p.getSpec().getNodeSelector()).containsEntry("trainq.io/test-pool", "a100"));
    TrainingJob b = create("second", 4, 2, "sleep 1", null);
    await("second pending").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      Map<String, Object> reserved = KueueWorkloads.condition(workload(b), "QuotaReserved");
      assertThat(reserved.get("status")).isEqualTo("False");
      TrainingJobStatus s = status("second");
      assertThat(s.getPhase()).isEqualTo("Pending");
      assertThat(condition(s, "Admitted").getStatus()).isEqualTo("False");
      assertThat(condition(s, "Admitted").getReason()).isEqualTo("WaitingForQuota");
      // Kueue's own words for why it waits
      assertThat(condition(s, "Admitted").getMessage()).contains(String.valueOf(reserved.get("message")));
      assertThat(condition(s, "Admitted").getMessage()).contains("insufficient");
    });
    assertThat(pods(b)).as("no pod before admission").isEmpty();
    assertThat(status("second").getCounts().getPublished()).as("its tasks wait in its queue").isEqualTo(4);

    await("first succeeded").atMost(WAIT).ignoreExceptions().untilAsserted(() -> assertThat(status("first").getPhase()).isEqualTo("Succeeded"));
    await("first's Workload finished").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      Map<String, Object> finished = KueueWorkloads.condition(workload(a), "Finished");
      assertThat(finished.get("status")).isEqualTo("True");
      assertThat(finished.get("reason")).isEqualTo("Succeeded");
    });
    await("second succeeded").atMost(WAIT).ignoreExceptions().untilAsserted(() -> assertThat(status("second").getPhase()).isEqualTo("Succeeded"));
    for (String job : List.of("first", "second")) {
      TrainingJobStatus s = status(job);
      assertThat(s.getCounts().getSucceeded()).as(job).isEqualTo(4);
      assertThat(s.getSucceededIndexes()).as(job).isEqualTo("0-3");
      assertThat(condition(s, "Admitted").getReason()).as(job).isEqualTo("QuotaReleased");
    }
    assertThat(events("second")).contains("QuotaPending", "QuotaAdmitted", "QuotaReleased");
  }

  /**
   * A job with a higher priority preempts a running one: the running job's workers stop (their tasks
   * go back to the queue), it gives its admission back, the other runs, and the preempted job is
   * admitted again and finishes, every task counted once.
   */
  @Test
  void aHigherPriorityJobPreemptsARunningOneWhichResumesAndLosesNothing() throws Exception {
    TrainingJob low = create("low", 8, 2, "sleep 2", null);
    await("low running").atMost(WAIT).ignoreExceptions().untilAsserted(() -> assertThat(status("low").getCounts().getSucceeded()).isPositive());
    TrainingJob high = create("high", 2, 2, "sleep 1", "urgent");
    await("low evicted").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      Map<String, Object> evicted = KueueWorkloads.condition(workload(low), "Evicted");
      assertThat(evicted.get("status")).isEqualTo("True");
      assertThat(evicted.get("reason")).isEqualTo("Preempted");
    });
    await("high succeeded").atMost(WAIT).ignoreExceptions().untilAsserted(() -> assertThat(status("high").getPhase()).isEqualTo("Succeeded"));
    assertThat(status("low").getCounts().getSucceeded()).as("low waited while high ran").isLessThan(8);
    await("low succeeded").atMost(WAIT).ignoreExceptions().untilAsserted(() -> assertThat(status("low").getPhase()).isEqualTo("Succeeded"));
    TrainingJobStatus s = status("low");
    assertThat(s.getCounts().getSucceeded()).isEqualTo(8);
    assertThat(s.getCounts().getDeadLettered()).isZero();
    assertThat(s.getSucceededIndexes()).isEqualTo("0-7");
    assertThat(events("low")).contains("QuotaEvicted", "QuotaAdmitted", "QuotaReleased");
    assertThat(broker.readyCount(new io.trainq.protocol.JobTopology(ns, "low", low.getMetadata().getUid()).taskQueue()))
        .as("nothing left behind").isZero();
  }

  /**
   * A draining job gives back the pods it no longer needs (status.reclaimablePods): a job waiting for
   * quota is admitted while the first still runs its last task.
   */
  @Test
  void aDrainingJobsFreedPodsAdmitTheNextJobBeforeItEnds() throws Exception {
    // task 0 runs long, the rest are short: one worker soon has nothing left and exits
    TrainingJob a = create("draining", 3, 2, "if [ \"$TRAINQ_TASK_INDEX\" = 0 ]; then sleep 30; fi", null);
    await("draining admitted").atMost(WAIT).ignoreExceptions().untilAsserted(() -> assertThat(pods(a)).hasSize(2));
    TrainingJob b = create("waiting", 1, 1, "true", null);
    await("waiting pending").atMost(WAIT).ignoreExceptions().untilAsserted(() ->
        assertThat(condition(status("waiting"), "Admitted").getReason()).isEqualTo("WaitingForQuota"));
    await("waiting admitted").atMost(WAIT).ignoreExceptions().untilAsserted(() ->
        assertThat(KueueWorkloads.isTrue(workload(b), "Admitted")).isTrue());
    long admitted = System.nanoTime();
    assertThat(status("draining").getPhase()).as("the first job still runs its long task").isEqualTo("Running");
    Map<String, Object> reclaimable = ((List<Map<String, Object>>) KueueWorkloads.status(workload(a)).get("reclaimablePods")).get(0);
    assertThat(reclaimable).containsEntry("name", "workers").containsEntry("count", 1);
    Long exited = kubelet.exited().stream().filter(p -> p.startsWith("draining")).map(kubelet::exitedAt).min(Long::compare).orElseThrow();
    System.out.printf("KueueIT: a worker of the draining job exited -> the waiting job admitted: %.2f s%n", (admitted - exited) / 1e9);
    await("waiting succeeded").atMost(WAIT).ignoreExceptions().untilAsserted(() -> assertThat(status("waiting").getPhase()).isEqualTo("Succeeded"));
    await("draining succeeded").atMost(WAIT).ignoreExceptions().untilAsserted(() -> assertThat(status("draining").getPhase()).isEqualTo("Succeeded"));
    assertThat(status("draining").getCounts().getSucceeded()).isEqualTo(3);
    assertThat(events("draining")).contains("QuotaReclaimable");
  }

  /**
   * spec.suspend with Kueue in the loop: the Workload is deactivated, so the job's workers stop and its
   * quota returns; resumed, it is admitted again and finishes, every task counted once.
   */
  @Test
  void suspendGivesTheQuotaBackAndResumeIsAdmittedAgain() throws Exception {
    TrainingJob tj = create("pausable", 6, 2, "sleep 2", null);
    await("running").atMost(WAIT).ignoreExceptions().untilAsserted(() -> assertThat(status("pausable").getCounts().getSucceeded()).isPositive());
    client.resources(TrainingJob.class).inNamespace(ns).withName("pausable")
        .patch(io.fabric8.kubernetes.client.dsl.base.PatchContext.of(io.fabric8.kubernetes.client.dsl.base.PatchType.JSON_MERGE),
            "{\"spec\":{\"suspend\":true}}");
    await("quota returned").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      GenericKubernetesResource wl = workload(tj);
      assertThat(KueueWorkloads.spec(wl).get("active")).isEqualTo(false);
      assertThat(KueueWorkloads.condition(wl, "QuotaReserved").get("status")).isEqualTo("False");
      assertThat(KueueWorkloads.status(wl).get("admission")).isNull();
      assertThat(pods(tj)).isEmpty();
      assertThat(status("pausable").getPhase()).isEqualTo("Suspended");
    });
    int before = status("pausable").getCounts().getSucceeded();
    assertThat(before).isLessThan(6);
    client.resources(TrainingJob.class).inNamespace(ns).withName("pausable")
        .patch(io.fabric8.kubernetes.client.dsl.base.PatchContext.of(io.fabric8.kubernetes.client.dsl.base.PatchType.JSON_MERGE),
            "{\"spec\":{\"suspend\":false}}");
    await("admitted again").atMost(WAIT).ignoreExceptions().untilAsserted(() -> assertThat(KueueWorkloads.isTrue(workload(tj), "Admitted")).isTrue());
    await("succeeded").atMost(WAIT).ignoreExceptions().untilAsserted(() -> assertThat(status("pausable").getPhase()).isEqualTo("Succeeded"));
    assertThat(status("pausable").getCounts().getSucceeded()).isEqualTo(6);
    assertThat(status("pausable").getSucceededIndexes()).isEqualTo("0-5");
  }

  TrainingJob create(String name, int tasks, int maxPods, String script, String priorityClass) {
    TrainingJobSpec spec = new TrainingJobSpec();
    spec.setImage("python:3.12-slim");
    spec.setCommand(List.of("sh", "-c", script));
    TaskSource t = new TaskSource();
    t.setCount(tasks);
    spec.setTasks(t);
    spec.setGpusPerTask(1);
    WorkerSpec w = new WorkerSpec();
    w.setMaxPods(maxPods);
    w.setGpusPerPod(1);
    w.setIdleTimeout("2s");
    // one delivery per worker: a task waits in the queue, not behind another worker's long task
    w.setEnv(List.of(new EnvVar("TRAINQ_LOOKAHEAD", "0", null)));
    spec.setWorkers(w);
    RetrySpec r = new RetrySpec();
    r.setMaxAttempts(3);
    BackoffSpec bo = new BackoffSpec();
    bo.setInitial("200ms");
    bo.setMax("400ms");
    r.setBackoff(bo);
    spec.setRetry(r);
    spec.setTaskTimeout("2m");
    Map<String, String> labels = new HashMap<>(Map.of(KueueWorkloads.QUEUE_LABEL, "team-queue"));
    if (priorityClass != null) {
      labels.put(KueueWorkloads.PRIORITY_CLASS_LABEL, priorityClass);
    }
    TrainingJob tj = new TrainingJob();
    tj.setMetadata(new ObjectMetaBuilder().withName(name).withNamespace(ns).withLabels(labels).build());
    tj.setSpec(spec);
    return client.resources(TrainingJob.class).inNamespace(ns).resource(tj).create();
  }

  GenericKubernetesResource workload(TrainingJob tj) {
    return client.genericKubernetesResources(KueueWorkloads.API_VERSION, KueueWorkloads.KIND).inNamespace(ns)
        .withName(KueueWorkloads.workloadName(tj)).get();
  }

  List<Pod> pods(TrainingJob tj) {
    return client.pods().inNamespace(ns).withLabel(Names.JOB_UID, tj.getMetadata().getUid()).list().getItems().stream()
        .filter(p -> p.getMetadata().getDeletionTimestamp() == null && WorkerPods.active(p)).toList();
  }

  TrainingJobStatus status(String name) {
    return client.resources(TrainingJob.class).inNamespace(ns).withName(name).get().getStatus();
  }

  static io.fabric8.kubernetes.api.model.Condition condition(TrainingJobStatus s, String type) {
    return s.getConditions().stream().filter(c -> type.equals(c.getType())).findFirst().orElseThrow();
  }

  List<String> events(String job) {
    List<String> reasons = new ArrayList<>();
    for (Event e : client.v1().events().inNamespace(ns).list().getItems()) {
      if (job.equals(e.getInvolvedObject().getName())) {
        reasons.add(e.getReason());
      }
    }
    return reasons;
  }

  static GenericKubernetesResource generic(String kind, String namespace, String name, Map<String, Object> body) {
    GenericKubernetesResource r = new GenericKubernetesResource();
    r.setApiVersion(KueueWorkloads.API_VERSION);
    r.setKind(kind);
    r.setMetadata(new ObjectMetaBuilder().withName(name).withNamespace(namespace).build());
    body.forEach(r::setAdditionalProperty);
    return r;
  }
}
