package io.trainq.operator.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.trainq.api.TrainingJob;
import io.trainq.api.TrainingJobStatus;
import io.trainq.operator.KubeTestServer;
import io.trainq.operator.OperatorHarness;
import io.trainq.testkit.RabbitBroker;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A queue that exists with other arguments than the contract's is reported in the job's Ready
 * condition and a Warning Event; the operator keeps running and recovers once the queue is fixed.
 */
@Tag("broker")
class TopologyMismatchIT {

  @Test
  void aMismatchIsAConditionNotACrash() throws Exception {
    KubeTestServer kube = KubeTestServer.get();
    KubernetesClient client = kube.client();
    RabbitBroker broker = RabbitBroker.single();
    String ns = kube.newNamespace("mismatch");
    String eventsQueue = RabbitBroker.uniqueName("trainq.operator.events");
    try (Connection amqp = broker.newConnection("TopologyMismatchIT"); Channel ch = amqp.createChannel()) {
      // someone made the events queue a classic queue before the operator came
      ch.queueDeclare(eventsQueue, true, false, false, Map.of("x-queue-type", "classic"));
      TrainqOperator operator = OperatorHarness.start(OperatorHarness.config(broker, Set.of(ns), eventsQueue), client);
      try {
        TrainingJob created = client.resources(TrainingJob.class).inNamespace(ns)
            .resource(OperatorHarness.job(ns, "mismatched", 3)).create();
        await("reported").atMost(Duration.ofSeconds(60)).ignoreExceptions().untilAsserted(() -> {
          TrainingJobStatus s = status(client, ns);
          var ready = s.getConditions().stream().filter(c -> c.getType().equals("Ready")).findFirst().orElseThrow();
          assertThat(ready.getStatus()).isEqualTo("False");
          assertThat(ready.getReason()).isEqualTo("TopologyMismatch");
          assertThat(ready.getMessage()).contains(eventsQueue).contains("inequivalent arg");
          assertThat(s.getPhase()).isEqualTo("Pending");
        });
        assertThat(client.v1().events().inNamespace(ns).list().getItems())
            .filteredOn(e -> created.getMetadata().getUid().equals(e.getInvolvedObject().getUid()))
            .extracting(e -> e.getReason()).contains("TopologyMismatch");
        assertThat(status(client, ns).getCounts().getPublished()).as("nothing published while events cannot be folded").isZero();

        // the queue is fixed: the operator notices on its next look, with no restart
        ch.queueDelete(eventsQueue);
        await("recovered").atMost(Duration.ofSeconds(60)).ignoreExceptions().untilAsserted(() -> {
          TrainingJobStatus s = status(client, ns);
          assertThat(s.getConditions().stream().filter(c -> c.getType().equals("Ready")).findFirst().orElseThrow().getStatus())
              .isEqualTo("True");
          assertThat(s.getCounts().getPublished()).isEqualTo(3);
        });
      } finally {
        operator.close();
        broker.deleteQueue(eventsQueue);
      }
    }
  }

  static TrainingJobStatus status(KubernetesClient client, String ns) {
    return client.resources(TrainingJob.class).inNamespace(ns).withName("mismatched").get().getStatus();
  }
}
