package io.trainq.cli.local;

import static org.assertj.core.api.Assertions.assertThat;

import io.trainq.testkit.RabbitBroker;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code trainq run} lays a job out as its pods would be: one worker per {@code gpusPerPod} GPUs,
 * each with {@code gpusPerPod / gpusPerTask} slots and its own GPUs.
 */
@Tag("broker")
class LocalLayoutIT {
  private final RabbitBroker broker = RabbitBroker.single();

  @TempDir Path dir;

  @Test
  void oneWorkerPerPodSizedGroupOfGpusWithItsSlots() throws Exception {
    Path runs = dir.resolve("runs.log");
    Path job = dir.resolve("layout.yaml");
    Files.writeString(job, """
        apiVersion: trainq.io/v1alpha1
        kind: TrainingJob
        metadata: {name: layout-%d}
        spec:
          image: none
          command: ["sh", "-c", "echo \\"$TRAINQ_WORKER_NAME $CUDA_VISIBLE_DEVICES\\" >> %s; sleep 0.2"]
          tasks: {count: 24}
          gpusPerTask: 2
          workers: {gpusPerPod: 4}
        """.formatted(System.nanoTime() % 100000, runs));
    Path out = dir.resolve("out.txt");
    Process p = TrainqProcess.start(out, List.of("run", "-f", job.toString(), "--gpus", "9", "--plain", "--state-dir",
        dir.resolve("state").toString(), "--rabbitmq", broker.uri(0)));
    assertThat(p.waitFor(3, TimeUnit.MINUTES)).as(Files.readString(out)).isTrue();
    assertThat(p.exitValue()).as(Files.readString(out)).isZero();
    // 9 GPUs: two pods of 4, the ninth GPU fills no pod
    assertThat(Files.readString(out)).contains("24 tasks on 2 worker(s) of 4 GPU(s) with 2 slot(s) each");

    List<String> lines = Files.readAllLines(runs);
    assertThat(lines).hasSize(24);
    Set<String> workers = new TreeSet<>();
    Set<String> devices = new TreeSet<>();
    for (String l : lines) {
      String[] f = l.split(" ");
      workers.add(f[0]);
      devices.add(f[0].replaceAll("-\\d+$", "") + " " + f[1]);
    }
    assertThat(workers).hasSize(2);
    assertThat(devices).containsExactlyInAnyOrder("local-0 0,1", "local-0 2,3", "local-1 4,5", "local-1 6,7");
  }

  @Test
  void aPodLargerThanTheMachineIsRefusedNamingTheField() throws Exception {
    Path job = dir.resolve("big.yaml");
    Files.writeString(job, """
        apiVersion: trainq.io/v1alpha1
        kind: TrainingJob
        metadata: {name: big}
        spec:
          image: none
          command: ["true"]
          tasks: {count: 1}
          workers: {gpusPerPod: 8}
        """);
    Path out = dir.resolve("out.txt");
    Process p = TrainqProcess.start(out, List.of("run", "-f", job.toString(), "--gpus", "4", "--plain", "--state-dir",
        dir.resolve("state").toString(), "--rabbitmq", broker.uri(0)));
    assertThat(p.waitFor(1, TimeUnit.MINUTES)).isTrue();
    assertThat(p.exitValue()).isEqualTo(2);
    assertThat(Files.readString(out)).contains("spec.workers.gpusPerPod is 8 but this machine has 4 GPU(s)");
  }
}
