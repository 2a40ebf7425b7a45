package io.trainq.worker;

import static org.assertj.core.api.Assertions.assertThat;

import io.trainq.protocol.TaskMessage;
import io.trainq.protocol.WorkerEnv;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Real processes: exit codes, stderr tails, timeouts that kill the whole tree, the task's environment. */
class TaskRunTest {
  static final ExecutorService pumps = Executors.newCachedThreadPool(r -> {
    Thread t = new Thread(r);
    t.setDaemon(true);
    return t;
  });

  @AfterAll
  static void stop() {
    pumps.shutdownNow();
  }

  private static ProcessBuilder sh(String script) {
    return new ProcessBuilder("sh", "-c", script).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
  }

  @Test
  void exitCodeAndStderrTail() throws Exception {
    TaskRun run = TaskRun.start(sh("echo out; echo 'Traceback' >&2; echo 'ValueError: lr' >&2; exit 3"), 7, pumps);
    TaskRun.Result r = run.await(Duration.ofSeconds(10));
    assertThat(r.exitCode()).isEqualTo(3);
    assertThat(r.timedOut()).isFalse();
    assertThat(r.stoppedBy()).isEqualTo(TaskRun.Stop.NONE);
    assertThat(run.stderrTail()).isEqualTo("Traceback\nValueError: lr");
  }

  @Test
  void stderrTailIsBounded() throws Exception {
    TaskRun run = TaskRun.start(sh("i=0; while [ $i -lt 2000 ]; do echo \"error line $i\" >&2; i=$((i+1)); done; exit 1"), 1, pumps);
    run.await(Duration.ofSeconds(30));
    String tail = run.stderrTail();
    assertThat(tail.getBytes(java.nio.charset.StandardCharsets.UTF_8).length).isLessThanOrEqualTo(OutputTail.MAX_BYTES);
    assertThat(tail).endsWith("error line 1999");
  }

  @Test
  void timeoutKillsTheWholeProcessTree(@TempDir Path dir) throws Exception {
    Path child = dir.resolve("child.pid");
    // the child ignores SIGTERM: only the SIGKILL after the grace ends it
    TaskRun run = TaskRun.start(sh("sh -c 'trap \"\" TERM; echo $$ > " + child + "; sleep 300' & wait"), 2, pumps);
    long t0 = System.nanoTime();
    TaskRun.Result r = run.await(Duration.ofMillis(500));
    assertThat(r.timedOut()).isTrue();
    assertThat(r.exitCode()).isNotZero();
    long pid = Long.parseLong(Files.readString(child).trim());
    // SIGKILL is delivered at once; the reaping by init may take a moment
    long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    while (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false) && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)).as("the child %d is killed", pid).isFalse();
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(TaskRun.TERM_GRACE.plusSeconds(5));
  }

  @Test
  void stopMarksTheAttemptAsStoppedByTheWorker() throws Exception {
    TaskRun run = TaskRun.start(sh("sleep 60"), 3, pumps);
    Thread.sleep(100);
    run.stop(TaskRun.Stop.SHUTDOWN);
    TaskRun.Result r = run.await(Duration.ofSeconds(30));
    assertThat(r.stoppedBy()).isEqualTo(TaskRun.Stop.SHUTDOWN);
    assertThat(r.timedOut()).isFalse();
    assertThat(run.isAlive()).isFalse();
  }

  @Test
  void theTaskSeesItsVariablesAndNoSecrets(@TempDir Path dir) throws Exception {
    Map<String, String> workerEnv = new HashMap<>(WorkerConfigTest.operatorEnv());
    workerEnv.put("TRAINQ_RABBITMQ_URI", "amqp://u:s3cret@h/%2F");
    WorkerConfig config = WorkerConfig.fromEnv(workerEnv, List.of("env"), () -> 0);
    var params = JsonNodeFactory.instance.objectNode().put("lr", 0.1).put("name", "a \"quoted\" value");
    TaskMessage t = new TaskMessage(config.topology().uid(), 42, 2, params);
    Path file = dir.resolve("params.json");
    Files.writeString(file, params.toString());

    // the product's own process builder, with `env` as the task's command
    ProcessBuilder pb = TaskExecutor.processBuilder(config, 1, "2,3", t, params.toString(), file);
    Path out = dir.resolve("env.txt");
    pb.redirectOutput(out.toFile());
    assertThat(pb.start().waitFor()).isZero();
    List<String> lines = Files.readAllLines(out);
    assertThat(lines).contains("TRAINQ_TASK_INDEX=42", "TRAINQ_TASK_ATTEMPT=2", "TRAINQ_TASK_SLOT=1", "CUDA_VISIBLE_DEVICES=2,3",
        "TRAINQ_JOB_NAME=sweep", "TRAINQ_TASK_PARAMS={\"lr\":0.1,\"name\":\"a \\\"quoted\\\" value\"}",
        "TRAINQ_TASK_PARAMS_FILE=" + file, "PATH=/usr/bin:/bin");
    assertThat(lines).noneMatch(l -> l.startsWith("TRAINQ_RABBITMQ_")).noneMatch(l -> l.contains("s3cret"));
    // nothing else: a variable of this JVM's environment (HOME, ...) would mean the worker's secrets reach tasks too
    Set<String> expected = new HashSet<>(config.taskEnv().keySet());
    expected.addAll(List.of(TaskEnv.INDEX, TaskEnv.ATTEMPT, TaskEnv.PARAMS, TaskEnv.PARAMS_FILE, TaskEnv.SLOT, TaskEnv.CUDA,
        WorkerEnv.JOB_NAME));
    assertThat(System.getenv().keySet()).as("this JVM has variables of its own that a task must not inherit")
        .anyMatch(k -> !expected.contains(k));
    assertThat(lines).extracting(l -> l.substring(0, l.indexOf('='))).containsExactlyInAnyOrderElementsOf(expected);
  }
}
