package io.trainq.operator.k8s;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceRequirements;
import io.fabric8.kubernetes.api.model.ResourceRequirementsBuilder;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.trainq.api.RabbitmqSpec;
import io.trainq.api.SecretRef;
import io.trainq.protocol.RabbitSettings;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class WorkerPodsTest {

  @Test
  void capacityFollowsTheWork() {
    // while publishing, every unfinished task wants a slot
    assertThat(WorkerPods.desired(4, 2, true, true, 100, 0, 0)).isEqualTo(4);
    assertThat(WorkerPods.desired(4, 2, true, true, 3, 0, 0)).isEqualTo(2);
    // afterwards, what is queued or running: tasks waiting out a backoff do not hold GPUs
    assertThat(WorkerPods.desired(4, 2, true, false, 10, 0, 1)).isEqualTo(1);
    assertThat(WorkerPods.desired(4, 2, true, false, 10, 5, 0)).isEqualTo(3);
    assertThat(WorkerPods.desired(4, 2, true, false, 10, 0, 0)).as("retries in backoff only").isZero();
    // none when done, suspended or unable to run
    assertThat(WorkerPods.desired(4, 2, true, false, 0, 0, 0)).isZero();
    assertThat(WorkerPods.desired(4, 2, false, true, 100, 0, 0)).isZero();
  }

  @Test
  void graceLetsATaskFinishWithinTheMaximum() {
    assertThat(WorkerPods.grace(Duration.ofMinutes(2), Duration.ofHours(1))).isEqualTo(Duration.ofSeconds(150));
    assertThat(WorkerPods.grace(Duration.ofHours(24), Duration.ofHours(1))).isEqualTo(Duration.ofHours(1));
  }

  @Test
  void gpusComeFromGpusPerPodWhateverTheUserSet() {
    ResourceRequirements user = new ResourceRequirementsBuilder().addToRequests("cpu", new Quantity("4"))
        .addToLimits("memory", new Quantity("16Gi")).build();
    ResourceRequirements r = WorkerPods.resources(user, 8);
    assertThat(r.getLimits()).containsEntry("nvidia.com/gpu", new Quantity("8")).containsEntry("memory", new Quantity("16Gi"));
    assertThat(r.getRequests()).containsEntry("cpu", new Quantity("4")).doesNotContainKey("nvidia.com/gpu");
    assertThat(WorkerPods.resources(null, 1).getLimits()).containsEntry("nvidia.com/gpu", new Quantity("1"));
  }

  @Test
  void podNamesFitAHostname() {
    String n = Names.workerPod("a".repeat(80) + "-b");
    assertThat(n).hasSizeLessThanOrEqualTo(63).matches("a+-worker-[a-z0-9]{5}");
    assertThat(Names.workerPod("sweep")).matches("sweep-worker-[a-z0-9]{5}");
    assertThat(Names.workerPod("x".repeat(54) + ".y")).doesNotContain(".-");
  }

  @Test
  void aJobSecretGivesTheConnection() {
    RabbitmqSpec spec = new RabbitmqSpec();
    spec.setSecretRef(new SecretRef("rabbit-default-user"));
    var secret = new SecretBuilder().withNewMetadata().withName("rabbit-default-user").endMetadata()
        .withData(Map.of("username", b64("user"), "password", b64("pw"), "host", b64("rabbit.ns.svc"), "port", b64("5672"))).build();
    JobConnection.Resolved r = JobConnection.resolve(spec, secret, "ns", Optional.empty());
    assertThat(r.problem()).isNull();
    assertThat(r.settings().addressList()).isEqualTo("rabbit.ns.svc:5672");
    assertThat(r.settings().username()).isEqualTo("user");

    spec.setAddresses(List.of("r-0:5672", "r-1:5672"));
    assertThat(JobConnection.resolve(spec, secret, "ns", Optional.empty()).settings().addressList()).isEqualTo("r-0:5672,r-1:5672");

    assertThat(JobConnection.resolve(spec, null, "ns", Optional.empty()).problem())
        .isEqualTo("Secret rabbit-default-user (spec.rabbitmq.secretRef) not found in namespace ns");
    var noPassword = new SecretBuilder().withData(Map.of("username", b64("u"))).build();
    assertThat(JobConnection.resolve(spec, noPassword, "ns", Optional.empty()).problem()).contains("no key 'password'");
    assertThat(JobConnection.resolve(null, null, "ns", Optional.empty()).problem()).contains("no default connection");
    RabbitSettings dflt = new RabbitSettings(List.of(new com.rabbitmq.client.Address("h", 1)), "a", "b", "/", null);
    assertThat(JobConnection.resolve(null, null, "ns", Optional.of(dflt)).settings()).isSameAs(dflt);
  }

  private static String b64(String s) {
    return java.util.Base64.getEncoder().encodeToString(s.getBytes(java.nio.charset.StandardCharsets.UTF_8));
  }
}
