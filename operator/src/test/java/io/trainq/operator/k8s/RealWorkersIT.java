package io.trainq.operator.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.GetResponse;
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
import io.trainq.protocol.JobTopology;
import io.trainq.testkit.RabbitBroker;
import java.nio.charset.StandardCharsets;
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
 * final phase with exact counts. The workers connect as each job's own broker user: what they do
 * (consume, retry through trainq.retry, publish events and dead letters) needs nothing more,
 * and those credentials reach no other job's queue.
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
    // each job's workers connect as a broker user of the job's own, limited to its queues
    operator = OperatorHarness.start(OperatorHarness.config(broker, Set.of(ns), eventsQueue)
        .withBrokerUsers(true, "http://127.0.0.1:" + broker.managementPort(0)), client);
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

  /**
   * What a task can do with the credentials it can read from its worker's environment: its own job's
   * queues and events only. Another job's queue, another job's events, declaring anything: refused.
   * The user goes with the job.
   */
  @Test
  void theWorkersBrokerUserReachesItsOwnJobOnly() throws Exception {
    TrainingJob mine = create("mine", 4, "sleep 30");
    TrainingJob other = create("other", 4, "sleep 30");
    await("both jobs' users").atMost(Duration.ofSeconds(60)).ignoreExceptions().untilAsserted(() -> {
      assertThat(pods(mine)).isNotEmpty();
      assertThat(pods(other)).isNotEmpty();
    });
    Pod pod = pods(mine).get(0);
    String secretName = Names.brokerUserSecret(mine);
    assertThat(pod.getSpec().getContainers().get(0).getEnv()).filteredOn(e -> e.getName().equals("TRAINQ_RABBITMQ_PASSWORD"))
        .singleElement().satisfies(e -> assertThat(e.getValueFrom().getSecretKeyRef().getName()).isEqualTo(secretName));
    var secret = client.secrets().inNamespace(ns).withName(secretName).get();
    assertThat(secret.getMetadata().getOwnerReferences()).singleElement()
        .satisfies(o -> assertThat(o.getUid()).isEqualTo(mine.getMetadata().getUid()));
    String user = decode(secret.getData().get("username"));
    String password = decode(secret.getData().get("password"));
    assertThat(password).hasSizeGreaterThanOrEqualTo(40);
    JobTopology mineQ = new JobTopology(ns, "mine", mine.getMetadata().getUid());
    JobTopology otherQ = new JobTopology(ns, "other", other.getMetadata().getUid());

    ConnectionFactory f = broker.newConnectionFactory();
    f.setUsername(user);
    f.setPassword(password);
    f.setAutomaticRecoveryEnabled(false);
    try (Connection c = f.newConnection("real-workers-it-task")) {
      try (Channel ch = c.createChannel()) {
        assertThat(ch.queueDeclarePassive(mineQ.taskQueue()).getMessageCount()).isEqualTo(4);
        GetResponse got = ch.basicGet(mineQ.taskQueue(), false);
        assertThat(got).isNotNull();
        ch.basicNack(got.getEnvelope().getDeliveryTag(), false, true);
        ch.confirmSelect();
        ch.basicPublish(JobTopology.EVENTS_EXCHANGE, mineQ.key(), null, "{}".getBytes(StandardCharsets.UTF_8));
        ch.waitForConfirmsOrDie(10_000);
      }
      assertRefused(c, ch -> ch.basicGet(otherQ.taskQueue(), false), "read another job's task queue");
      assertRefused(c, ch -> ch.basicConsume(otherQ.deadLetterQueue(), true, (t, d) -> { }, t -> { }), "consume another job's dead letters");
      assertRefused(c, ch -> ch.queuePurge(otherQ.taskQueue()), "purge another job's queue");
      assertRefused(c, ch -> ch.queueDelete(mineQ.taskQueue()), "delete its own queue");
      assertRefused(c, ch -> ch.queueDeclare("tq.evil", true, false, false, null), "declare a queue");
      assertRefused(c, ch -> ch.exchangeDeclare("evil", "fanout"), "declare an exchange");
      assertRefused(c, ch -> {
        ch.confirmSelect();
        ch.basicPublish(JobTopology.EVENTS_EXCHANGE, otherQ.key(), null, "{}".getBytes(StandardCharsets.UTF_8));
        ch.waitForConfirmsOrDie(10_000);
      }, "publish another job's events");
      // the default exchange reaches any queue by name, so it is closed to the job's user altogether
      assertRefused(c, ch -> {
        ch.confirmSelect();
        ch.basicPublish("", otherQ.taskQueue(), null, "{}".getBytes(StandardCharsets.UTF_8));
        ch.waitForConfirmsOrDie(10_000);
      }, "put a message into another job's task queue through the default exchange");
      assertRefused(c, ch -> {
        ch.confirmSelect();
        ch.basicPublish(JobTopology.RETRY_EXCHANGE, otherQ.retryQueue(Duration.ofSeconds(1)), null,
            "{}".getBytes(StandardCharsets.UTF_8));
        ch.waitForConfirmsOrDie(10_000);
      }, "put a message into another job's retry queue");
    }

    client.resources(TrainingJob.class).inNamespace(ns).withName("mine").delete();
    await("the user goes with the job").atMost(Duration.ofSeconds(60)).untilAsserted(() ->
        assertThatThrownBy(() -> f.newConnection("real-workers-it-gone").close()).isInstanceOf(Exception.class));

    // the same job applied again at once: a new user and Secret, not the old job's (whose Secret the
    // garbage collector may still be removing)
    TrainingJob again = await("created again").atMost(Duration.ofSeconds(60)).ignoreExceptions()
        .until(() -> create("mine", 4, "sleep 30"), j -> j != null);
    assertThat(Names.brokerUserSecret(again)).isNotEqualTo(secretName);
    await("its pods use its own Secret").atMost(Duration.ofSeconds(60)).untilAsserted(() ->
        assertThat(pods(again)).isNotEmpty().allSatisfy(p -> assertThat(p.getSpec().getContainers().get(0).getEnv())
            .filteredOn(e -> e.getName().equals("TRAINQ_RABBITMQ_PASSWORD")).singleElement()
            .satisfies(e -> assertThat(e.getValueFrom().getSecretKeyRef().getName()).isEqualTo(Names.brokerUserSecret(again)))));
    var secretAgain = client.secrets().inNamespace(ns).withName(Names.brokerUserSecret(again)).get();
    ConnectionFactory fa = broker.newConnectionFactory();
    fa.setUsername(decode(secretAgain.getData().get("username")));
    fa.setPassword(decode(secretAgain.getData().get("password")));
    fa.setAutomaticRecoveryEnabled(false);
    try (Connection c = fa.newConnection("real-workers-it-again"); Channel ch = c.createChannel()) {
      assertThat(ch.queueDeclarePassive(new JobTopology(ns, "mine", again.getMetadata().getUid()).taskQueue()).getMessageCount())
          .isEqualTo(4);
    }
    client.resources(TrainingJob.class).inNamespace(ns).withName("mine").delete();
    client.resources(TrainingJob.class).inNamespace(ns).withName("other").delete();
  }

  interface ChannelAction {
    void run(Channel ch) throws Exception;
  }

  private static void assertRefused(Connection c, ChannelAction action, String what) throws Exception {
    Channel ch = c.createChannel();
    assertThatThrownBy(() -> action.run(ch)).as(what)
        .satisfies(e -> assertThat(rootText(e)).as(what).contains("ACCESS_REFUSED"));
  }

  private static String rootText(Throwable e) {
    StringBuilder b = new StringBuilder();
    for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
      b.append(t).append(' ');
    }
    return b.toString();
  }

  private static String decode(String b64) {
    return new String(java.util.Base64.getDecoder().decode(b64), StandardCharsets.UTF_8);
  }
}
