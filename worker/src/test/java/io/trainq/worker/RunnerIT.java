package io.trainq.worker;

import static io.trainq.worker.JobFixture.indexes;
import static io.trainq.worker.JobFixture.ofType;
import static org.assertj.core.api.Assertions.assertThat;

import io.trainq.protocol.JobSettings;
import io.trainq.protocol.Messages;
import io.trainq.protocol.RunnerSettings;
import io.trainq.protocol.TaskEvent;
import io.trainq.protocol.TaskEvent.Type;
import io.trainq.testkit.RabbitBroker;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Persistent runners ({@code spec.runner.mode: Persistent}) and how they fail, against a real RabbitMQ
 * with real Python runners: each failure fails its attempt with its own reason and the next task gets a
 * fresh runner; the worker itself runs on.
 */
@Tag("broker")
class RunnerIT {
  static RabbitBroker broker;

  @TempDir
  Path dir;

  @BeforeAll
  static void broker() {
    broker = RabbitBroker.single();
  }

  static JobSettings persistent(int maxAttempts, Duration taskTimeout, int maxTasks, Duration startTimeout) {
    return JobFixture.settings(maxAttempts, taskTimeout)
        .withRunner(new RunnerSettings(RunnerSettings.Mode.PERSISTENT, maxTasks, startTimeout));
  }

  /** "index attempt pid" lines the tasks wrote, in the order they ran (one slot). */
  private List<String[]> runs() throws Exception {
    return Scripts.lines(dir.resolve("runs.log")).stream().map(l -> l.split(" ")).toList();
  }

  private static boolean alive(String pid) {
    return ProcessHandle.of(Long.parseLong(pid)).map(ProcessHandle::isAlive).orElse(false);
  }

  /**
   * One slot, one runner: a runner that exits mid-task (runner-exited, with its exit code and stderr), one
   * that runs past the timeout (its tree killed), and an exception (failed, with the traceback) each fail
   * their attempt only; every next task runs in a fresh runner, tasks between failures share one.
   */
  @Test
  void eachRunnerFailureFailsItsAttemptAndTheNextTaskGetsAFreshRunner() throws Exception {
    try (JobFixture job = new JobFixture(broker, persistent(2, Duration.ofSeconds(2), 0, Duration.ofSeconds(30)))) {
      List<String> task = Scripts.python(dir, "task.py", String.join("\n",
          "append('runs.log', f'{i} {a} {os.getpid()}')",
          "print(f'output of {i}', flush=True)",
          "if a == 1 and i == 1:",
          "    print('dying', file=sys.stderr, flush=True); os._exit(7)",
          "if a == 1 and i == 3:",
          "    p = subprocess.Popen(['sleep', '300']); append('child', str(p.pid)); time.sleep(300)",
          "if a == 1 and i == 5:",
          "    raise ValueError('bad value')"));
      job.publishTasks(7);
      try (WorkerProcess w = WorkerProcess.start("w1", job.workerEnv(1), dir, task)) {
        List<TaskEvent> events = job.awaitSucceeded(7, Duration.ofMinutes(2), w);
        assertThat(indexes(events, Type.SUCCEEDED)).hasSize(7);
        Map<Integer, TaskEvent> retrying = ofType(events, Type.RETRYING).stream()
            .collect(Collectors.toMap(TaskEvent::index, e -> e));
        assertThat(retrying.keySet()).containsExactlyInAnyOrder(1, 3, 5);
        assertThat(retrying.get(1)).satisfies(e -> {
          assertThat(e.reason()).isEqualTo(TaskEvent.Reason.RUNNER_EXITED);
          assertThat(e.exitCode()).isEqualTo(7);
          assertThat(e.error()).isEqualTo("the runner exited with code 7 during the task; stderr: dying");
        });
        assertThat(retrying.get(3)).satisfies(e -> {
          assertThat(e.reason()).isEqualTo(TaskEvent.Reason.TIMEOUT);
          assertThat(e.error()).isEqualTo("timed out after 2000 ms");
        });
        assertThat(retrying.get(5)).satisfies(e -> {
          assertThat(e.reason()).isEqualTo(TaskEvent.Reason.FAILED);
          assertThat(e.exitCode()).isNull();
          assertThat(e.error()).startsWith("Traceback (most recent call last):").endsWith("ValueError: bad value");
        });
        assertThat(alive(Files.readString(dir.resolve("child")).trim())).as("the timed-out runner's child").isFalse();

        List<String[]> runs = runs();
        // a fresh runner after each failed attempt, the same one otherwise
        for (int k = 1; k < runs.size(); k++) {
          String[] prev = runs.get(k - 1);
          boolean prevFailed = prev[1].equals("1") && Set.of("1", "3", "5").contains(prev[0]);
          assertThat(runs.get(k)[2]).as("pid of run %d after %s", k, String.join(" ", prev))
              .matches(pid -> prevFailed != pid.equals(prev[2]));
        }
        Set<String> pids = runs.stream().map(r -> r[2]).collect(Collectors.toCollection(LinkedHashSet::new));
        assertThat(pids).as("the first runner and one after each failure").hasSize(4);
        assertThat(w.log()).contains("[task 6] output of 6", "[task 0] output of 0")
            .contains("[task 1 stderr] dying", "exited with code 7 during the task")
            .contains("[task 1] attempt 1 failed (runner-exited, exit code 7); retrying as attempt 2")
            .contains("[task 3] attempt 1 failed (timeout, exit code 143); retrying as attempt 2")
            .contains("[task 5] attempt 1 failed (failed); retrying as attempt 2");
        assertThat(w.alive()).isTrue();
        assertThat(job.readyEverywhere()).isZero();
      }
    }
  }

  /**
   * What a runner writes during a task is logged under that task, the part of a line without its newline
   * too, although the runner answers (and gets the next task) before the worker has read its output.
   */
  @Test
  void eachLineARunnerWritesIsLoggedUnderItsTask() throws Exception {
    int n = 60;
    try (JobFixture job = new JobFixture(broker, persistent(2, Duration.ofMinutes(1), 0, Duration.ofSeconds(30)))) {
      List<String> task = Scripts.pythonProgram(dir, "task.py", String.join("\n",
          "for task in tasks():",
          "    print(f'output of {task.index}')",
          "    print(f'error of {task.index}', file=sys.stderr)",
          "    print(f'unfinished {task.index}', end='')"));
      job.publishTasks(n);
      try (WorkerProcess w = WorkerProcess.start("w1", job.workerEnv(1), dir, task)) {
        job.awaitSucceeded(n, Duration.ofMinutes(2), w);
        Pattern line = Pattern.compile("\\[task (\\d+)( stderr)?\\] (output of|error of|unfinished) (\\d+)$");
        Map<String, Integer> seen = new HashMap<>();
        for (String l : w.log().split("\n")) {
          Matcher m = line.matcher(l);
          if (m.find()) {
            assertThat(m.group(1)).as(l).isEqualTo(m.group(4));
            assertThat(m.group(2) != null).as(l).isEqualTo(m.group(3).equals("error of"));
            seen.merge(m.group(3) + " " + m.group(4), 1, Integer::sum);
          }
        }
        Set<String> expected = new HashSet<>();
        for (int i = 0; i < n; i++) {
          expected.addAll(List.of("output of " + i, "error of " + i, "unfinished " + i));
        }
        assertThat(seen.keySet()).as("every line of every task").isEqualTo(expected);
        assertThat(seen).as("each line once").allSatisfy((k, count) -> assertThat(count).as(k).isOne());
      }
    }
  }

  /** maxTasksPerProcess: a runner is told to exit after that many tasks, and a fresh one takes the next. */
  @Test
  void maxTasksPerProcessRecyclesTheRunner() throws Exception {
    try (JobFixture job = new JobFixture(broker, persistent(3, Duration.ofMinutes(1), 3, Duration.ofSeconds(30)))) {
      List<String> task = Scripts.pythonProgram(dir, "task.py", String.join("\n",
          "for task in tasks():",
          "    append('runs.log', f'{task.index} {task.attempt} {os.getpid()}')",
          "append('exits.log', str(os.getpid()))"));
      job.publishTasks(7);
      try (WorkerProcess w = WorkerProcess.start("w1", job.workerEnv(1), dir, task)) {
        job.awaitSucceeded(7, Duration.ofMinutes(2), w);
        List<String[]> runs = runs();
        assertThat(runs).hasSize(7);
        List<String> pids = runs.stream().map(r -> r[2]).toList();
        assertThat(pids.subList(0, 3)).containsOnly(pids.get(0));
        assertThat(pids.subList(3, 6)).containsOnly(pids.get(3));
        assertThat(Set.of(pids.get(0), pids.get(3), pids.get(6))).as("three runners").hasSize(3);
        // the recycled runners left their task loop and exited by themselves
        assertThat(Scripts.awaitLines(dir.resolve("exits.log"), 2, Duration.ofSeconds(10))).containsExactly(pids.get(0), pids.get(3));
        assertThat(ofType(job.events(), Type.RETRYING)).isEmpty();

        // shutdown: the idle runner is told there are no more tasks, and exits on its own
        w.term();
        assertThat(w.awaitExit(Duration.ofSeconds(20))).as(WorkerProcess.logs(w)).isZero();
        assertThat(Scripts.lines(dir.resolve("exits.log"))).containsExactly(pids.get(0), pids.get(3), pids.get(6));
        assertThat(alive(pids.get(6))).isFalse();
      }
    }
  }

  /**
   * serve(fn): an exception fails that attempt only, with its traceback, and the same process runs the
   * next task.
   */
  @Test
  void serveKeepsTheRunnerAcrossFailures() throws Exception {
    try (JobFixture job = new JobFixture(broker, persistent(2, Duration.ofMinutes(1), 0, Duration.ofSeconds(30)))) {
      List<String> task = Scripts.pythonProgram(dir, "task.py", String.join("\n",
          "def run(task):",
          "    append('runs.log', f'{task.index} {task.attempt} {os.getpid()}')",
          "    if task.attempt == 1 and task.index % 2 == 0:",
          "        raise KeyError(f'missing {task.index}')",
          "serve(run)"));
      job.publishTasks(4);
      try (WorkerProcess w = WorkerProcess.start("w1", job.workerEnv(1), dir, task)) {
        List<TaskEvent> events = job.awaitSucceeded(4, Duration.ofMinutes(1), w);
        assertThat(ofType(events, Type.RETRYING)).extracting(TaskEvent::index).containsExactlyInAnyOrder(0, 2);
        assertThat(ofType(events, Type.RETRYING)).allSatisfy(e -> {
          assertThat(e.reason()).isEqualTo(TaskEvent.Reason.FAILED);
          assertThat(e.error()).startsWith("Traceback (most recent call last):").endsWith("KeyError: 'missing " + e.index() + "'");
        });
        assertThat(runs()).hasSize(6);
        assertThat(runs().stream().map(r -> r[2]).distinct()).as("one runner for every task").hasSize(1);
      }
    }
  }

  /**
   * Protocol violations fail the attempt with reason protocol-error, naming what was wrong; the runner
   * is replaced and the worker runs on.
   */
  @Test
  void protocolViolationsFailTheAttemptNamingWhatWasWrong() throws Exception {
    try (JobFixture job = new JobFixture(broker, persistent(3, Duration.ofMinutes(1), 0, Duration.ofSeconds(30)))) {
      // a runner written against the protocol page, without the helper
      List<String> task = Scripts.pythonProgram(dir, "task.py", String.join("\n",
          "import socket",
          "s = socket.socket(socket.AF_UNIX); s.connect(os.environ['TRAINQ_RUNNER_SOCKET'])",
          "f = s.makefile('rb')",
          "s.sendall(b'{\"type\":\"ready\",\"protocol\":1}\\n')",
          "for line in f:",
          "    m = json.loads(line)",
          "    append('runs.log', f\"{m['index']} {m['attempt']} {os.getpid()}\")",
          "    if m['attempt'] == 1:",
          "        s.sendall(b'this is not json\\n')",
          "    elif m['attempt'] == 2:",
          "        s.sendall(json.dumps({'type': 'done', 'index': 999, 'attempt': 2}).encode() + b'\\n')",
          "    else:",
          "        s.sendall(json.dumps({'type': 'done', 'index': m['index'], 'attempt': m['attempt']}).encode() + b'\\n')"));
      job.publishTasks(1);
      try (WorkerProcess w = WorkerProcess.start("w1", job.workerEnv(1), dir, task)) {
        List<TaskEvent> events = job.awaitSucceeded(1, Duration.ofMinutes(1), w);
        assertThat(ofType(events, Type.RETRYING)).extracting(TaskEvent::attempt, TaskEvent::reason, TaskEvent::error)
            .containsExactly(
                org.assertj.core.groups.Tuple.tuple(1, TaskEvent.Reason.PROTOCOL_ERROR,
                    "runner protocol error: the runner sent a line that is not JSON (Unrecognized token 'this': was expecting "
                        + "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')): this is not json"),
                org.assertj.core.groups.Tuple.tuple(2, TaskEvent.Reason.PROTOCOL_ERROR,
                    "runner protocol error: the runner sent 'done' for index 999 attempt 2 during index 0 attempt 2"));
        assertThat(ofType(events, Type.SUCCEEDED)).singleElement().satisfies(e -> assertThat(e.attempt()).isEqualTo(3));
        assertThat(runs().stream().map(r -> r[2]).distinct()).as("a fresh runner after each violation").hasSize(3);
        assertThat(runs().stream().limit(2).map(r -> r[2])).allMatch(pid -> !alive(pid));
        assertThat(w.alive()).isTrue();
      }
    }
  }

  /** A runner that never connects is killed after spec.runner.startTimeout; one that exits first says so. */
  @Test
  void aRunnerThatNeverSaysReadyFailsClearly() throws Exception {
    try (JobFixture job = new JobFixture(broker, persistent(1, Duration.ofMinutes(1), 0, Duration.ofMillis(1500)))) {
      List<String> task = Scripts.sh(dir, "task.sh", String.join("\n",
          "if [ ! -e $D/second ]; then touch $D/second; echo $$ > $D/pid; echo 'loading' >&2; exec sleep 60; fi",
          "echo 'no trainq_task here' >&2; exit 4"));
      job.publishTasks(2);
      try (WorkerProcess w = WorkerProcess.start("w1", job.workerEnv(1), dir, task)) {
        List<JobFixture.DeadLetter> dead = job.awaitDeadLetters(2, Duration.ofMinutes(1), w);
        Map<String, String> errors = dead.stream().collect(Collectors.toMap(d -> d.header(Messages.REASON_HEADER),
            d -> d.header(Messages.ERROR_HEADER)));
        assertThat(errors).containsOnlyKeys(TaskEvent.Reason.RUNNER_NOT_READY, TaskEvent.Reason.RUNNER_EXITED);
        assertThat(errors.get(TaskEvent.Reason.RUNNER_NOT_READY)).isEqualTo(
            "the runner did not connect to TRAINQ_RUNNER_SOCKET within 1500 ms (spec.runner.startTimeout); stderr: loading");
        assertThat(errors.get(TaskEvent.Reason.RUNNER_EXITED)).isEqualTo(
            "the runner exited with code 4 before it connected to TRAINQ_RUNNER_SOCKET; stderr: no trainq_task here");
        assertThat(alive(Files.readString(dir.resolve("pid")).trim())).as("the runner that never connected").isFalse();
        assertThat(w.alive()).isTrue();
      }
    }
  }

  /**
   * Runner start-ups take turns, one per CPU (here the worker sees one): each runner is spawned only
   * once the one before said ready (within TRAINQ_RUNNER_START_TURN_MS), so they do not share the CPUs
   * and all get ready late together. The worker consumes once every runner is ready: no task starts
   * before the last runner said ready, and the tasks stay in the queue meanwhile (for other workers).
   */
  @Test
  void runnerStartUpsTakeTurnsOnePerCpuAndTheWorkerConsumesOnceAllAreReady() throws Exception {
    try (JobFixture job = new JobFixture(broker, persistent(1, Duration.ofMinutes(1), 0, Duration.ofSeconds(30)))) {
      List<String> task = Scripts.pythonProgram(dir, "task.py", String.join("\n",
          "started = time.time()",
          "time.sleep(0.4)  # a start-up: imports, a CUDA context",
          "append('startups.log', f'{os.getpid()} {started} {time.time()}')",
          "for task in tasks():",
          "    append('begins.log', str(time.time()))",
          "    append('runs.log', f'{task.index} {task.attempt} {os.getpid()}')",
          "    time.sleep(0.3)"));
      job.publishTasks(6);
      Map<String, String> env = new HashMap<>(job.workerEnv(3));
      env.put("JAVA_TOOL_OPTIONS", "-XX:ActiveProcessorCount=1");
      // turns without a time limit: a loaded machine may take longer than the default second per start-up
      env.put(io.trainq.protocol.WorkerEnv.RUNNER_START_TURN_MS, "60000");
      try (WorkerProcess w = WorkerProcess.start("w1", env, dir, task)) {
        job.awaitSucceeded(6, Duration.ofMinutes(1), w);
        List<double[]> startups = Scripts.lines(dir.resolve("startups.log")).stream()
            .map(l -> l.split(" ")).map(f -> new double[] {Double.parseDouble(f[1]), Double.parseDouble(f[2])})
            .sorted(java.util.Comparator.comparingDouble(s -> s[0])).toList();
        assertThat(startups).as("a runner per slot").hasSize(3);
        for (int k = 1; k < startups.size(); k++) {
          assertThat(startups.get(k)[0]).as("runner %d started after runner %d was ready", k, k - 1)
              .isGreaterThanOrEqualTo(startups.get(k - 1)[1]);
        }
        assertThat(runs().stream().map(r -> r[2]).distinct()).as("three runners ran the tasks").hasSize(3);
        double lastReady = startups.stream().mapToDouble(s -> s[1]).max().orElseThrow();
        assertThat(Scripts.lines(dir.resolve("begins.log")).stream().mapToDouble(Double::parseDouble).min().orElseThrow())
            .as("the first task began after the last runner was ready").isGreaterThanOrEqualTo(lastReady);
        assertThat(w.log()).containsSubsequence("the slots' runners are up", "consuming " + job.topology.taskQueue());
      }
    }
  }

  /**
   * Every slot's runner starts with the worker, also a slot that never gets a task; at shutdown that
   * idle runner is told there are no more tasks and leaves its loop by itself, like the busy one.
   */
  @Test
  void runnersStartWithTheWorkerAndAnIdleOneExitsByItselfAtShutdown() throws Exception {
    try (JobFixture job = new JobFixture(broker, persistent(1, Duration.ofMinutes(1), 0, Duration.ofSeconds(30)))) {
      List<String> task = Scripts.pythonProgram(dir, "task.py", String.join("\n",
          "append('starts.log', str(os.getpid()))",
          "for task in tasks():",
          "    append('runs.log', f'{task.index} {task.attempt} {os.getpid()}')",
          "append('exits.log', str(os.getpid()))"));
      job.publishTasks(1);
      try (WorkerProcess w = WorkerProcess.start("w1", job.workerEnv(2), dir, task)) {
        job.awaitSucceeded(1, Duration.ofMinutes(1), w);
        List<String> started = Scripts.awaitLines(dir.resolve("starts.log"), 2, Duration.ofSeconds(20));
        assertThat(started).as("a runner per slot, for one task").hasSize(2);
        assertThat(runs()).hasSize(1);
        w.term();
        assertThat(w.awaitExit(Duration.ofSeconds(20))).as(WorkerProcess.logs(w)).isZero();
        assertThat(Scripts.lines(dir.resolve("exits.log"))).as("both runners left their loop").containsExactlyInAnyOrderElementsOf(started);
      }
    }
  }

  /** The helper in Process mode: tasks() yields the one task of the environment, so one program serves both modes. */
  @Test
  void theHelperRunsTheTaskOfTheEnvironmentInProcessMode() throws Exception {
    try (JobFixture job = new JobFixture(broker, JobFixture.settings(1, Duration.ofMinutes(1)))) {
      List<String> task = Scripts.python(dir, "task.py", "append('runs.log', f\"{i} {a} {task.params['lr']} {os.getpid()}\")");
      job.publishTasks(3);
      try (WorkerProcess w = WorkerProcess.start("w1", job.workerEnv(1), dir, task)) {
        job.awaitSucceeded(3, Duration.ofMinutes(1), w);
        assertThat(runs()).extracting(r -> r[0] + " " + r[1] + " " + r[2]).containsExactlyInAnyOrder("0 1 0.1", "1 1 0.1", "2 1 0.1");
        assertThat(runs().stream().map(r -> r[3]).distinct()).as("a process per task").hasSize(3);
      }
    }
  }
}
