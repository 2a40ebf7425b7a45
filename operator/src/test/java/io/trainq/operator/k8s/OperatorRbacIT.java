package io.trainq.operator.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.rabbitmq.client.Connection;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBindingBuilder;
import io.fabric8.kubernetes.api.model.rbac.RoleBindingBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.trainq.api.RabbitmqSpec;
import io.trainq.api.SecretRef;
import io.trainq.api.TrainingJob;
import io.trainq.operator.FakeWorker;
import io.trainq.operator.KubeTestServer;
import io.trainq.operator.OperatorConfig;
import io.trainq.operator.OperatorHarness;
import io.trainq.engine.TopologyDeclarer;
import io.trainq.protocol.JobTopology;
import io.trainq.testkit.RabbitBroker;
import java.io.InputStream;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The operator with only the permissions of operator/src/test/resources/rbac/operator-clusterrole.yaml,
 * acting as a ServiceAccount through impersonation, with leader election on: it must take the lease,
 * run a job whose connection comes from its own Secret to Succeeded, record Events, delete the job
 * after its TTL and clean its queues up, without a single refused request.
 */
@Tag("broker")
class OperatorRbacIT {

  @Test
  void reconcilesWithTheLeastPrivilegeRules() throws Exception {
    KubeTestServer kube = KubeTestServer.get();
    KubernetesClient admin = kube.client();
    RabbitBroker broker = RabbitBroker.single();
    String system = kube.newNamespace("trainq-system");
    String team = kube.newNamespace("team");

    admin.serviceAccounts().inNamespace(system).resource(new ServiceAccountBuilder().withNewMetadata()
        .withName("trainq-operator").endMetadata().build()).create();
    String clusterRole = "trainq-operator-" + system;
    try (InputStream in = getClass().getResourceAsStream("/rbac/operator-clusterrole.yaml")) {
      List<HasMetadata> rbac = admin.load(in).items();
      for (HasMetadata r : rbac) {
        if (r.getKind().equals("ClusterRole")) {
          r.getMetadata().setName(clusterRole);
          admin.resource(r).create();
        } else {
          admin.resource(r).inNamespace(system).create();
        }
      }
    }
    admin.rbac().clusterRoleBindings().resource(new ClusterRoleBindingBuilder().withNewMetadata().withName(clusterRole).endMetadata()
        .withNewRoleRef("rbac.authorization.k8s.io", "ClusterRole", clusterRole)
        .addNewSubject().withKind("ServiceAccount").withName("trainq-operator").withNamespace(system).endSubject().build()).create();
    admin.rbac().roleBindings().inNamespace(system).resource(new RoleBindingBuilder().withNewMetadata()
        .withName("trainq-operator-leader-election").endMetadata()
        .withNewRoleRef("rbac.authorization.k8s.io", "Role", "trainq-operator-leader-election")
        .addNewSubject().withKind("ServiceAccount").withName("trainq-operator").withNamespace(system).endSubject().build()).create();

    // the job's own connection Secret, as the RabbitMQ Cluster Operator makes it
    admin.secrets().inNamespace(team).resource(new SecretBuilder().withNewMetadata().withName("rabbit-default-user").endMetadata()
        .withStringData(Map.of("username", RabbitBroker.USERNAME, "password", RabbitBroker.PASSWORD,
            "host", "127.0.0.1", "port", Integer.toString(broker.amqpPort(0))))
        .build()).create();

    KubernetesClient asOperator = kube.impersonating("system:serviceaccount:" + system + ":trainq-operator",
        "system:serviceaccounts", "system:serviceaccounts:" + system, "system:authenticated");
    assertThatThrownBy(() -> asOperator.secrets().inNamespace(team).list())
        .as("the impersonated account may not list Secrets")
        .isInstanceOfSatisfying(KubernetesClientException.class, e -> assertThat(e.getCode()).isEqualTo(403));

    String eventsQueue = RabbitBroker.uniqueName("trainq.operator.events");
    OperatorConfig base = OperatorHarness.config(broker, Set.of(), eventsQueue);
    OperatorConfig config = new OperatorConfig(base.watchNamespaces(), system, "operator-0", base.workerImage(),
        base.workerImagePullPolicy(), base.rabbitmqSecret(), java.util.Optional.empty(), base.defaultVhost(), true,
        "trainq-operator", Duration.ofSeconds(15), Duration.ofSeconds(10), Duration.ofSeconds(1), -1,
        base.publishBatch(), base.publishWindow(), base.resyncInterval(), base.workerMaxGrace(), eventsQueue, base.reconcileThreads(),
        base.statusInterval()).withBrokerUsers(true, null);
    TrainqOperator operator = OperatorHarness.start(config, asOperator);
    try (Connection amqp = broker.newConnection("OperatorRbacIT")) {
      await("the lease").atMost(Duration.ofSeconds(60)).ignoreExceptions().untilAsserted(() -> {
        Lease lease = admin.leases().inNamespace(system).withName("trainq-operator").get();
        assertThat(lease.getSpec().getHolderIdentity()).isEqualTo("operator-0");
      });

      TrainingJob tj = OperatorHarness.job(team, "rbac", 4);
      RabbitmqSpec rabbit = new RabbitmqSpec();
      rabbit.setSecretRef(new SecretRef("rabbit-default-user"));
      // the job's workers get a broker user of their own: the operator creates its Secret, as the chart's RBAC allows
      rabbit.setManagementUrl("http://127.0.0.1:" + broker.managementPort(0));
      tj.getSpec().setRabbitmq(rabbit);
      tj.getSpec().setTtlSecondsAfterFinished(1);
      tj = admin.resources(TrainingJob.class).inNamespace(team).resource(tj).create();
      JobTopology job = new JobTopology(team, "rbac", tj.getMetadata().getUid());
      String ownSecret = Names.brokerUserSecret(tj);

      await("published").atMost(Duration.ofSeconds(60)).ignoreExceptions().untilAsserted(() ->
          assertThat(admin.resources(TrainingJob.class).inNamespace(team).withName("rbac").get().getStatus().getCounts().getPublished())
              .isEqualTo(4));
      String pod = admin.pods().inNamespace(team).list().getItems().get(0).getMetadata().getName();
      assertThat(admin.pods().inNamespace(team).withName(pod).get().getSpec().getContainers().get(0).getEnv())
          .anySatisfy(e -> {
            assertThat(e.getName()).isEqualTo("TRAINQ_RABBITMQ_PASSWORD");
            assertThat(e.getValueFrom().getSecretKeyRef().getName()).isEqualTo(ownSecret);
          });
      assertThat(admin.secrets().inNamespace(team).withName(ownSecret).get().getMetadata().getOwnerReferences())
          .singleElement().satisfies(o -> assertThat(o.getUid()).isEqualTo(job.uid()));
      try (FakeWorker w = new FakeWorker(amqp, job, pod)) {
        assertThat(w.drain(10, i -> false)).isEqualTo(4);
      }
      TrainingJob created = tj;
      await("succeeded, then deleted by its TTL").atMost(Duration.ofSeconds(60)).untilAsserted(() ->
          assertThat(admin.resources(TrainingJob.class).inNamespace(team).withName("rbac").get()).isNull());
      assertThat(new TopologyDeclarer(amqp).inspect(job.taskQueue())).as("queues deleted by the finalizer").isEmpty();
      assertThat(admin.v1().events().inNamespace(team).list().getItems())
          .filteredOn(e -> created.getMetadata().getUid().equals(e.getInvolvedObject().getUid()))
          .extracting(e -> e.getReason()).contains("QueuesDeclared", "WorkerCreated", "Completed", "Expired");
      assertThat(operator.metrics().scrape()).contains("trainq_reconciliations_total{result=\"error\"} 0.0\n")
          .contains("trainq_operator_leader 1");
    } finally {
      operator.close();
      broker.deleteQueue(eventsQueue);
    }
  }
}
