package io.trainq.operator.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

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
import io.trainq.operator.OperatorHarness;
import io.trainq.operator.WorkerProcesses;
import io.trainq.testkit.RabbitBroker;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * TrainingJobs run by real worker processes: the operator creates the worker pods on the API
 * server, and since no kubelet runs them here, the test starts each pod's worker (the jlink'd
 * distribution) locally with the pod's own command and resolved environment. The jobs reach their
 * final phase with exact counts.
 */
@Tag("broker")
class RealWorkersIT {
  static KubeTestServer kube;
  static KubernetesClient client;
  static RabbitBroker broker;
  static String ns;
  static TrainqOperator operator;
  static String eventsQueue;
  static final List<Process> workers = new ArrayList<>();
  static final List<Path> logs = new ArrayList<>();

  @BeforeAll
  static void start() throws Exception {
    WorkerProcesses.distribution();
    kube = KubeTestServer.get();
    client = kube.client();
    broker = RabbitBroker.single();
    ns = kube.newNamespace("real-workers");
    // the default connection Secret worker pods read, as an admin copies it into a team's namespace
    client.secrets().inNamespace(ns).resource(new SecretBuilder().withNewMetadata().withName("trainq-rabbitmq-default-user").endMetadata()
        .withStringData(Map.of("username", RabbitBroker.USERNAME, "password", RabbitBroker.PASSWORD,
            "host", "127.0.0.1", "port", Integer.toString(broker.amqpPort(0)))).build()).create();
    eventsQueue = RabbitBroker.uniqueName("trainq.operator.events");
    operator = OperatorHarness.start(OperatorHarness.config(broker, Set.of(ns), eventsQueue), client);
  }

  @AfterAll
  static void stop() throws Exception {
    for (Process p : workers) {
      if (p.isAlive()) {
        p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    }
    for (Path log : logs) {
      List<String> lines = Files.readAllLines(log);
      System.out.println("--- " + log + " (last 15 lines)");
      lines.subList(Math.max(0, lines.size() - 15), lines.size()).forEach(System.out::println);
    }
    if (operator != null) {
      operator.close();
    }
    broker.deleteQueue(eventsQueue);
  }

  static TrainingJob create(String name, int count, String script) {
    TrainingJobSpec spec = new TrainingJobSpec();
    spec.setImage("python:3.12-slim");
    spec.setCommand(List.of("sh", "-c", script));
    TaskSource tasks = new TaskSource();
    tasks.setCount(count);
    spec.setTasks(tasks);
    spec.setGpusPerTask(1);
    WorkerSpec w = new WorkerSpec();
    w.setMaxPods(2);
    w.setGpusPerPod(2);
    w.setIdleTimeout("3s");
    spec.setWorkers(w);
    RetrySpec r = new RetrySpec();
    r.setMaxAttempts(2);
    BackoffSpec b = new BackoffSpec();
    b.setInitial("200ms");
    b.setMax("400ms");
    r.setBackoff(b);
    spec.setRetry(r);
    spec.setTaskTimeout("1m");
    TrainingJob tj = new TrainingJob();
    tj.setMetadata(new ObjectMetaBuilder().withName(name).withNamespace(ns).build());
    tj.setSpec(spec);
    return client.resources(TrainingJob.class).inNamespace(ns).resource(tj).create();
  }

  /** Starts a local worker for each of the job's pods, once the operator made them. */
  static List<Process> runPods(TrainingJob tj, int expected) throws Exception {
    await("worker pods").atMost(Duration.ofSeconds(60)).until(() -> pods(tj).size() == expected);
    List<Process> started = new ArrayList<>();
    for (Pod pod : pods(tj)) {
      Path log = Files.createTempFile("worker-" + pod.getMetadata().getName(), ".log");
      logs.add(log);
      Process p = WorkerProcesses.start(client, pod, Map.of("TRAINQ_HTTP_PORT", "0"), log);
      workers.add(p);
      started.add(p);
    }
    return started;
  }

  static List<Pod> pods(TrainingJob tj) {
    return client.pods().inNamespace(ns).withLabel(Names.JOB_UID, tj.getMetadata().getUid()).list().getItems().stream()
        .filter(p -> p.getMetadata().getDeletionTimestamp() == null).toList();
  }

  static TrainingJobStatus status(String name) {
    return client.resources(TrainingJob.class).inNamespace(ns).withName(name).get().getStatus();
  }

  @Test
  void aJobSucceedsWithExactCountsWhileRealWorkersConsume() throws Exception {
    // task 7 fails its first attempt and is retried; every other task succeeds at once
    TrainingJob tj = create("sweep", 40,
        "echo \"task $TRAINQ_TASK_INDEX attempt $TRAINQ_TASK_ATTEMPT on GPU $CUDA_VISIBLE_DEVICES\"; sleep 0.2; "
            + "if [ \"$TRAINQ_TASK_INDEX\" = 7 ] && [ \"$TRAINQ_TASK_ATTEMPT\" = 1 ]; then echo 'loss is NaN' >&2; exit 1; fi");
    List<Process> procs = runPods(tj, 2);
    await("succeeded").atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofMillis(500)).ignoreExceptions().untilAsserted(() -> {
      TrainingJobStatus s = status("sweep");
      assertThat(s.getPhase()).isEqualTo("Succeeded");
    });
    TrainingJobStatus s = status("sweep");
    assertThat(s.getCounts().getTotal()).isEqualTo(40);
    assertThat(s.getCounts().getSucceeded()).isEqualTo(40);
    assertThat(s.getCounts().getDeadLettered()).isZero();
    assertThat(s.getCounts().getRetried()).as("task 7's one retry").isEqualTo(1);
    assertThat(s.getCounts().getRunning()).isZero();
    assertThat(s.getSucceededIndexes()).isEqualTo("0-39");
    assertThat(s.getRetryingIndexes()).isNull();
    assertThat(s.getBusyGpuSeconds()).as("41 attempts of about 0.2 s on one GPU each").isBetween(8.0, 60.0);
    for (Process p : procs) {
      assertThat(p.waitFor(30, TimeUnit.SECONDS)).as("an idle worker exits").isTrue();
      assertThat(p.exitValue()).isZero();
    }
  }

  @Test
  void aTaskThatKeepsFailingIsDeadLetteredWithItsError() throws Exception {
    TrainingJob tj = create("broken", 6,
        "if [ \"$TRAINQ_TASK_INDEX\" = 3 ]; then echo \"CUDA error: out of memory (attempt $TRAINQ_TASK_ATTEMPT)\" >&2; exit 3; fi");
    runPods(tj, 2);
    await("failed").atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofMillis(500)).ignoreExceptions().untilAsserted(() -> {
      TrainingJobStatus s = status("broken");
      assertThat(s.getPhase()).isEqualTo("Failed");
    });
    TrainingJobStatus s = status("broken");
    assertThat(s.getCounts().getSucceeded()).isEqualTo(5);
    assertThat(s.getCounts().getDeadLettered()).isEqualTo(1);
    assertThat(s.getCounts().getRetried()).isEqualTo(1);
    assertThat(s.getFailedIndexes()).isEqualTo("3");
    assertThat(s.getDeadLetters()).singleElement().satisfies(d -> {
      assertThat(d.getIndex()).isEqualTo(3);
      assertThat(d.getAttempts()).isEqualTo(2);
      assertThat(d.getReason()).isEqualTo("failed");
      assertThat(d.getExitCode()).isEqualTo(3);
      assertThat(d.getLastError()).contains("CUDA error: out of memory (attempt 2)");
    });
  }
}
