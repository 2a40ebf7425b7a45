package io.trainq.operator.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceList;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.MixedOperation;
import io.fabric8.kubernetes.client.dsl.Resource;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.trainq.operator.KubeTestServer;
import io.trainq.testkit.kube.KueueController;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The test infrastructure for the operator's Kueue support works: the real Kueue ({@code
 * scripts/kueue.sh build}) runs against a kube-apiserver of this test's own (Kueue's CRDs and
 * cluster-scoped queues must not leak into the other tests), admits a Workload that fits its
 * ClusterQueue's quota and keeps one that does not fit pending.
 */
class KueueControllerIT {
  private static final Logger log = LoggerFactory.getLogger(KueueControllerIT.class);
  private static final String API = "kueue.x-k8s.io/v1beta2";
  private static final Path LOG_COPY = Path.of("target", "kueue-logs", "KueueControllerIT.log");

  @Test
  void admitsWhatFitsTheQuotaAndKeepsTheRestPending() {
    // fails at once, before the API server's seconds, when scripts/kueue.sh build has not run
    KueueController.binary();
    KueueController.crdDir();
    long t0 = System.nanoTime();
    try (KubeTestServer kube = KubeTestServer.privateInstance()) {
      long t1 = System.nanoTime();
      KubernetesClient client = kube.client();
      try (KueueController kueue = KueueController.start(kube.kubeconfigFile(), client)) {
        long t2 = System.nanoTime();
        log.info("private API server {} ms, Kueue {} ms", (t1 - t0) / 1_000_000, (t2 - t1) / 1_000_000);
        try {
          check(kube, client);
          assertThat(kueue.isAlive()).as("Kueue still running").isTrue();
        } catch (AssertionError | RuntimeException e) {
          e.addSuppressed(new AssertionError("Kueue's log ends with:\n" + kueue.logTail(60)));
          throw e;
        } finally {
          keepLog(kueue);
        }
      }
    }
  }

  private void check(KubeTestServer kube, KubernetesClient client) {
    String ns = kube.newNamespace("kueue");
    create(client, """
        apiVersion: kueue.x-k8s.io/v1beta2
        kind: ResourceFlavor
        metadata: {name: default}
        """);
    create(client, """
        apiVersion: kueue.x-k8s.io/v1beta2
        kind: ClusterQueue
        metadata: {name: team}
        spec:
          namespaceSelector: {}   # every namespace; left out, it matches none
          resourceGroups:
          - coveredResources: ["cpu", "memory", "nvidia.com/gpu"]
            flavors:
            - name: default
              resources:
              - {name: cpu, nominalQuota: 16}
              - {name: memory, nominalQuota: 64Gi}
              - {name: nvidia.com/gpu, nominalQuota: 4}
        """);
    create(client, """
        apiVersion: kueue.x-k8s.io/v1beta2
        kind: LocalQueue
        metadata: {name: team-queue, namespace: %s}
        spec: {clusterQueue: team}
        """.formatted(ns));
    await("LocalQueue active").atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(condition(kueue(client, "LocalQueue").inNamespace(ns).withName("team-queue").get(), "Active"))
            .map(c -> c.get("status")).contains("True"));

    long t = System.nanoTime();
    create(client, workload(ns, "fits", 2));
    Resource<GenericKubernetesResource> fits = kueue(client, "Workload").inNamespace(ns).withName("fits");
    await("fits admitted").atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(condition(fits.get(), "Admitted")).map(c -> c.get("status")).contains("True"));
    log.info("Workload created -> Admitted in {} ms", (System.nanoTime() - t) / 1_000_000);
    GenericKubernetesResource admitted = fits.get();
    assertThat(conditions(admitted)).containsExactlyInAnyOrder(
        "QuotaReserved=True QuotaReserved: Quota reserved in ClusterQueue team",
        "Admitted=True Admitted: The workload is admitted");
    assertThat((Object) admitted.get("status", "admission", "clusterQueue")).isEqualTo("team");
    List<Map<String, Object>> assignments = admitted.get("status", "admission", "podSetAssignments");
    assertThat(assignments).singleElement().satisfies(a -> {
      assertThat(a).containsEntry("name", "main").containsEntry("count", 1);
      assertThat(a.get("flavors"))
          .isEqualTo(Map.of("cpu", "default", "memory", "default", "nvidia.com/gpu", "default"));
      assertThat(a.get("resourceUsage")).isEqualTo(Map.of("cpu", "1", "memory", "1Gi", "nvidia.com/gpu", "2"));
    });

    // 2 of the 4 GPUs are taken: a Workload asking for 4 waits, with Kueue saying why
    create(client, workload(ns, "too-big", 4));
    Resource<GenericKubernetesResource> tooBig = kueue(client, "Workload").inNamespace(ns).withName("too-big");
    await("too-big pending").atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(condition(tooBig.get(), "QuotaReserved")).map(c -> c.get("status")).contains("False"));
    // and goes on waiting: the ClusterQueue counts one admitted and one pending Workload
    await("ClusterQueue counts").atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
      GenericKubernetesResource cq = kueue(client, "ClusterQueue").withName("team").get();
      assertThat((Object) cq.get("status", "admittedWorkloads")).isEqualTo(1);
      assertThat((Object) cq.get("status", "pendingWorkloads")).isEqualTo(1);
    });
    GenericKubernetesResource pending = tooBig.get();
    assertThat(conditions(pending)).containsExactly("QuotaReserved=False Pending: couldn't assign flavors to pod set"
        + " main: insufficient unused quota for nvidia.com/gpu in flavor default, 2 more needed");
    assertThat((Object) pending.get("status", "admission")).isNull();
    assertThat(conditions(fits.get())).as("the admitted one is untouched").containsExactlyInAnyOrder(
        "QuotaReserved=True QuotaReserved: Quota reserved in ClusterQueue team",
        "Admitted=True Admitted: The workload is admitted");
  }

  /** Kueue's log outlives its working directory in target/, beside the test reports. */
  private static void keepLog(KueueController kueue) {
    try {
      Files.createDirectories(LOG_COPY.getParent());
      Files.copy(kueue.log(), LOG_COPY, StandardCopyOption.REPLACE_EXISTING);
    } catch (IOException e) {
      log.warn("could not copy Kueue's log to {}", LOG_COPY, e);
    }
  }

  /** A Workload as the operator will create one: one pod set, GPUs requested and limited alike. */
  private static String workload(String ns, String name, int gpus) {
    return """
        apiVersion: kueue.x-k8s.io/v1beta2
        kind: Workload
        metadata: {name: %s, namespace: %s}
        spec:
          queueName: team-queue
          podSets:
          - name: main
            count: 1
            template:
              spec:
                restartPolicy: Never
                containers:
                - name: trainer
                  image: example.invalid/trainer:1
                  resources:
                    requests: {cpu: "1", memory: 1Gi, nvidia.com/gpu: "%d"}
                    limits: {nvidia.com/gpu: "%d"}
        """.formatted(name, ns, gpus, gpus);
  }

  private static void create(KubernetesClient client, String yaml) {
    client.resource(Serialization.unmarshal(yaml, GenericKubernetesResource.class)).create();
  }

  private static MixedOperation<GenericKubernetesResource, GenericKubernetesResourceList,
      Resource<GenericKubernetesResource>> kueue(KubernetesClient client, String kind) {
    return client.genericKubernetesResources(API, kind);
  }

  /** Each condition as "type=status reason: message". */
  private static List<String> conditions(GenericKubernetesResource r) {
    List<Map<String, Object>> conditions = r.get("status", "conditions");
    return conditions == null ? List.of() : conditions.stream()
        .map(c -> c.get("type") + "=" + c.get("status") + " " + c.get("reason") + ": " + c.get("message"))
        .toList();
  }

  private static Optional<Map<String, Object>> condition(GenericKubernetesResource r, String type) {
    if (r == null) {
      return Optional.empty();
    }
    List<Map<String, Object>> conditions = r.get("status", "conditions");
    return conditions == null ? Optional.empty()
        : conditions.stream().filter(c -> type.equals(c.get("type"))).findFirst();
  }
}
