package io.trainq.worker;

import static io.trainq.worker.JobFixture.indexes;
import static org.assertj.core.api.Assertions.assertThat;

import io.trainq.protocol.TaskEvent.Type;
import io.trainq.protocol.WorkerEnv;
import io.trainq.testkit.RabbitBroker;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packaged distribution, copied elsewhere as the init container copies it into a training image,
 * runs a job with its own runtime through bin/trainq-worker.
 */
@Tag("broker")
class DistributionIT {
  @TempDir
  Path dir;

  static Path dist() {
    Path d = Path.of(System.getProperty("trainq.worker.dist", "target/trainq-worker"));
    assertThat(d.resolve("bin/trainq-worker")).as("the distribution (mvn -pl worker package)").isExecutable();
    return d;
  }

  @Test
  void theCopiedDistributionRunsAJobWithItsOwnRuntime() throws Exception {
    Path copy = dir.resolve("trainq");
    Process cp = new ProcessBuilder("cp", "-a", dist().toString(), copy.toString()).inheritIO().start();
    assertThat(cp.waitFor()).isZero();
    Path launcher = copy.resolve("bin/trainq-worker");

    Process v = new ProcessBuilder(launcher.toString(), "--version").redirectErrorStream(true).start();
    String version = new String(v.getInputStream().readAllBytes()).trim();
    assertThat(v.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(v.exitValue()).isZero();
    assertThat(version).isEqualTo("trainq-worker " + Files.readString(copy.resolve("VERSION")).trim());
    assertThat(Files.list(copy.resolve("runtime/bin")).map(p -> p.getFileName().toString())).contains("java");

    RabbitBroker broker = RabbitBroker.single();
    try (JobFixture job = new JobFixture(broker, JobFixture.settings(2, Duration.ofMinutes(1)))) {
      job.publishTasks(10);
      Map<String, String> env = job.workerEnv(2);
      env.put(WorkerEnv.IDLE_TIMEOUT_MS, "1000");
      // no Java on PATH (only what the launcher itself uses) and no JAVA_HOME: it must use the runtime next to it
      Path bin = Files.createDirectories(dir.resolve("path"));
      for (String tool : List.of("sh", "dirname")) {
        Files.createSymbolicLink(bin.resolve(tool), Path.of("/bin", tool).toRealPath());
      }
      env.put("PATH", bin.toString());
      env.put("JAVA_HOME", "");
      List<String> argv = List.of(launcher.toString(), "--", "/bin/sh", "-c", "echo $TRAINQ_TASK_INDEX >> " + dir.resolve("runs.log"));
      try (WorkerProcess w = WorkerProcess.startArgv("dist", argv, env, dir)) {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        String exe = "";
        // the launcher is a shell script that execs java
        while (!exe.endsWith("/java") && System.nanoTime() < deadline) {
          exe = w.process.info().command().orElse("");
          Thread.sleep(20);
        }
        assertThat(Path.of(exe).toRealPath()).as("the worker runs on the distribution's runtime")
            .isEqualTo(copy.resolve("runtime/bin/java").toRealPath());
        job.awaitSucceeded(10, Duration.ofMinutes(1), w);
        assertThat(w.awaitExit(Duration.ofSeconds(30))).as(WorkerProcess.logs(w)).isZero();
        assertThat(indexes(job.events(), Type.SUCCEEDED)).isEqualTo(Set.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
        assertThat(Files.readAllLines(dir.resolve("runs.log"))).hasSize(10);
      }
    }
  }
}
