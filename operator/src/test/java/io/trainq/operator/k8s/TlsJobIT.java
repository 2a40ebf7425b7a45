package io.trainq.operator.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.trainq.api.RabbitmqSpec;
import io.trainq.api.RabbitmqTlsSpec;
import io.trainq.api.SecretRef;
import io.trainq.api.TrainingJob;
import io.trainq.api.TrainingJobStatus;
import io.trainq.operator.KubeTestServer;
import io.trainq.operator.OperatorHarness;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import io.trainq.protocol.Connections;
import io.trainq.protocol.JobTopology;
import io.trainq.protocol.RabbitSettings;
import io.trainq.protocol.RabbitTls;
import io.trainq.testkit.RabbitBroker;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A TrainingJob whose broker is reached over TLS only (its Secret names the amqps port), on a real
 * kube-apiserver and RabbitMQ's TLS listeners: with spec.rabbitmq.tls.secretRef the operator publishes
 * the tasks, makes the job's own broker user through the management API over https, and gives the
 * worker pods both Secrets; a broker the job's CA does not vouch for, and a Secret without a usable
 * CA, leave Ready=False saying why.
 */
@Tag("broker")
class TlsJobIT {
  static final Duration WAIT = Duration.ofSeconds(90);
  static KubernetesClient client;
  static RabbitBroker broker;
  static String ns;
  static TrainqOperator operator;
  static String eventsQueue;

  @BeforeAll
  static void start() throws Exception {
    KubeTestServer kube = KubeTestServer.get();
    client = kube.client();
    broker = RabbitBroker.single();
    ns = kube.newNamespace("tls");
    eventsQueue = RabbitBroker.uniqueName("trainq.operator.events");
    // per-job broker users, made through the management API over https with the job's CA
    operator = OperatorHarness.start(OperatorHarness.config(broker, Set.of(ns), eventsQueue).withBrokerUsers(true, null), client);
    secret("rabbit", Map.of("username", RabbitBroker.USERNAME, "password", RabbitBroker.PASSWORD,
        "addresses", "localhost:" + broker.tlsPort(0)));
    secret("rabbit-tls", Map.of("ca.crt", Files.readString(broker.tlsFile("ca.crt")),
        "tls.crt", Files.readString(broker.tlsFile("client.crt")), "tls.key", Files.readString(broker.tlsFile("client.key"))));
    secret("rabbit-bad-tls", Map.of("ca.crt", "not a certificate"));
  }

  @AfterAll
  static void stop() throws Exception {
    if (operator != null) {
      operator.close();
    }
    broker.deleteQueue(eventsQueue);
  }

  static void secret(String name, Map<String, String> data) {
    client.secrets().inNamespace(ns).resource(new SecretBuilder().withNewMetadata().withName(name).endMetadata()
        .withStringData(data).build()).create();
  }

  static TrainingJob create(String name, int count, String tlsSecret) {
    TrainingJob tj = OperatorHarness.job(ns, name, count);
    RabbitmqSpec r = new RabbitmqSpec();
    r.setSecretRef(new SecretRef("rabbit"));
    RabbitmqTlsSpec tls = new RabbitmqTlsSpec();
    if (tlsSecret != null) {
      tls.setSecretRef(new SecretRef(tlsSecret));
    }
    r.setTls(tls);
    r.setManagementUrl("https://localhost:" + broker.managementTlsPort(0));
    tj.getSpec().setRabbitmq(r);
    return client.resources(TrainingJob.class).inNamespace(ns).resource(tj).create();
  }

  static TrainingJobStatus status(String name) {
    TrainingJob tj = client.resources(TrainingJob.class).inNamespace(ns).withName(name).get();
    return tj == null ? null : tj.getStatus();
  }

  static Condition ready(TrainingJobStatus s) {
    return s.getConditions().stream().filter(c -> c.getType().equals("Ready")).findFirst().orElseThrow();
  }

  @Test
  void theOperatorPublishesOverTlsAndTheWorkersGetTheSecret() throws Exception {
    TrainingJob tj = create("over-tls", 8, "rabbit-tls");
    JobTopology topology = new JobTopology(ns, "over-tls", tj.getMetadata().getUid());
    await("published over TLS").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      assertThat(status("over-tls").getCounts().getPublished()).isEqualTo(8);
      assertThat(broker.readyCount(topology.taskQueue())).isEqualTo(8);
    });
    await("worker pods").atMost(WAIT).untilAsserted(() -> {
      List<Pod> pods = client.pods().inNamespace(ns).withLabel(Names.JOB_UID, tj.getMetadata().getUid()).list().getItems();
      assertThat(pods).isNotEmpty();
      Pod p = pods.get(0);
      assertThat(p.getSpec().getVolumes()).anyMatch(v -> v.getSecret() != null && "rabbit-tls".equals(v.getSecret().getSecretName()));
      assertThat(p.getSpec().getContainers().get(0).getEnv())
          .anyMatch(e -> e.getName().equals(RabbitTls.TLS_DIR))
          .anyMatch(e -> e.getName().equals("TRAINQ_RABBITMQ_PASSWORD")
              && e.getValueFrom().getSecretKeyRef().getName().equals(Names.brokerUserSecret(tj)));
    });
    // the job's own user, made over https, connects over TLS and sees its job's tasks
    var own = client.secrets().inNamespace(ns).withName(Names.brokerUserSecret(tj)).get();
    RabbitSettings asWorker = RabbitSettings.fromEnv(Map.of(
        "TRAINQ_RABBITMQ_ADDRESSES", "localhost:" + broker.tlsPort(0),
        "TRAINQ_RABBITMQ_USERNAME", decode(own.getData().get("username")),
        "TRAINQ_RABBITMQ_PASSWORD", decode(own.getData().get("password")),
        RabbitTls.CA_FILE, broker.tlsFile("ca.crt").toString()));
    try (Connection c = Connections.connect(asWorker, "tls-job-it-worker", Duration.ofSeconds(20));
        Channel ch = c.createChannel()) {
      assertThat(ch.queueDeclarePassive(topology.taskQueue()).getMessageCount()).isEqualTo(8);
    }
  }

  private static String decode(String b64) {
    return new String(java.util.Base64.getDecoder().decode(b64), java.nio.charset.StandardCharsets.UTF_8);
  }

  @Test
  void aBrokerTheJobsCasDoNotVouchForIsSaidInReady() {
    create("untrusted", 3, null);
    await("Ready=False, saying why").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      Condition c = ready(status("untrusted"));
      assertThat(c.getStatus()).isEqualTo("False");
      assertThat(c.getReason()).isEqualTo("BrokerUnavailable");
      assertThat(c.getMessage()).contains("not signed by a CA trusted here").contains("ca.crt");
    });
    assertThat(status("untrusted").getCounts().getPublished()).isZero();
  }

  @Test
  void aTlsSecretWithoutAUsableCaIsSaidInReady() {
    create("bad-ca", 3, "rabbit-bad-tls");
    await("Ready=False, naming the Secret").atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
      Condition c = ready(status("bad-ca"));
      assertThat(c.getStatus()).isEqualTo("False");
      assertThat(c.getMessage()).contains("Secret rabbit-bad-tls (spec.rabbitmq.tls.secretRef)").contains("no PEM certificate");
    });
  }
}
