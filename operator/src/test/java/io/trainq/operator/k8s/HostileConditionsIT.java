package io.trainq.operator.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.ResourceQuota;
import io.fabric8.kubernetes.api.model.ResourceQuotaBuilder;
import io.fabric8.kubernetes.api.model.ResourceQuotaStatusBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.trainq.api.RetrySpec;
import io.trainq.api.TrainingJob;
import io.trainq.api.TrainingJobSpec;
import io.trainq.api.TrainingJobStatus;
import io.trainq.api.WorkerSpec;
import io.trainq.operator.FakeWorker;
import io.trainq.operator.KubeTestServer;
import io.trainq.operator.OperatorHarness;
import io.trainq.protocol.JobTopology;
import io.trainq.protocol.Messages;
import io.trainq.protocol.TaskEvent;
import io.trainq.protocol.TaskEvent.Type;
import io.trainq.testkit.RabbitBroker;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * What a careless or hostile broker user and a broken namespace do to a job, on a real kube-apiserver
 * and a real RabbitMQ: forged events and messages never change the counts, a deleted or emptied task
 * queue is found and its tasks published again (each counted once), and refused worker pods leave a
 * status that says why while the operator keeps trying.
 */
@Tag("broker")
class HostileConditionsIT {
  static final Duration WAIT = Duration.ofSeconds(90);
  static KubernetesClient client;
  static RabbitBroker broker;
  static Connection amqp;
  static String ns;
  static String quotaNs;
  static TrainqOperator operator;
  static String eventsQueue;

  @BeforeAll
  static void start() throws Exception {
    KubeTestServer kube = KubeTestServer.get();
    client = kube.client();
    broker = RabbitBroker.single();
    amqp = broker.newConnection("HostileConditionsIT");
    ns = kube.newNamespace("hostile");
    quotaNs = kube.newNamespace("quota");
    eventsQueue = RabbitBroker.uniqueName("trainq.operator.events");
    operator = OperatorHarness.start(OperatorHarness.config(broker, Set.of(ns, quotaNs), eventsQueue), client);
  }

  @AfterAll
  static void stop() throws Exception {
    if (operator != null) {
      operator.close();
    }
    broker.deleteQueue(eventsQueue);
    amqp.close();
  }

  static TrainingJob create(String namespace, String name, int count, Consumer<TrainingJobSpec> customize) {
    TrainingJob tj = OperatorHarness.job(namespace, name, count);
    RetrySpec r = new RetrySpec();
    r.setMaxAttempts(3);
    tj.getSpec().setRetry(r);
    WorkerSpec w = new WorkerSpec();
    w.setMaxPods(2);
    tj.getSpec().setWorkers(w);
    customize.accept(tj.getSpec());
    return client.resources(TrainingJob.class).inNamespace(namespace).resource(tj).create();
  }

  static TrainingJobStatus status(String namespace, String name) {
    TrainingJob tj = client.resources(TrainingJob.class).inNamespace(namespace).withName(name).get();
    return tj == null ? null : tj.getStatus();
  }

  static Condition condition(TrainingJobStatus s, String type) {
    return s.getConditions().stream().filter(c -> c.getType().equals(type)).findFirst().orElseThrow();
  }

  static List<String> eventReasons(TrainingJob tj) {
    return client.v1().events().inNamespace(tj.getMetadata().getNamespace()).list().getItems().stream()
        .filter(e -> tj.getMetadata().getUid().equals(e.getInvolvedObject().getUid())).map(e -> e.getReason()).toList();
  }

  static List<Pod> pods(TrainingJob tj) {
    return client.pods().inNamespace(tj.getMetadata().getNamespace()).withLabel(Names.JOB_UID, tj.getMetadata().getUid()).list()
        .getItems().stream().filter(p -> p.getMetadata().getDeletionTimestamp() == null).toList();
  }

  static JobTopology topology(TrainingJob tj) {
    return new JobTopology(tj.getMetadata().getNamespace(), tj.getMetadata().getName(), tj.getMetadata().getUid());
  }

  private static void publishEvent(Channel ch, JobTopology job, String uid, Type type, int index, int attempt, Long ms, Double gpuSeconds)
      throws Exception {
    TaskEvent e = new TaskEvent(TaskEvent.SCHEMA, type, job.key(), uid, index, attempt, "forger", 0,
        type == Type.STARTED ? null : 0, ms, gpuSeconds, null, null, System.currentTimeMillis());
    ch.basicPublish(JobTopology.EVENTS_EXCHANGE, job.key(), true, Messages.eventProperties(e), Messages.encodeEvent(e));
  }

  /**
   * A memory alarm that goes off while a job runs is reported (Ready=False, BrokerBlocked: the
   * operator probes, since the broker tells only publishers), a job created during it publishes
   * nothing until it clears, and then both go on.
   */
  @Test
  void aBrokerResourceAlarmIsReportedAndPublishingGoesOnWhenItClears() throws Exception {
    TrainingJob running = create(ns, "alarm-running", 6, s -> {});
    await("published").atMost(WAIT).ignoreExceptions().until(() -> status(ns, "alarm-running").getCounts().getPublished() == 6);
    TrainingJob created;
    try (AutoCloseable alarm = broker.memoryAlarm()) {
      await("Ready=False BrokerBlocked").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
        Condition ready = condition(status(ns, "alarm-running"), "Ready");
        assertThat(ready.getStatus()).isEqualTo("False");
        assertThat(ready.getReason()).isEqualTo("BrokerBlocked");
        assertThat(ready.getMessage()).startsWith("RabbitMQ blocks publishing: ").contains("nothing is lost");
      });
      assertThat(status(ns, "alarm-running").getPhase()).as("its workers go on").isEqualTo("Running");
      assertThat(eventReasons(running)).contains("BrokerBlocked");

      created = create(ns, "alarm-created", 6, s -> {});
      await("the new job is blocked too").atMost(WAIT).ignoreExceptions().untilAsserted(() ->
          assertThat(condition(status(ns, "alarm-created"), "Ready").getReason()).isEqualTo("BrokerBlocked"));
      assertThat(status(ns, "alarm-created").getCounts().getPublished()).as("nothing published while blocked").isZero();
    }
    for (String name : List.of("alarm-running", "alarm-created")) {
      await(name + " ready again").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
        TrainingJobStatus s = status(ns, name);
        assertThat(condition(s, "Ready").getReason()).isEqualTo("QueuesReady");
        assertThat(s.getCounts().getPublished()).isEqualTo(6);
      });
    }
    assertThat(eventReasons(running)).contains("BrokerUnblocked");
    assertThat(broker.readyCount(topology(created).taskQueue())).isEqualTo(6);
  }

  /** Findings: forged events with another uid, huge attempts or GPU-seconds, other indexes; garbage with a real task's id. */
  @Test
  void forgedEventsAndMessagesNeverChangeTheCounts() throws Exception {
    TrainingJob tj = create(ns, "forged", 8, s -> {});
    JobTopology job = topology(tj);
    await("published").atMost(WAIT).ignoreExceptions()
        .until(() -> status(ns, "forged").getCounts().getPublished() == 8);
    try (Channel ch = amqp.createChannel()) {
      ch.confirmSelect();
      publishEvent(ch, job, "another-uid", Type.SUCCEEDED, 0, 1, 1000L, 1.0);
      publishEvent(ch, job, job.uid(), Type.RETRYING, 1, Integer.MAX_VALUE, 1000L, 1.0);
      publishEvent(ch, job, job.uid(), Type.SUCCEEDED, 2, 1, 1000L, 1e300);
      publishEvent(ch, job, job.uid(), Type.SUCCEEDED, 999, 1, 1000L, 1.0);
      // garbage that carries task 1's message id, dead-lettered (as a worker does with what it cannot read), twice
      AMQP.BasicProperties garbage = new AMQP.BasicProperties.Builder().type(Messages.TASK_TYPE).deliveryMode(2)
          .messageId(job.uid() + ":1").headers(Map.of(Messages.REASON_HEADER, "malformed", Messages.ERROR_HEADER,
              "body is not valid JSON")).build();
      for (int i = 0; i < 2; i++) {
        ch.basicPublish(JobTopology.DEAD_LETTER_EXCHANGE, job.key(), true, garbage, "garbage".getBytes(StandardCharsets.UTF_8));
      }
      ch.waitForConfirmsOrDie(10_000);
    }
    try (FakeWorker w = new FakeWorker(amqp, job, "w1")) {
      w.drain(100, i -> false);
    }
    await("succeeded").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      TrainingJobStatus s = status(ns, "forged");
      assertThat(s.getPhase()).isEqualTo("Succeeded");
      assertThat(s.getCounts().getSucceeded()).isEqualTo(8);
      assertThat(s.getCounts().getDeadLettered()).isZero();
      assertThat(s.getCounts().getRetried()).isZero();
      assertThat(s.getCounts().getRejectedMessages()).isEqualTo(1);
      assertThat(s.getFailedIndexes()).isEmpty();
      assertThat(s.getBusyGpuSeconds()).isEqualTo(8.0);
      assertThat(s.getDeadLetters()).singleElement().satisfies(d -> {
        assertThat(d.getIndex()).isNull();
        assertThat(d.getReason()).isEqualTo("malformed");
        assertThat(d.getLastError()).isEqualTo("body is not valid JSON");
      });
    });
    String metrics = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + operator.httpPort()
        + "/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();
    String labels = "job_name=\"forged\",namespace=\"" + ns + "\"";
    assertThat(metrics).contains("trainq_events_rejected_total{" + labels + ",reason=\"other-job\"} 1.0\n")
        .contains("trainq_events_rejected_total{" + labels + ",reason=\"attempt-out-of-range\"} 1.0\n")
        .contains("trainq_events_rejected_total{" + labels + ",reason=\"gpu-seconds-out-of-range\"} 1.0\n")
        .contains("trainq_events_rejected_total{" + labels + ",reason=\"index-out-of-range\"} 1.0\n");
  }

  /** Finding: the task queue deleted with tasks on it. */
  @Test
  void aDeletedTaskQueueIsFoundAndItsTasksRepublishedAndCountedOnce() throws Exception {
    lostQueue("deleted", ch -> ch.queueDelete(topologyOf("deleted").taskQueue()), "was deleted");
  }

  /** Finding: the task queue deleted and declared again, empty (or purged): found by the counts. */
  @Test
  void anEmptiedTaskQueueIsFoundByItsCountsAndItsTasksRepublished() throws Exception {
    lostQueue("purged", ch -> ch.queuePurge(topologyOf("purged").taskQueue()), "was emptied");
  }

  private interface ChannelAction {
    void run(Channel ch) throws Exception;
  }

  private static JobTopology topologyOf(String name) {
    return topology(client.resources(TrainingJob.class).inNamespace(ns).withName(name).get());
  }

  private void lostQueue(String name, ChannelAction lose, String how) throws Exception {
    TrainingJob tj = create(ns, name, 30, s -> {});
    JobTopology job = topology(tj);
    await("published").atMost(WAIT).ignoreExceptions().until(() -> status(ns, name).getCounts().getPublished() == 30);
    try (FakeWorker w = new FakeWorker(amqp, job, "w1")) {
      w.drain(10, i -> false);
    }
    await("10 done").atMost(WAIT).ignoreExceptions().until(() -> status(ns, name).getCounts().getSucceeded() == 10);
    try (Channel ch = amqp.createChannel()) {
      lose.run(ch);
    }
    await("republished").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      TrainingJobStatus s = status(ns, name);
      assertThat(condition(s, "TasksLost").getReason()).isEqualTo("TasksRepublished");
      assertThat(condition(s, "TasksLost").getMessage()).contains(how).contains("20 unfinished task(s)");
      assertThat(broker.readyCount(job.taskQueue())).isEqualTo(20);
    });
    assertThat(eventReasons(tj)).contains("TasksLost", "TasksRepublished");
    try (FakeWorker w = new FakeWorker(amqp, job, "w2")) {
      w.drain(100, i -> false);
    }
    await("succeeded").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      TrainingJobStatus s = status(ns, name);
      assertThat(s.getPhase()).isEqualTo("Succeeded");
      assertThat(s.getCounts().getSucceeded()).isEqualTo(30);
      assertThat(s.getSucceededIndexes()).isEqualTo("0-29");
    });
    assertThat(broker.readyCount(job.taskQueue())).as("nothing republished twice").isZero();
  }

  /** Finding: a worker pod the API server refuses (here a ResourceQuota) left the job without any status. */
  @Test
  void refusedWorkerPodsAreAConditionAndTheJobRecoversOnceFixed() throws Exception {
    ResourceQuota quota = new ResourceQuotaBuilder().withNewMetadata().withName("no-pods").withNamespace(quotaNs).endMetadata()
        .withNewSpec().addToHard("pods", new Quantity("0")).endSpec().build();
    ResourceQuota created = client.resourceQuotas().inNamespace(quotaNs).resource(quota).create();
    // the quota admission reads the quota's status, which kube-controller-manager fills in a cluster
    created.setStatus(new ResourceQuotaStatusBuilder().addToHard("pods", new Quantity("0")).addToUsed("pods", new Quantity("0")).build());
    client.resourceQuotas().inNamespace(quotaNs).resource(created).updateStatus();
    TrainingJob tj = create(quotaNs, "blocked", 20, s -> {});
    await("blocked, with a status").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      TrainingJobStatus s = status(quotaNs, "blocked");
      assertThat(s.getPublishCursor()).isEqualTo(20);
      assertThat(s.getCounts().getPublished()).isEqualTo(20);
      assertThat(condition(s, "WorkersBlocked").getStatus()).isEqualTo("True");
      assertThat(condition(s, "WorkersBlocked").getReason()).isEqualTo("PodsRefused");
      assertThat(condition(s, "WorkersBlocked").getMessage()).contains("no-pods");
      assertThat(s.getMessage()).contains("refused a worker pod");
    });
    assertThat(eventReasons(tj)).contains("WorkersBlocked");
    assertThat(pods(tj)).isEmpty();

    client.resourceQuotas().inNamespace(quotaNs).withName("no-pods").delete();
    await("unblocked").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      assertThat(pods(tj)).isNotEmpty();
      TrainingJobStatus s = status(quotaNs, "blocked");
      assertThat(condition(s, "WorkersBlocked").getStatus()).isEqualTo("False");
    });
    assertThat(eventReasons(tj)).contains("WorkersUnblocked");
    assertThat(status(quotaNs, "blocked").getPublishCursor()).as("published once").isEqualTo(20);
    assertThat(broker.readyCount(topology(tj).taskQueue())).isEqualTo(20);
  }
}
