package io.trainq.operator.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.rabbitmq.client.Connection;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.trainq.api.RetrySpec;
import io.trainq.api.TaskSource;
import io.trainq.api.TrainingJob;
import io.trainq.api.TrainingJobSpec;
import io.trainq.api.TrainingJobStatus;
import io.trainq.api.WorkerSpec;
import io.trainq.operator.FakeWorker;
import io.trainq.operator.KubeTestServer;
import io.trainq.operator.OperatorHarness;
import io.trainq.engine.TopologyDeclarer;
import io.trainq.protocol.JobTopology;
import io.trainq.testkit.RabbitBroker;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/**
 * The reconciler on a real kube-apiserver and a real RabbitMQ: queues, publishing, worker pods,
 * status from events, suspend, deletion, re-queue, TTLs. There is no kubelet, so worker pods are
 * created but never run; {@link FakeWorker} consumes the tasks by the protocol's rules instead.
 */
@Tag("broker")
class TrainingJobReconcilerIT {
  static final Duration WAIT = Duration.ofSeconds(60);
  static KubeTestServer kube;
  static KubernetesClient client;
  static RabbitBroker broker;
  static Connection amqp;
  static String ns;
  static TrainqOperator operator;
  static String eventsQueue;
  String current;

  @BeforeAll
  static void start() throws Exception {
    kube = KubeTestServer.get();
    client = kube.client();
    broker = RabbitBroker.single();
    amqp = broker.newConnection("TrainingJobReconcilerIT");
    ns = kube.newNamespace("reconciler");
    eventsQueue = RabbitBroker.uniqueName("trainq.operator.events");
    operator = OperatorHarness.start(OperatorHarness.config(broker, Set.of(ns), eventsQueue), client);
  }

  @AfterAll
  static void stop() throws Exception {
    if (operator != null) {
      operator.close();
    }
    broker.deleteQueue(eventsQueue);
    amqp.close();
  }

  @AfterEach
  void dump(TestInfo info) {
    if (current == null) {
      return;
    }
    TrainingJob tj = jobs().withName(current).get();
    if (tj != null && tj.getStatus() != null) {
      System.out.println("--- " + info.getDisplayName() + ": status of " + current + ": phase " + tj.getStatus().getPhase()
          + ", progress " + tj.getStatus().getProgress() + ", conditions " + tj.getStatus().getConditions().stream()
          .map(c -> c.getType() + "=" + c.getStatus() + "(" + c.getReason() + ")").collect(Collectors.joining(", ")));
    }
  }

  static io.fabric8.kubernetes.client.dsl.NonNamespaceOperation<TrainingJob, io.fabric8.kubernetes.api.model.KubernetesResourceList<TrainingJob>,
      io.fabric8.kubernetes.client.dsl.Resource<TrainingJob>> jobs() {
    return client.resources(TrainingJob.class).inNamespace(ns);
  }

  TrainingJob create(String name, Consumer<TrainingJobSpec> customize) {
    current = name;
    TrainingJobSpec spec = new TrainingJobSpec();
    spec.setImage("python:3.12-slim");
    spec.setCommand(List.of("python3", "train.py", "--epochs", "1"));
    TaskSource tasks = new TaskSource();
    tasks.setCount(20);
    spec.setTasks(tasks);
    customize.accept(spec);
    TrainingJob tj = new TrainingJob();
    tj.setMetadata(new ObjectMetaBuilder().withName(name).withNamespace(ns).build());
    tj.setSpec(spec);
    return jobs().resource(tj).create();
  }

  /** A JSON merge patch: no resourceVersion, so no conflict with the operator's status writes. */
  static void mergePatch(String name, String json) {
    jobs().withName(name).patch(io.fabric8.kubernetes.client.dsl.base.PatchContext.of(io.fabric8.kubernetes.client.dsl.base.PatchType.JSON_MERGE), json);
  }

  static TrainingJobStatus status(String name) {
    TrainingJob tj = jobs().withName(name).get();
    return tj == null ? null : tj.getStatus();
  }

  static Condition condition(TrainingJobStatus s, String type) {
    return s.getConditions().stream().filter(c -> c.getType().equals(type)).findFirst().orElseThrow();
  }

  static List<Pod> pods(TrainingJob tj) {
    return client.pods().inNamespace(ns).withLabel(Names.JOB_UID, tj.getMetadata().getUid()).list().getItems().stream()
        .filter(p -> p.getMetadata().getDeletionTimestamp() == null).toList();
  }

  static JobTopology topology(TrainingJob tj) {
    return new JobTopology(ns, tj.getMetadata().getName(), tj.getMetadata().getUid());
  }

  @Test
  void runsAJobToSucceededWithExactCountsWorkerPodsAndConditions() throws Exception {
    TrainingJob tj = create("happy", s -> {
      s.setGpusPerTask(1);
      WorkerSpec w = new WorkerSpec();
      w.setMaxPods(3);
      w.setGpusPerPod(2);
      w.setNodeSelector(Map.of("nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3"));
      w.setEnv(List.of(new EnvVar("DUMMY_SECONDS", "2", null)));
      s.setWorkers(w);
    });
    JobTopology job = topology(tj);
    await("published").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      TrainingJobStatus s = status("happy");
      assertThat(s).isNotNull();
      assertThat(s.getCounts().getPublished()).isEqualTo(20);
      assertThat(s.getPhase()).isEqualTo("Running");
      assertThat(condition(s, "Ready").getStatus()).isEqualTo("True");
      assertThat(s.getQueue()).isEqualTo(job.taskQueue());
      assertThat(s.getPublishCursor()).isEqualTo(20);
      assertThat(s.getObservedGeneration()).isEqualTo(1);
    });
    assertThat(broker.readyCount(job.taskQueue())).isEqualTo(20);
    TrainingJob withFinalizer = jobs().withName("happy").get();
    assertThat(withFinalizer.getMetadata().getFinalizers()).contains(Names.FINALIZER);

    // three pods of 2 GPUs: 6 slots for 20 tasks, capped by maxPods
    await("worker pods").atMost(WAIT).ignoreExceptions().untilAsserted(() -> assertThat(pods(tj)).hasSize(3));
    Pod pod = pods(tj).get(0);
    assertThat(pod.getSpec().getRestartPolicy()).isEqualTo("OnFailure");
    assertThat(pod.getSpec().getNodeSelector()).containsEntry("nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3");
    assertThat(pod.getMetadata().getOwnerReferences()).singleElement()
        .satisfies(o -> assertThat(o.getUid()).isEqualTo(tj.getMetadata().getUid()));
    Container init = pod.getSpec().getInitContainers().get(0);
    assertThat(init.getImage()).isEqualTo("ghcr.io/trainq/trainq-worker:test");
    assertThat(init.getArgs()).containsExactly("/trainq/");
    Container main = pod.getSpec().getContainers().get(0);
    assertThat(main.getImage()).isEqualTo("python:3.12-slim");
    // the copied runtime's java, no shell: the training image may have none
    assertThat(main.getCommand()).startsWith("/trainq/runtime/bin/java").contains("-cp", "/trainq/lib/trainq-worker.jar")
        .endsWith("io.trainq.worker.WorkerMain", "--", "python3", "train.py", "--epochs", "1");
    assertThat(main.getResources().getLimits()).containsEntry("nvidia.com/gpu", new Quantity("2"));
    Map<String, EnvVar> env = main.getEnv().stream().collect(Collectors.toMap(EnvVar::getName, e -> e, (a, b) -> b));
    assertThat(env.get("TRAINQ_JOB_UID").getValue()).isEqualTo(tj.getMetadata().getUid());
    assertThat(env.get("TRAINQ_GPUS").getValue()).isEqualTo("0,1");
    assertThat(env.get("TRAINQ_GPUS_PER_TASK").getValue()).isEqualTo("1");
    assertThat(env.get("TRAINQ_RABBITMQ_PASSWORD").getValueFrom().getSecretKeyRef().getName()).isEqualTo("trainq-rabbitmq-default-user");
    assertThat(env.get("TRAINQ_WORKER_NAME").getValueFrom().getFieldRef().getFieldPath()).isEqualTo("metadata.name");
    assertThat(env.get("DUMMY_SECONDS").getValue()).isEqualTo("2");
    assertThat(pod.getSpec().getTerminationGracePeriodSeconds()).isEqualTo(3600L);

    try (FakeWorker w1 = new FakeWorker(amqp, job, pods(tj).get(0).getMetadata().getName());
        FakeWorker w2 = new FakeWorker(amqp, job, pods(tj).get(1).getMetadata().getName())) {
      w1.drain(7, i -> false);
      await("partial progress").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
        TrainingJobStatus s = status("happy");
        assertThat(s.getCounts().getSucceeded()).isEqualTo(7);
        assertThat(s.getProgress()).isEqualTo("7/20");
        assertThat(s.getSucceededIndexes()).isEqualTo("0-6");
      });
      w2.drain(100, i -> false);
    }
    await("succeeded").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      TrainingJobStatus s = status("happy");
      assertThat(s.getPhase()).isEqualTo("Succeeded");
      assertThat(s.getCounts().getSucceeded()).isEqualTo(20);
      assertThat(s.getCounts().getDeadLettered()).isZero();
      assertThat(s.getCounts().getRunning()).isZero();
      assertThat(s.getSucceededIndexes()).isEqualTo("0-19");
      assertThat(s.getFailedIndexes()).isEmpty();
      assertThat(s.getBusyGpuSeconds()).isEqualTo(20.0);
      assertThat(s.getCompletionTime()).isNotNull();
      assertThat(condition(s, "Complete").getStatus()).isEqualTo("True");
      assertThat(condition(s, "Failed").getStatus()).isEqualTo("False");
      assertThat(s.getWorkers()).isEqualTo("0/0");
    });
    await("no workers once done").atMost(WAIT).ignoreExceptions().untilAsserted(() -> assertThat(pods(tj)).isEmpty());
    List<String> reasons = client.v1().events().inNamespace(ns).list().getItems().stream()
        .filter(e -> tj.getMetadata().getUid().equals(e.getInvolvedObject().getUid())).map(e -> e.getReason()).toList();
    assertThat(reasons).contains("QueuesDeclared", "PublishingStarted", "TasksPublished", "WorkerCreated", "Completed");

    String metrics = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + operator.httpPort() + "/metrics")).build(),
        HttpResponse.BodyHandlers.ofString()).body();
    assertThat(metrics).contains("trainq_job_tasks{job_name=\"happy\",namespace=\"" + ns + "\",state=\"succeeded\"} 20.0\n")
        .contains("trainq_task_events_total{job_name=\"happy\",namespace=\"" + ns + "\",outcome=\"succeeded\"} 20.0\n")
        .contains("operator_sdk_")
        .contains("# TYPE trainq_reconciliations_total counter");
  }

  @Test
  void deadLettersFailTheJobAndTheRequeueAnnotationRunsThemAgain() throws Exception {
    TrainingJob tj = create("requeue", s -> s.getTasks().setCount(5));
    JobTopology job = topology(tj);
    await().atMost(WAIT).ignoreExceptions().until(() -> status("requeue") != null && status("requeue").getCounts().getPublished() == 5);
    try (FakeWorker w = new FakeWorker(amqp, job, "w")) {
      w.drain(100, i -> i == 1 || i == 3);
    }
    await("failed").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      TrainingJobStatus s = status("requeue");
      assertThat(s.getPhase()).isEqualTo("Failed");
      assertThat(s.getCounts().getSucceeded()).isEqualTo(3);
      assertThat(s.getCounts().getDeadLettered()).as("dead letter and DEAD_LETTERED event count once").isEqualTo(2);
      assertThat(s.getFailedIndexes()).isEqualTo("1,3");
      assertThat(s.getDeadLetters()).extracting(d -> d.getIndex()).containsExactly(1, 3);
      assertThat(s.getDeadLetters().get(0).getReason()).isEqualTo("failed");
      assertThat(s.getDeadLetters().get(0).getExitCode()).isEqualTo(3);
      assertThat(s.getDeadLetters().get(0).getLastError()).isEqualTo("ValueError: bad lr");
      assertThat(condition(s, "Failed").getReason()).isEqualTo("TasksDeadLettered");
    });
    assertThat(broker.readyCount(job.deadLetterQueue())).isEqualTo(2);

    mergePatch("requeue", "{\"metadata\":{\"annotations\":{\"" + TrainingJob.REQUEUE_DEAD_LETTERS_ANNOTATION + "\":\"fixed the lr\"}}}");
    await("re-queued").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      TrainingJob j = jobs().withName("requeue").get();
      assertThat(j.getMetadata().getAnnotations()).doesNotContainKey(TrainingJob.REQUEUE_DEAD_LETTERS_ANNOTATION);
      assertThat(j.getStatus().getPhase()).isEqualTo("Running");
      assertThat(j.getStatus().getFailedIndexes()).isEmpty();
      assertThat(j.getStatus().getProgress()).isEqualTo("3/5");
    });
    assertThat(broker.readyCount(job.deadLetterQueue())).isZero();
    assertThat(broker.readyCount(job.taskQueue())).isEqualTo(2);
    try (FakeWorker w = new FakeWorker(amqp, job, "w")) {
      assertThat(w.drain(100, i -> false)).isEqualTo(2);
    }
    await("succeeded after the fix").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      TrainingJobStatus s = status("requeue");
      assertThat(s.getPhase()).isEqualTo("Succeeded");
      assertThat(s.getSucceededIndexes()).isEqualTo("0-4");
    });
  }

  /** No Kueue on this API server: a job labelled for a Kueue queue runs exactly as any other. */
  @Test
  void withoutKueueTheQueueLabelIsIgnored() throws Exception {
    current = "kueue-label";
    TrainingJobSpec spec = new TrainingJobSpec();
    spec.setImage("python:3.12-slim");
    spec.setCommand(List.of("python3", "train.py"));
    TaskSource tasks = new TaskSource();
    tasks.setCount(4);
    spec.setTasks(tasks);
    WorkerSpec w = new WorkerSpec();
    w.setMaxPods(2);
    spec.setWorkers(w);
    TrainingJob tj = new TrainingJob();
    tj.setMetadata(new ObjectMetaBuilder().withName("kueue-label").withNamespace(ns)
        .withLabels(Map.of("kueue.x-k8s.io/queue-name", "team-queue")).build());
    tj.setSpec(spec);
    TrainingJob created = jobs().resource(tj).create();
    await("pods").atMost(WAIT).ignoreExceptions().untilAsserted(() -> assertThat(pods(created)).hasSize(2));
    await("status").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      TrainingJobStatus s = status("kueue-label");
      assertThat(s.getCounts().getPublished()).isEqualTo(4);
      assertThat(s.getConditions()).extracting(c -> c.getType()).doesNotContain("Admitted");
    });
    jobs().withName("kueue-label").delete();
    await("deleted").atMost(WAIT).ignoreExceptions().until(() -> jobs().withName("kueue-label").get() == null);
    current = null;
  }

  @Test
  void suspendReleasesTheWorkersAndResumeBringsThemBack() throws Exception {
    TrainingJob tj = create("suspend", s -> {
      WorkerSpec w = new WorkerSpec();
      w.setMaxPods(2);
      s.setWorkers(w);
    });
    await("pods").atMost(WAIT).ignoreExceptions().untilAsserted(() -> assertThat(pods(tj)).hasSize(2));
    mergePatch("suspend", "{\"spec\":{\"suspend\":true}}");
    await("suspended").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      TrainingJobStatus s = status("suspend");
      assertThat(s.getPhase()).isEqualTo("Suspended");
      assertThat(s.getObservedGeneration()).isEqualTo(2);
      assertThat(condition(s, "Suspended").getStatus()).isEqualTo("True");
      assertThat(condition(s, "Suspended").getObservedGeneration()).isEqualTo(2);
      assertThat(pods(tj)).isEmpty();
    });
    String suspendedSince = condition(status("suspend"), "Suspended").getLastTransitionTime();
    mergePatch("suspend", "{\"spec\":{\"suspend\":false}}");
    await("resumed").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      TrainingJobStatus s = status("suspend");
      assertThat(s.getPhase()).isEqualTo("Running");
      assertThat(s.getObservedGeneration()).isEqualTo(3);
      assertThat(condition(s, "Suspended").getStatus()).isEqualTo("False");
      assertThat(pods(tj)).hasSize(2);
    });
    assertThat(condition(status("suspend"), "Suspended").getLastTransitionTime()).isNotEqualTo(suspendedSince);
    // a spec change that flips no condition keeps the transition times
    String readySince = condition(status("suspend"), "Ready").getLastTransitionTime();
    mergePatch("suspend", "{\"spec\":{\"workers\":{\"maxPods\":3}}}");
    await("observedGeneration follows").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      TrainingJobStatus s = status("suspend");
      assertThat(s.getObservedGeneration()).isEqualTo(4);
      assertThat(condition(s, "Ready").getObservedGeneration()).isEqualTo(4);
      assertThat(pods(tj)).hasSize(3);
    });
    assertThat(condition(status("suspend"), "Ready").getLastTransitionTime()).isEqualTo(readySince);
  }

  @Test
  void deletingAJobDeletesItsPodsAndQueues() throws Exception {
    TrainingJob tj = create("delete", s -> {
      RetrySpec r = new RetrySpec();
      r.setMaxAttempts(3);
      s.setRetry(r);
    });
    JobTopology job = topology(tj);
    await().atMost(WAIT).ignoreExceptions().until(() -> status("delete") != null && status("delete").getCounts().getPublished() == 20);
    await().atMost(WAIT).ignoreExceptions().until(() -> !pods(tj).isEmpty());
    TopologyDeclarer d = new TopologyDeclarer(amqp);
    assertThat(d.inspect(job.taskQueue())).isPresent();
    assertThat(d.inspect(job.deadLetterQueue())).isPresent();
    jobs().withName("delete").delete();
    await("gone").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      assertThat(jobs().withName("delete").get()).isNull();
      assertThat(pods(tj)).isEmpty();
    });
    assertThat(d.inspect(job.taskQueue())).isEmpty();
    assertThat(d.inspect(job.deadLetterQueue())).isEmpty();
    assertThat(d.inspect(job.retryQueue(Duration.ofSeconds(10)))).isEmpty();
    current = null;
  }

  @Test
  void aSpecTheOperatorCannotRunFailsWithTheFieldNamed() {
    create("too-big", s -> {
      TaskSource t = new TaskSource();
      LinkedHashMap<String, List<JsonNode>> grid = new LinkedHashMap<>();
      List<JsonNode> values = new ArrayList<>();
      for (int i = 0; i < 1001; i++) {
        values.add(JsonNodeFactory.instance.numberNode(i));
      }
      grid.put("a", values);
      grid.put("b", values);
      t.setGrid(grid);
      s.setTasks(t);
    });
    await("failed").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      TrainingJobStatus s = status("too-big");
      assertThat(s.getPhase()).isEqualTo("Failed");
      assertThat(condition(s, "Failed").getReason()).isEqualTo("InvalidSpec");
      assertThat(s.getMessage()).startsWith("spec.tasks.grid has more than 1000000");
    });
    assertThat(pods(jobs().withName("too-big").get())).isEmpty();
  }

  @Test
  void tasksNotStartedWithinTheirTtlAreDeadLetteredAsExpired() {
    create("ttl", s -> {
      s.getTasks().setCount(3);
      s.setTaskTTL("1s");
      s.setSuspend(false);
    });
    await("expired").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      TrainingJobStatus s = status("ttl");
      assertThat(s.getCounts().getDeadLettered()).isEqualTo(3);
      assertThat(s.getFailedIndexes()).isEqualTo("0-2");
      assertThat(s.getDeadLetters()).allSatisfy(d -> assertThat(d.getReason()).isEqualTo("expired"));
      assertThat(s.getPhase()).isEqualTo("Failed");
    });
  }

  @Test
  void aFinishedJobIsDeletedAfterItsTtl() throws Exception {
    TrainingJob tj = create("short-lived", s -> {
      s.getTasks().setCount(2);
      s.setTtlSecondsAfterFinished(2);
    });
    await().atMost(WAIT).ignoreExceptions().until(() -> status("short-lived") != null && status("short-lived").getCounts().getPublished() == 2);
    try (FakeWorker w = new FakeWorker(amqp, topology(tj), "w")) {
      w.drain(10, i -> false);
    }
    await("succeeded").atMost(WAIT).ignoreExceptions().until(() -> status("short-lived") != null && "Succeeded".equals(status("short-lived").getPhase()));
    long finished = System.nanoTime();
    await("deleted after the TTL").atMost(WAIT).ignoreExceptions().until(() -> jobs().withName("short-lived").get() == null);
    assertThat(Duration.ofNanos(System.nanoTime() - finished)).isGreaterThanOrEqualTo(Duration.ofMillis(1500));
    assertThat(new TopologyDeclarer(amqp).inspect(topology(tj).taskQueue())).isEmpty();
    current = null;
  }

  static void podPhase(String name, String phase, String reason, boolean ready) {
    client.pods().inNamespace(ns).withName(name).editStatus(p -> {
      p.getStatus().setPhase(phase);
      p.getStatus().setReason(reason);
      p.getStatus().setConditions(List.of(new io.fabric8.kubernetes.api.model.PodConditionBuilder()
          .withType("Ready").withStatus(ready ? "True" : "False").build()));
      return p;
    });
  }

  @Test
  void podsFollowTheWorkAreReplacedWhenLostAndNeverScaledDownWhileBusy() throws Exception {
    TrainingJob tj = create("capacity", s -> {
      WorkerSpec w = new WorkerSpec();
      w.setMaxPods(3);
      s.setWorkers(w);
    });
    await("three pods").atMost(WAIT).ignoreExceptions().untilAsserted(() -> assertThat(pods(tj)).hasSize(3));
    List<String> first = pods(tj).stream().map(p -> p.getMetadata().getName()).toList();

    // a node is lost: its pod fails; the operator removes it and brings a replacement
    podPhase(first.get(0), "Failed", "NodeLost", false);
    await("replaced").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      List<String> names = pods(tj).stream().map(p -> p.getMetadata().getName()).toList();
      assertThat(names).hasSize(3).doesNotContain(first.get(0)).contains(first.get(1), first.get(2));
    });
    // a pod deleted from under the job is replaced as well
    client.pods().inNamespace(ns).withName(first.get(1)).delete();
    await("replaced after deletion").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      List<String> names = pods(tj).stream().map(p -> p.getMetadata().getName()).toList();
      assertThat(names).hasSize(3).doesNotContain(first.get(0), first.get(1));
    });
    assertThat(client.v1().events().inNamespace(ns).list().getItems())
        .filteredOn(e -> tj.getMetadata().getUid().equals(e.getInvolvedObject().getUid()))
        .anySatisfy(e -> {
          assertThat(e.getReason()).isEqualTo("WorkerLost");
          assertThat(e.getMessage()).contains(first.get(0)).contains("NodeLost");
        });

    // a running, ready worker: counted ready, and its GPUs accrue allocated GPU-seconds
    podPhase(first.get(2), "Running", null, true);
    await("ready and allocated").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      TrainingJobStatus s = status("capacity");
      assertThat(s.getWorkersReady()).isEqualTo(1);
      assertThat(s.getWorkers()).isEqualTo("1/3");
      assertThat(s.getAllocatedGpuSeconds()).isGreaterThan(0.0);
      assertThat(s.getGpuUtilization()).isEqualTo("0%");
    });

    // fewer pods wanted: busy pods are not deleted, workers leave by themselves when idle
    mergePatch("capacity", "{\"spec\":{\"workers\":{\"maxPods\":1}}}");
    await("desired follows the spec").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      TrainingJobStatus s = status("capacity");
      assertThat(s.getObservedGeneration()).isEqualTo(2);
      assertThat(s.getWorkersDesired()).isEqualTo(1);
    });
    assertThat(pods(tj)).hasSize(3);
    // a worker that ran out of work exits 0: its completed pod is removed and not replaced
    String idle = pods(tj).stream().map(p -> p.getMetadata().getName()).filter(n -> !n.equals(first.get(2))).findFirst().orElseThrow();
    podPhase(idle, "Succeeded", null, false);
    await("completed pod removed").atMost(WAIT).ignoreExceptions().untilAsserted(() ->
        assertThat(pods(tj)).hasSize(2).extracting(p -> p.getMetadata().getName()).doesNotContain(idle));
    Thread.sleep(3000);
    assertThat(pods(tj)).as("not replaced: one pod is wanted, two are there").hasSize(2);
  }
}
