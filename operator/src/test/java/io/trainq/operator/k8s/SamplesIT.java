package io.trainq.operator.k8s;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.trainq.api.TrainingJob;
import io.trainq.operator.KubeTestServer;
import io.trainq.engine.TaskPlan;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Every sample is accepted by the API server as written, and its tasks expand as its comments say. */
class SamplesIT {

  @ParameterizedTest(name = "{0}")
  @CsvSource({
      "load-test-100.yaml, 100, 1",
      "grid-sweep.yaml, 24, 2",
      "multi-gpu.yaml, 6, 8",
      "quickstart.yaml, 100, 1",
      "persistent-python.yaml, 20, 1",
      "kueue-sweep.yaml, 16, 2"})
  void appliesAndExpands(String file, int tasks, int gpusPerPod) throws Exception {
    KubeTestServer kube = KubeTestServer.get();
    KubernetesClient client = kube.client();
    String ns = kube.newNamespace("samples");
    Path path = KubeTestServer.projectRoot().resolve("samples").resolve(file);
    TrainingJob created;
    try (InputStream in = Files.newInputStream(path)) {
      TrainingJob tj = client.resources(TrainingJob.class).load(in).item();
      created = client.resources(TrainingJob.class).inNamespace(ns).resource(tj).create();
    }
    assertThat(created.getMetadata().getUid()).isNotNull();
    assertThat(TaskPlan.of(created.getSpec().getTasks()).size()).isEqualTo(tasks);
    assertThat(WorkerPods.gpusPerPod(created.getSpec())).isEqualTo(gpusPerPod);
    if (file.equals("grid-sweep.yaml")) {
      TaskPlan plan = TaskPlan.of(created.getSpec().getTasks());
      // the API server hands the grid back with sorted keys: batch, lr, seed (fastest)
      assertThat(plan.params(0).toString()).isEqualTo("{\"batch\":64,\"lr\":0.1,\"seed\":1}");
      assertThat(plan.params(1).toString()).isEqualTo("{\"batch\":64,\"lr\":0.1,\"seed\":2}");
      assertThat(plan.params(4).toString()).isEqualTo("{\"batch\":64,\"lr\":0.01,\"seed\":1}");
      assertThat(plan.params(12).toString()).isEqualTo("{\"batch\":128,\"lr\":0.1,\"seed\":1}");
    }
    if (file.equals("multi-gpu.yaml")) {
      assertThat(WorkerPods.slotsPerPod(created.getSpec())).isEqualTo(2);
    }
  }
}
