package io.trainq.operator.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.rabbitmq.client.Connection;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.trainq.api.TrainingJob;
import io.trainq.api.TrainingJobStatus;
import io.trainq.operator.FakeWorker;
import io.trainq.operator.KubeTestServer;
import io.trainq.operator.OperatorConfig;
import io.trainq.operator.OperatorHarness;
import io.trainq.protocol.JobTopology;
import io.trainq.testkit.RabbitBroker;
import java.time.Duration;
import java.util.Set;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Two replicas with leader election: only the lease holder reconciles; when it goes, the standby takes over the job. */
@Tag("broker")
class LeaderElectionIT {

  static OperatorConfig replica(OperatorConfig base, String ns, String identity) {
    return new OperatorConfig(base.watchNamespaces(), ns, identity, base.workerImage(), base.workerImagePullPolicy(),
        base.rabbitmqSecret(), base.rabbitmq(), base.defaultVhost(), true, "trainq-operator", Duration.ofSeconds(4),
        Duration.ofSeconds(3), Duration.ofMillis(500), -1, base.publishBatch(), base.publishWindow(), base.resyncInterval(),
        base.workerMaxGrace(), base.eventsQueue(), base.reconcileThreads(), base.statusInterval());
  }

  @Test
  void theStandbyTakesOverWhenTheLeaderGoes() throws Exception {
    KubeTestServer kube = KubeTestServer.get();
    KubernetesClient client = kube.client();
    RabbitBroker broker = RabbitBroker.single();
    String ns = kube.newNamespace("leader");
    String eventsQueue = RabbitBroker.uniqueName("trainq.operator.events");
    OperatorConfig base = OperatorHarness.config(broker, Set.of(ns), eventsQueue);
    TrainqOperator a = OperatorHarness.start(replica(base, ns, "replica-a"), client);
    await("a leads").atMost(Duration.ofSeconds(30)).ignoreExceptions().until(() ->
        "replica-a".equals(client.leases().inNamespace(ns).withName("trainq-operator").get().getSpec().getHolderIdentity()));
    TrainqOperator b = OperatorHarness.start(replica(base, ns, "replica-b"), client);
    try (Connection amqp = broker.newConnection("LeaderElectionIT")) {
      TrainingJob tj = client.resources(TrainingJob.class).inNamespace(ns).resource(OperatorHarness.job(ns, "elected", 10)).create();
      JobTopology job = new JobTopology(ns, "elected", tj.getMetadata().getUid());
      await("published by the leader").atMost(Duration.ofSeconds(60)).ignoreExceptions().until(() ->
          status(client, ns).getCounts().getPublished() == 10);
      try (FakeWorker w = new FakeWorker(amqp, job, "w")) {
        w.drain(4, i -> false);
      }
      await("folded by the leader").atMost(Duration.ofSeconds(60)).ignoreExceptions().until(() ->
          status(client, ns).getCounts().getSucceeded() == 4);
      assertThat(b.metrics().scrape()).as("the standby does nothing")
          .contains("trainq_operator_leader 0.0\n").contains("trainq_reconciliations_total{result=\"success\"} 0.0\n");

      a.close();
      await("b leads").atMost(Duration.ofSeconds(60)).ignoreExceptions().until(() ->
          "replica-b".equals(client.leases().inNamespace(ns).withName("trainq-operator").get().getSpec().getHolderIdentity()));
      try (FakeWorker w = new FakeWorker(amqp, job, "w")) {
        w.drain(100, i -> false);
      }
      await("succeeded under the new leader").atMost(Duration.ofSeconds(60)).ignoreExceptions().untilAsserted(() -> {
        TrainingJobStatus s = status(client, ns);
        assertThat(s.getPhase()).isEqualTo("Succeeded");
        assertThat(s.getCounts().getSucceeded()).isEqualTo(10);
        assertThat(s.getSucceededIndexes()).isEqualTo("0-9");
      });
      // the new leader may fold events into the status before its first reconciliation has ended
      await("b reconciles").atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(b.metrics().scrape())
          .contains("trainq_operator_leader 1.0\n").doesNotContain("trainq_reconciliations_total{result=\"success\"} 0.0\n"));
    } finally {
      a.close();
      b.close();
      broker.deleteQueue(eventsQueue);
    }
  }

  static TrainingJobStatus status(KubernetesClient client, String ns) {
    return client.resources(TrainingJob.class).inNamespace(ns).withName("elected").get().getStatus();
  }
}
