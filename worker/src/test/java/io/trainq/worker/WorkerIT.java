package io.trainq.worker;

import static io.trainq.worker.JobFixture.indexes;
import static io.trainq.worker.JobFixture.ofType;
import static io.trainq.worker.JobFixture.range;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.rabbitmq.client.AMQP;
import io.trainq.protocol.JobSettings;
import io.trainq.protocol.JobTopology;
import io.trainq.protocol.Messages;
import io.trainq.protocol.TaskEvent;
import io.trainq.protocol.TaskEvent.Type;
import io.trainq.protocol.WorkerEnv;
import io.trainq.testkit.RabbitBroker;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * The worker as a real process against a real RabbitMQ, with real task processes; each case in both
 * runner modes: a shell script per attempt, and a Python runner per slot (trainq_task.tasks()).
 */
@Tag("broker")
class WorkerIT {
  static RabbitBroker broker;

  @TempDir
  Path dir;

  @BeforeAll
  static void broker() {
    broker = RabbitBroker.single();
  }

  /** The original load scenario: 100 tasks, all processed once, each with its slot's GPUs and its parameters. */
  @ParameterizedTest
  @EnumSource(Scripts.Mode.class)
  void hundredTasksAllSucceedOnceEach(Scripts.Mode mode) throws Exception {
    try (JobFixture job = new JobFixture(broker, mode.apply(JobFixture.settings(3, Duration.ofMinutes(1))))) {
      job.publishTasks(100);
      Map<String, String> env = job.workerEnv(0);
      env.remove(WorkerEnv.SLOTS);
      env.put(WorkerEnv.GPUS, "0,1,2,3,4,5,6,7");
      env.put(WorkerEnv.GPUS_PER_TASK, "2");
      env.put(WorkerEnv.IDLE_TIMEOUT_MS, "1500");
      // the worker's temp directory is TMPDIR: one of this test's own, so what is left there is this worker's
      Path tmp = Files.createDirectories(dir.resolve("tmp"));
      env.put("TMPDIR", tmp.toString());
      List<String> task = mode.program(dir, "task",
          "echo \"$i $a $TRAINQ_TASK_SLOT $CUDA_VISIBLE_DEVICES $(cat $TRAINQ_TASK_PARAMS_FILE) $TRAINQ_TASK_PARAMS "
              + "${TRAINQ_RABBITMQ_PASSWORD:-no-password} $TRAINQ_JOB_NAME $TRAINQ_TASK_PARAMS_FILE "
              + "$(ls \"$(dirname $TRAINQ_TASK_PARAMS_FILE)\" | grep -c '^task-') $$\" >> $D/runs.log",
          String.join("\n",
              "e = os.environ",
              "pf = task.params_file",
              "assert task.params == json.loads(open(pf).read()) and pf == e['TRAINQ_TASK_PARAMS_FILE'], task",
              "files = len([f for f in os.listdir(os.path.dirname(pf)) if f.startswith('task-')])",
              "append('runs.log', ' '.join(str(x) for x in [i, a, e['TRAINQ_TASK_SLOT'], e['CUDA_VISIBLE_DEVICES'], open(pf).read(),",
              "    e['TRAINQ_TASK_PARAMS'], e.get('TRAINQ_RABBITMQ_PASSWORD', 'no-password'), e['TRAINQ_JOB_NAME'], pf, files,",
              "    os.getpid()]))"));
      try (WorkerProcess w = WorkerProcess.start("w1", env, dir, task)) {
        List<TaskEvent> events = job.awaitSucceeded(100, Duration.ofMinutes(2), w);
        // idle for 1.5 s with nothing ready: the worker exits 0 by itself
        assertThat(w.awaitExit(Duration.ofSeconds(30))).as(WorkerProcess.logs(w)).isZero();
        events = job.events();

        assertThat(ofType(events, Type.SUCCEEDED)).hasSize(100);
        assertThat(indexes(events, Type.SUCCEEDED)).isEqualTo(range(100));
        assertThat(ofType(events, Type.STARTED)).hasSize(100);
        assertThat(events).allMatch(e -> e.attempt() == 1).allMatch(e -> e.worker().equals("w1"))
            .allMatch(e -> e.jobUid().equals(job.topology.uid()) && e.jobKey().equals(job.topology.key()));
        assertThat(ofType(events, Type.SUCCEEDED)).allMatch(e -> e.exitCode() == 0 && e.durationMs() != null
            && Math.abs(e.gpuSeconds() - 2 * e.durationMs() / 1000.0) < 0.01);
        assertThat(job.deadLetters()).isEmpty();
        assertThat(job.readyEverywhere()).isZero();

        List<String> runs = Scripts.lines(dir.resolve("runs.log"));
        assertThat(runs).hasSize(100);
        Set<Integer> seen = new HashSet<>();
        Map<String, Set<String>> pidsBySlot = new HashMap<>();
        for (String line : runs) {
          String[] f = line.split(" ");
          int i = Integer.parseInt(f[0]);
          int slot = Integer.parseInt(f[2]);
          assertThat(seen.add(i)).as("index %d ran once", i).isTrue();
          assertThat(f[1]).isEqualTo("1");
          assertThat(slot).isBetween(0, 3);
          assertThat(f[3]).isEqualTo((2 * slot) + "," + (2 * slot + 1));
          String params = "{\"index\":" + i + ",\"lr\":0.1}";
          assertThat(f[4]).as("the parameters file").isEqualTo(params);
          assertThat(f[5]).as("TRAINQ_TASK_PARAMS").isEqualTo(params);
          assertThat(f[6]).as("the broker password is not passed to tasks").isEqualTo("no-password");
          assertThat(f[7]).isEqualTo(job.topology.name());
          assertThat(Path.of(f[8]).getParent()).as("the parameters file's directory").isEqualTo(tmp.resolve("trainq-worker-" + w.pid()));
          // the parameter files are deleted after each task: at most one per slot at any time
          assertThat(Integer.parseInt(f[9])).as("parameter files beside index %d's", i).isBetween(1, 4);
          pidsBySlot.computeIfAbsent(f[2], k -> new HashSet<>()).add(f[10]);
        }
        long processes = pidsBySlot.values().stream().mapToLong(Set::size).sum();
        if (mode == Scripts.Mode.PROCESS) {
          assertThat(processes).as("a process per task").isEqualTo(100);
        } else {
          // one runner per slot ran every task of its slot
          assertThat(pidsBySlot.values()).as("runner pids by slot").allMatch(p -> p.size() == 1);
          assertThat(processes).isBetween(1L, 4L);
        }
        assertThat(w.log()).contains("status: tasks processed 100 (succeeded 100, retried 0, dead-lettered 0")
            .contains("[task 7] attempt 1 started on slot").doesNotContain(RabbitBroker.PASSWORD + "@");
        // and the worker's directory for them when it exits
        try (var left = Files.list(tmp)) {
          assertThat(left).as("the worker's temp directory after it exited").isEmpty();
        }
      }
    }
  }

  /** The original retry scenario: tasks fail 20% of the time; every one ends succeeded, through the retry queues. */
  @ParameterizedTest
  @EnumSource(Scripts.Mode.class)
  void tasksFailing20PercentOfTheTimeAllEndSucceeded(Scripts.Mode mode) throws Exception {
    int maxAttempts = 5;
    try (JobFixture job = new JobFixture(broker, mode.apply(JobFixture.settings(maxAttempts, Duration.ofMinutes(1))))) {
      // which (index, attempt) fail: 20% of attempts 1..4, never the 5th, drawn once so the outcome is exact
      Random random = new Random(20);
      Map<Integer, Integer> firstSuccess = new HashMap<>();
      List<String> failing = new ArrayList<>();
      for (int i = 0; i < 100; i++) {
        int a = 1;
        while (a < maxAttempts && random.nextDouble() < 0.2) {
          failing.add(i + " " + a);
          a++;
        }
        firstSuccess.put(i, a);
      }
      Files.write(dir.resolve("fail.txt"), failing);
      List<String> task = mode.program(dir, "task",
          "if grep -qx \"$i $a\" $D/fail.txt; then echo \"boom $i $a\" >&2; exit 1; fi",
          String.join("\n",
              "if f'{i} {a}' in open(D + '/fail.txt').read().splitlines():",
              "    raise RuntimeError(f'boom {i} {a}')"));
      job.publishTasks(100);
      try (WorkerProcess w = WorkerProcess.start("w1", job.workerEnv(4), dir, task)) {
        List<TaskEvent> events = job.awaitSucceeded(100, Duration.ofMinutes(2), w);
        Thread.sleep(300);
        events = job.events();
        assertThat(indexes(events, Type.SUCCEEDED)).isEqualTo(range(100));
        assertThat(ofType(events, Type.SUCCEEDED)).hasSize(100)
            .allMatch(e -> e.attempt() == firstSuccess.get(e.index()), "succeeded at the first attempt that does not fail");
        List<String> retried = ofType(events, Type.RETRYING).stream().map(e -> e.index() + " " + e.attempt()).sorted().toList();
        assertThat(retried).isEqualTo(failing.stream().sorted().toList());
        if (mode == Scripts.Mode.PROCESS) {
          assertThat(ofType(events, Type.RETRYING)).allMatch(e -> e.exitCode() == 1 && TaskEvent.Reason.FAILED.equals(e.reason())
              && e.error().equals("boom " + e.index() + " " + e.attempt()));
        } else {
          // the runner's answer: the traceback of the exception, no exit code
          assertThat(ofType(events, Type.RETRYING)).allMatch(e -> e.exitCode() == null && TaskEvent.Reason.FAILED.equals(e.reason())
              && e.error().startsWith("Traceback (most recent call last):")
              && e.error().endsWith("RuntimeError: boom " + e.index() + " " + e.attempt()), "failed with the traceback");
        }
        assertThat(ofType(events, Type.DEAD_LETTERED)).isEmpty();
        assertThat(job.deadLetters()).isEmpty();
        assertThat(job.readyEverywhere()).isZero();
        assertThat(failing).as("the draw made some tasks fail").hasSizeGreaterThan(10);
      }
    }
  }

  /**
   * The original crash scenario: 5% of tasks kill their worker (SIGKILL) mid-task, once each; the test
   * restarts the worker as the kubelet would. Nothing is lost and no retry budget is spent.
   */
  @ParameterizedTest
  @EnumSource(Scripts.Mode.class)
  void workersKilledMidTaskLoseNothing(Scripts.Mode mode) throws Exception {
    try (JobFixture job = new JobFixture(broker, mode.apply(JobFixture.settings(2, Duration.ofMinutes(1))))) {
      List<Integer> kill = new ArrayList<>(range(100));
      java.util.Collections.shuffle(kill, new Random(5));
      kill = kill.subList(0, 5);
      Files.write(dir.resolve("kill.txt"), kill.stream().map(String::valueOf).toList());
      List<String> task = mode.program(dir, "task", String.join("\n",
          "echo \"start $i $a\" >> $D/runs.log",
          "if grep -qx \"$i\" $D/kill.txt && mkdir $D/killed-$i 2>/dev/null; then",
          "  sleep 0.1; echo \"$i $PPID\" >> $D/kills.log; kill -9 $PPID; exit 1",
          "fi",
          "sleep 0.02",
          "echo \"end $i\" >> $D/runs.log"), String.join("\n",
          "append('runs.log', f'start {i} {a}')",
          "if str(i) in open(D + '/kill.txt').read().split() and first(f'killed-{i}'):",
          "    time.sleep(0.1); append('kills.log', f'{i} {WORKER}'); kill_worker(); sys.exit(1)",
          "time.sleep(0.02)",
          "append('runs.log', f'end {i}')"));
      job.publishTasks(100);
      Map<String, String> env = job.workerEnv(4);
      env.put(WorkerEnv.IDLE_TIMEOUT_MS, "2000");
      List<Integer> exits = new ArrayList<>();
      WorkerProcess w = WorkerProcess.start("w1", env, dir, task);
      try {
        long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
        while (true) {
          if (!w.alive()) {
            int code = w.process.exitValue();
            exits.add(code);
            if (code == 0) {
              break;
            }
            // restartPolicy: OnFailure
            w = WorkerProcess.start("w1", env, dir, task);
          }
          if (System.nanoTime() > deadline) {
            throw new AssertionError("not done in time; exits " + exits + "; " + JobFixture.summary(job.events()) + WorkerProcess.logs(w));
          }
          Thread.sleep(50);
        }
      } finally {
        w.close();
      }
      List<TaskEvent> events = job.events();
      // Each chosen task killed its worker once; two of them in one worker's lifetime make one crash.
      List<String> kills = Scripts.lines(dir.resolve("kills.log"));
      assertThat(kills.stream().map(l -> Integer.parseInt(l.split(" ")[0])).sorted().toList()).isEqualTo(kill.stream().sorted().toList());
      long crashed = kills.stream().map(l -> l.split(" ")[1]).distinct().count();
      List<Integer> expected = new ArrayList<>(java.util.Collections.nCopies((int) crashed, 137));
      expected.add(0);
      assertThat(exits).as("a SIGKILL per killed worker, then an idle exit").isEqualTo(expected);
      assertThat(indexes(events, Type.SUCCEEDED)).isEqualTo(range(100));
      assertThat(ofType(events, Type.SUCCEEDED)).as("a crash does not spend the retry budget").allMatch(e -> e.attempt() == 1);
      assertThat(ofType(events, Type.RETRYING)).isEmpty();
      assertThat(ofType(events, Type.DEAD_LETTERED)).isEmpty();
      assertThat(job.deadLetters()).isEmpty();
      assertThat(job.readyEverywhere()).isZero();
      List<String> runs = Scripts.lines(dir.resolve("runs.log"));
      for (int i : kill) {
        assertThat(runs.stream().filter(l -> l.equals("start " + i + " 1")).count()).as("task %d ran again after the crash", i)
            .isGreaterThanOrEqualTo(2);
        assertThat(runs).contains("end " + i);
      }
    }
  }

  /**
   * A task that kills its worker every time never spends its retry budget, but the queue's delivery
   * limit ends it: after limit + 1 deliveries the broker dead-letters it with reason delivery_limit.
   */
  @ParameterizedTest
  @EnumSource(Scripts.Mode.class)
  void aTaskThatAlwaysKillsItsWorkerIsEndedByTheDeliveryLimit(Scripts.Mode mode) throws Exception {
    int limit = 2;
    JobSettings settings = new JobSettings(3, Duration.ofMillis(50), Duration.ofMillis(200), Duration.ofMinutes(1), null, limit);
    try (JobFixture job = new JobFixture(broker, mode.apply(settings))) {
      List<String> task = mode.program(dir, "task", "echo \"run $i $a\" >> $D/runs.log; kill -9 $PPID; sleep 1",
          "append('runs.log', f'run {i} {a}'); kill_worker(); time.sleep(1)");
      job.publishTasks(1);
      List<Integer> exits = new ArrayList<>();
      WorkerProcess w = WorkerProcess.start("w1", job.workerEnv(1), dir, task);
      try {
        long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
        while (job.deadLetters().isEmpty()) {
          if (!w.alive()) {
            exits.add(w.process.exitValue());
            w = WorkerProcess.start("w1", job.workerEnv(1), dir, task);
          }
          assertThat(System.nanoTime()).as("dead-lettered in time; exits " + exits + WorkerProcess.logs(w)).isLessThan(deadline);
          Thread.sleep(50);
        }
        if (w.process.waitFor(5, java.util.concurrent.TimeUnit.SECONDS)) {
          // the last crash, seen after its dead letter
          exits.add(w.process.exitValue());
        }
      } finally {
        w.close();
      }
      JobFixture.DeadLetter d = job.deadLetters().get(0);
      assertThat(d.task().index()).isZero();
      assertThat(d.task().attempt()).as("crashes do not spend the retry budget").isEqualTo(1);
      assertThat(d.header(Messages.REASON_HEADER)).as("dead-lettered by the broker, not the worker").isNull();
      assertThat(d.header("x-first-death-reason")).isEqualTo("delivery_limit");
      assertThat(Scripts.lines(dir.resolve("runs.log"))).as("ran limit + 1 times").hasSize(limit + 1).allMatch(l -> l.equals("run 0 1"));
      assertThat(exits).hasSize(limit + 1).allMatch(c -> c == 137);
      List<TaskEvent> events = job.events();
      assertThat(events).noneMatch(e -> e.type() == Type.SUCCEEDED || e.type() == Type.RETRYING || e.type() == Type.DEAD_LETTERED);
      assertThat(job.readyEverywhere()).isZero();
    }
  }

  /**
   * A task that kills its worker every time takes no other task to the delivery limit with it. The
   * broker counts a delivery against every message a dead consumer held; the returned messages come
   * back together, and a restarted worker that started them together again would have them killed,
   * and counted, beside the killer each time. On probation (holding one delivery while it gets
   * redeliveries) each returned task runs alone: only the killer reaches the limit.
   * ({@code TRAINQ_PROBATION_MS=0} makes this fail: tasks 1-4 are dead-lettered with task 0.)
   */
  @ParameterizedTest
  @EnumSource(Scripts.Mode.class)
  void aTaskThatKillsItsWorkerEveryTimeTakesNoOtherTaskWithIt(Scripts.Mode mode) throws Exception {
    int limit = 3;
    int tasks = 8;
    JobSettings settings = new JobSettings(3, Duration.ofMillis(50), Duration.ofMillis(200), Duration.ofMinutes(1), null, limit);
    try (JobFixture job = new JobFixture(broker, mode.apply(settings))) {
      List<String> task = mode.program(dir, "task",
          "if [ \"$i\" = 0 ]; then kill -9 $PPID; sleep 1; fi; echo \"run $i $a\" >> $D/runs.log; sleep 0.3",
          "if i == 0:\n    kill_worker(); time.sleep(1)\nappend('runs.log', f'run {i} {a}'); time.sleep(0.3)");
      job.publishTasks(tasks);
      Map<String, String> env = job.workerEnv(4);
      List<Integer> exits = new ArrayList<>();
      WorkerProcess w = WorkerProcess.start("w1", env, dir, task);
      try {
        long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
        while (job.deadLetters().isEmpty() || ofType(job.events(), Type.SUCCEEDED).size() < tasks - 1) {
          if (!w.alive()) {
            exits.add(w.process.exitValue());
            w = WorkerProcess.start("w1", env, dir, task);
          }
          assertThat(System.nanoTime()).as("done in time; exits " + exits + ", dead letters " + job.deadLetters().size()
              + WorkerProcess.logs(w)).isLessThan(deadline);
          Thread.sleep(50);
        }
        // the killer's last crash, seen after its dead letter (the other tasks may all have succeeded before it)
        if (w.process.waitFor(5, java.util.concurrent.TimeUnit.SECONDS)) {
          exits.add(w.process.exitValue());
        }
      } finally {
        w.close();
      }
      List<JobFixture.DeadLetter> dead = job.deadLetters();
      assertThat(dead).as("only the task that kills its worker").hasSize(1);
      assertThat(dead.get(0).task().index()).isZero();
      assertThat(dead.get(0).header("x-first-death-reason")).isEqualTo("delivery_limit");
      List<TaskEvent> succeeded = ofType(job.events(), Type.SUCCEEDED);
      assertThat(succeeded.stream().map(TaskEvent::index).sorted().toList()).isEqualTo(List.of(1, 2, 3, 4, 5, 6, 7));
      assertThat(exits).as("the killer's runs: the first, then one per redelivery up to the limit").hasSize(limit + 1)
          .allMatch(c -> c == 137);
      assertThat(job.readyEverywhere()).isZero();
    }
  }

  /** A task that always fails is dead-lettered once its budget is spent, with the reason, exit code and stderr. */
  @ParameterizedTest
  @EnumSource(Scripts.Mode.class)
  void retryBudgetExhaustedIsDeadLetteredWithTheReason(Scripts.Mode mode) throws Exception {
    try (JobFixture job = new JobFixture(broker, mode.apply(JobFixture.settings(3, Duration.ofMinutes(1))))) {
      List<String> task = mode.program(dir, "task", "echo 'Traceback (most recent call last):' >&2; echo \"boom $i\" >&2; exit 3",
          "raise RuntimeError(f'boom {i}')");
      job.publishTasks(3);
      try (WorkerProcess w = WorkerProcess.start("w1", job.workerEnv(2), dir, task)) {
        List<JobFixture.DeadLetter> dead = job.awaitDeadLetters(3, Duration.ofMinutes(1), w);
        List<TaskEvent> events = job.awaitEvents(e -> ofType(e, Type.DEAD_LETTERED).size() == 3, Duration.ofSeconds(30), w);
        Thread.sleep(300);
        assertThat(job.deadLetters()).hasSize(3);
        assertThat(dead.stream().map(d -> {
          try {
            return d.task().index();
          } catch (Exception e) {
            throw new AssertionError(e);
          }
        }).collect(Collectors.toSet())).isEqualTo(Set.of(0, 1, 2));
        for (JobFixture.DeadLetter d : dead) {
          int i = d.task().index();
          assertThat(d.task().attempt()).isEqualTo(3);
          assertThat(d.header(Messages.REASON_HEADER)).isEqualTo("failed");
          if (mode == Scripts.Mode.PROCESS) {
            assertThat(d.header(Messages.EXIT_CODE_HEADER)).isEqualTo("3");
            assertThat(d.header(Messages.ERROR_HEADER)).isEqualTo("Traceback (most recent call last):\nboom " + i);
          } else {
            assertThat(d.header(Messages.EXIT_CODE_HEADER)).isNull();
            assertThat(d.header(Messages.ERROR_HEADER)).startsWith("Traceback (most recent call last):\n")
                .endsWith("\nRuntimeError: boom " + i);
          }
          assertThat(d.header(Messages.WORKER_HEADER)).isEqualTo("w1");
          assertThat(d.props().getMessageId()).isEqualTo(job.topology.taskMessageId(i));
          assertThat(d.props().getType()).isEqualTo(Messages.TASK_TYPE);
        }
        events = job.events();
        for (int i = 0; i < 3; i++) {
          int index = i;
          assertThat(events.stream().filter(e -> e.index() == index && e.type() == Type.RETRYING).map(TaskEvent::attempt).sorted().toList())
              .containsExactly(1, 2);
          assertThat(events).filteredOn(e -> e.index() == index && e.type() == Type.DEAD_LETTERED).singleElement()
              .satisfies(e -> {
                assertThat(e.attempt()).isEqualTo(3);
                assertThat(e.exitCode()).isEqualTo(mode == Scripts.Mode.PROCESS ? 3 : null);
                assertThat(e.reason()).isEqualTo("failed");
                assertThat(e.error()).endsWith("boom " + index);
              });
        }
        assertThat(ofType(events, Type.SUCCEEDED)).isEmpty();
        assertThat(job.readyEverywhere()).isZero();
        assertThat(w.alive()).isTrue();
      }
    }
  }

  /** SIGTERM: the consumer stops, running tasks finish within the grace and are acked; exit 0. */
  @ParameterizedTest
  @EnumSource(Scripts.Mode.class)
  void sigtermLetsRunningTasksFinishWithinTheGrace(Scripts.Mode mode) throws Exception {
    try (JobFixture job = new JobFixture(broker, mode.apply(JobFixture.settings(3, Duration.ofMinutes(1))))) {
      List<String> task = mode.program(dir, "task", "sleep 1.5; echo \"end $i\" >> $D/runs.log",
          "time.sleep(1.5); append('runs.log', f'end {i}')");
      job.publishTasks(4);
      try (WorkerProcess w = WorkerProcess.start("w1", job.workerEnv(2), dir, task)) {
        job.awaitEvents(e -> ofType(e, Type.STARTED).size() == 2, Duration.ofSeconds(30), w);
        w.term();
        assertThat(w.awaitExit(Duration.ofSeconds(20))).as(WorkerProcess.logs(w)).isZero();
        List<TaskEvent> events = job.events();
        assertThat(ofType(events, Type.SUCCEEDED)).hasSize(2);
        assertThat(indexes(events, Type.SUCCEEDED)).isEqualTo(indexes(events, Type.STARTED));
        assertThat(ofType(events, Type.REQUEUED)).isEmpty();
        assertThat(job.readyEverywhere()).as("the two tasks never started are still in the queue").isEqualTo(2);
        assertThat(Scripts.lines(dir.resolve("runs.log"))).hasSize(2);
      }
    }
  }

  /**
   * SIGTERM with tasks that outlast the grace: they are killed, REQUEUED, and returned to the queue
   * without spending their budget; the next worker runs them as the same attempt.
   */
  @ParameterizedTest
  @EnumSource(Scripts.Mode.class)
  void sigtermRequeuesTasksThatOutlastTheGrace(Scripts.Mode mode) throws Exception {
    try (JobFixture job = new JobFixture(broker, mode.apply(JobFixture.settings(2, Duration.ofMinutes(1))))) {
      List<String> task = mode.program(dir, "task", String.join("\n",
          "if mkdir $D/ran-$i 2>/dev/null; then echo $$ > $D/pid-$i; sleep 60; fi",
          "echo \"done $i $a\" >> $D/runs.log"), String.join("\n",
          "if first(f'ran-{i}'):",
          "    append(f'pid-{i}', str(os.getpid())); time.sleep(60)",
          "append('runs.log', f'done {i} {a}')"));
      job.publishTasks(2);
      Map<String, String> env = job.workerEnv(2);
      env.put(WorkerEnv.SHUTDOWN_GRACE_MS, "500");
      try (WorkerProcess w = WorkerProcess.start("w1", env, dir, task)) {
        job.awaitEvents(e -> ofType(e, Type.STARTED).size() == 2, Duration.ofSeconds(30), w);
        awaitPidFile(dir, 0);
        awaitPidFile(dir, 1);
        long t0 = System.nanoTime();
        w.term();
        assertThat(w.awaitExit(Duration.ofSeconds(30))).as(WorkerProcess.logs(w)).isZero();
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).as("grace + SIGTERM to the tasks").isLessThan(Duration.ofSeconds(10));
        List<TaskEvent> events = job.events();
        assertThat(ofType(events, Type.REQUEUED)).hasSize(2)
            .allMatch(e -> e.attempt() == 1 && TaskEvent.Reason.SHUTDOWN.equals(e.reason()) && e.durationMs() >= 400);
        assertThat(ofType(events, Type.SUCCEEDED)).isEmpty();
        assertThat(job.readyEverywhere()).as("both back in the task queue").isEqualTo(2);
        for (int i = 0; i < 2; i++) {
          long pid = Long.parseLong(Files.readString(dir.resolve("pid-" + i)).trim());
          assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)).as("task %d's process was stopped", i).isFalse();
        }
      }
      try (WorkerProcess w2 = WorkerProcess.start("w2", job.workerEnv(2), dir, task)) {
        List<TaskEvent> events = job.awaitSucceeded(2, Duration.ofSeconds(30), w2);
        assertThat(ofType(events, Type.SUCCEEDED)).allMatch(e -> e.attempt() == 1 && e.worker().equals("w2"));
        assertThat(ofType(events, Type.RETRYING)).isEmpty();
      }
    }
  }

  /** Past the task timeout the whole process tree is killed, and the attempt counts against the budget. */
  @ParameterizedTest
  @EnumSource(Scripts.Mode.class)
  void taskTimeoutKillsTheProcessTreeAndSpendsTheBudget(Scripts.Mode mode) throws Exception {
    try (JobFixture job = new JobFixture(broker, mode.apply(JobFixture.settings(2, Duration.ofMillis(1000))))) {
      List<String> task = mode.program(dir, "task", "sleep 300 & echo $! > $D/child-$i-$a; echo 'working' >&2; wait",
          "p = subprocess.Popen(['sleep', '300']); append(f'child-{i}-{a}', str(p.pid)); print('working', file=sys.stderr); p.wait()");
      job.publishTasks(1);
      try (WorkerProcess w = WorkerProcess.start("w1", job.workerEnv(1), dir, task)) {
        List<JobFixture.DeadLetter> dead = job.awaitDeadLetters(1, Duration.ofSeconds(60), w);
        assertThat(dead.get(0).header(Messages.REASON_HEADER)).isEqualTo("timeout");
        assertThat(dead.get(0).header(Messages.ERROR_HEADER)).isEqualTo("timed out after 1000 ms; stderr: working");
        assertThat(dead.get(0).task().attempt()).isEqualTo(2);
        List<TaskEvent> events = job.awaitEvents(e -> ofType(e, Type.DEAD_LETTERED).size() == 1, Duration.ofSeconds(10), w);
        assertThat(ofType(events, Type.RETRYING)).singleElement()
            .satisfies(e -> assertThat(e.reason()).isEqualTo("timeout"))
            .satisfies(e -> assertThat(e.durationMs()).isBetween(1000L, 9000L));
        assertThat(ofType(events, Type.DEAD_LETTERED)).singleElement().satisfies(e -> {
          assertThat(e.reason()).isEqualTo("timeout");
          assertThat(e.attempt()).isEqualTo(2);
        });
        for (int a = 1; a <= 2; a++) {
          long child = Long.parseLong(Files.readString(dir.resolve("child-0-" + a)).trim());
          assertThat(ProcessHandle.of(child).map(ProcessHandle::isAlive).orElse(false)).as("the task's child (attempt %d)", a).isFalse();
        }
      }
    }
  }

  /** Bad input is dead-lettered at once with the reason; the worker keeps running and runs good tasks. */
  @ParameterizedTest
  @EnumSource(Scripts.Mode.class)
  void malformedMessagesAreDeadLetteredAndTheWorkerKeepsRunning(Scripts.Mode mode) throws Exception {
    try (JobFixture job = new JobFixture(broker, mode.apply(JobFixture.settings(3, Duration.ofMinutes(1))))) {
      List<String> task = mode.program(dir, "task", "echo \"ran $i\" >> $D/runs.log", "append('runs.log', f'ran {i}')");
      try (WorkerProcess w = WorkerProcess.start("w1", job.workerEnv(2), dir, task)) {
        AMQP.BasicProperties plain = new AMQP.BasicProperties.Builder().deliveryMode(2).messageId(job.topology.uid() + ":7").build();
        job.publishRaw(plain, "this is not json".getBytes(StandardCharsets.UTF_8));
        job.publishRaw(new AMQP.BasicProperties.Builder().deliveryMode(2).build(),
            ("{\"schema\":99,\"jobUid\":\"" + job.topology.uid() + "\",\"index\":1,\"attempt\":1}").getBytes(StandardCharsets.UTF_8));
        job.publishRaw(new AMQP.BasicProperties.Builder().deliveryMode(2).build(),
            ("{\"schema\":1,\"jobUid\":\"" + job.topology.uid() + "\",\"attempt\":1}").getBytes(StandardCharsets.UTF_8));
        job.publishRaw(new AMQP.BasicProperties.Builder().deliveryMode(2).build(),
            "{\"schema\":1,\"jobUid\":\"another-job\",\"index\":2,\"attempt\":1}".getBytes(StandardCharsets.UTF_8));
        job.publishRaw(new AMQP.BasicProperties.Builder().deliveryMode(2).messageId(job.topology.uid() + ":" + JobFixture.TASK_COUNT).build(),
            ("{\"schema\":1,\"jobUid\":\"" + job.topology.uid() + "\",\"index\":" + JobFixture.TASK_COUNT + ",\"attempt\":1}")
                .getBytes(StandardCharsets.UTF_8));
        job.publishRaw(new AMQP.BasicProperties.Builder().deliveryMode(2).build(),
            ("{\"schema\":1,\"jobUid\":\"" + job.topology.uid() + "\",\"index\":4,\"attempt\":4}").getBytes(StandardCharsets.UTF_8));
        job.publishTask(3, JsonNodeFactory.instance.objectNode());
        job.channel().waitForConfirmsOrDie(10_000);

        List<JobFixture.DeadLetter> dead = job.awaitDeadLetters(6, Duration.ofSeconds(30), w);
        job.awaitSucceeded(1, Duration.ofSeconds(30), w);
        assertThat(dead).allMatch(d -> "malformed".equals(d.header(Messages.REASON_HEADER)))
            .allMatch(d -> "w1".equals(d.header(Messages.WORKER_HEADER)));
        assertThat(dead.stream().map(d -> d.header(Messages.ERROR_HEADER)).toList()).containsExactlyInAnyOrder(
            "body is not valid JSON: Unrecognized token 'this': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')",
            "unknown schema version 99 (this worker reads 1)",
            "missing field: index",
            "task of job uid another-job on the queue of job uid " + job.topology.uid(),
            "index " + JobFixture.TASK_COUNT + " is not a task of the job (it has " + JobFixture.TASK_COUNT + " tasks, 0-"
                + (JobFixture.TASK_COUNT - 1) + ")",
            "attempt 4 is beyond the job's retry budget of 3 attempts");
        assertThat(dead).anyMatch(d -> new String(d.body(), StandardCharsets.UTF_8).equals("this is not json"));
        List<TaskEvent> events = job.events();
        // a message that is not a task speaks for none: no event names an index for it, and nothing ran
        assertThat(ofType(events, Type.DEAD_LETTERED)).isEmpty();
        assertThat(ofType(events, Type.STARTED)).extracting(TaskEvent::index).containsExactly(3);
        assertThat(indexes(events, Type.SUCCEEDED)).containsExactly(3);
        assertThat(w.alive()).isTrue();
        assertThat(job.readyEverywhere()).isZero();
        w.term();
        assertThat(w.awaitExit(Duration.ofSeconds(20))).isZero();
      }
    }
  }

  /**
   * Garbage carrying a real task's message id, published while that task waits out its backoff, is
   * dead-lettered on its own: the real task's next attempt still runs and succeeds.
   */
  @ParameterizedTest
  @EnumSource(Scripts.Mode.class)
  void aMalformedMessageWithARealTasksIdNeverEndsThatTask(Scripts.Mode mode) throws Exception {
    JobSettings slowRetry = new JobSettings(3, Duration.ofSeconds(3), Duration.ofSeconds(3), Duration.ofMinutes(1), null, 10);
    try (JobFixture job = new JobFixture(broker, mode.apply(slowRetry))) {
      List<String> task = mode.program(dir, "task",
          "echo \"ran $i $TRAINQ_TASK_ATTEMPT\" >> $D/runs.log; [ \"$TRAINQ_TASK_ATTEMPT\" = 1 ] && exit 3; exit 0",
          "append('runs.log', f'ran {i} {os.environ[\"TRAINQ_TASK_ATTEMPT\"]}')\nif a == 1:\n    raise RuntimeError('first attempt')");
      try (WorkerProcess w = WorkerProcess.start("w1", job.workerEnv(1), dir, task)) {
        job.publishTask(1, JsonNodeFactory.instance.objectNode());
        job.channel().waitForConfirmsOrDie(10_000);
        job.awaitEvents(e -> ofType(e, Type.RETRYING).size() == 1, Duration.ofSeconds(30), w);
        Map<String, Object> headers = Map.of(Messages.ATTEMPT_HEADER, 2);
        job.publishRaw(new AMQP.BasicProperties.Builder().deliveryMode(2).messageId(job.topology.uid() + ":1").headers(headers).build(),
            "garbage".getBytes(StandardCharsets.UTF_8));

        List<JobFixture.DeadLetter> dead = job.awaitDeadLetters(1, Duration.ofSeconds(30), w);
        List<TaskEvent> events = job.awaitSucceeded(1, Duration.ofSeconds(30), w);
        assertThat(new String(dead.get(0).body(), StandardCharsets.UTF_8)).isEqualTo("garbage");
        assertThat(ofType(events, Type.DEAD_LETTERED)).isEmpty();
        assertThat(ofType(events, Type.SUCCEEDED)).singleElement()
            .satisfies(e -> assertThat(e.index()).isEqualTo(1))
            .satisfies(e -> assertThat(e.attempt()).isEqualTo(2));
        assertThat(Files.readAllLines(dir.resolve("runs.log"))).containsExactly("ran 1 1", "ran 1 2");
        w.term();
        assertThat(w.awaitExit(Duration.ofSeconds(20))).isZero();
      }
    }
  }

  /** The job's queue deleted: the consumer is cancelled, running tasks stop, the worker exits 0. */
  @ParameterizedTest
  @EnumSource(Scripts.Mode.class)
  void aDeletedQueueEndsTheWorkerCleanly(Scripts.Mode mode) throws Exception {
    try (JobFixture job = new JobFixture(broker, mode.apply(JobFixture.settings(3, Duration.ofMinutes(1))))) {
      List<String> task = mode.program(dir, "task", "echo $$ > $D/pid-$i; sleep 60",
          "append(f'pid-{i}', str(os.getpid())); time.sleep(60)");
      job.publishTasks(1);
      try (WorkerProcess w = WorkerProcess.start("w1", job.workerEnv(1), dir, task)) {
        job.awaitEvents(e -> ofType(e, Type.STARTED).size() == 1, Duration.ofSeconds(30), w);
        Path pidFile = awaitPidFile(dir, 0);
        job.channel().queueDelete(job.topology.taskQueue());
        assertThat(w.awaitExit(Duration.ofSeconds(20))).as(WorkerProcess.logs(w)).isZero();
        assertThat(w.log()).contains("was deleted");
        // the accounting learns that it no longer runs (no attempt spent), so its republishing takes it too
        List<TaskEvent> requeued = ofType(job.awaitEvents(e -> ofType(e, Type.REQUEUED).size() == 1, Duration.ofSeconds(10), w),
            Type.REQUEUED);
        assertThat(requeued).singleElement().satisfies(e -> {
          assertThat(e.index()).isZero();
          assertThat(e.attempt()).isEqualTo(1);
          assertThat(e.reason()).isEqualTo(TaskEvent.Reason.QUEUE_DELETED);
        });
        long pid = Long.parseLong(Files.readString(pidFile).trim());
        assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)).isFalse();
      }
    }
  }

  /**
   * The pid file a test program writes first: STARTED goes out as the task is handed over (to a new
   * process, or to a persistent runner), and the program writes its pid a moment later.
   */
  static Path awaitPidFile(Path dir, int index) throws Exception {
    Path f = dir.resolve("pid-" + index);
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (!(Files.exists(f) && !Files.readString(f).isBlank())) {
      assertThat(System.nanoTime()).as("%s written", f).isLessThan(deadline);
      Thread.sleep(50);
    }
    return f;
  }

  /** Nothing to do and nothing ready: exit 0 after the idle timeout, freeing the GPUs. */
  @ParameterizedTest
  @EnumSource(Scripts.Mode.class)
  void anIdleWorkerExits(Scripts.Mode mode) throws Exception {
    try (JobFixture job = new JobFixture(broker, mode.apply(JobFixture.settings(3, Duration.ofMinutes(1))))) {
      Map<String, String> env = job.workerEnv(1);
      env.put(WorkerEnv.IDLE_TIMEOUT_MS, "1000");
      long t0 = System.nanoTime();
      try (WorkerProcess w = WorkerProcess.start("w1", env, dir, List.of("true"))) {
        assertThat(w.awaitExit(Duration.ofSeconds(30))).as(WorkerProcess.logs(w)).isZero();
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isGreaterThan(Duration.ofSeconds(1));
        assertThat(w.log()).contains("idle: nothing to do for 1000 ms and nothing ready in the queue; exiting");
        // the broker version is logged, with what it means for long tasks
        assertThat(w.log()).contains("connected to RabbitMQ " + broker.version() + ".");
        if (broker.version().equals("3.10")) {
          assertThat(w.log()).contains("does not enforce the queue's x-consumer-timeout");
        } else {
          assertThat(w.log()).doesNotContain("x-consumer-timeout");
        }
      }
    }
  }

  /** Two workers on one queue: every delivery runs on exactly one of them, once. */
  @ParameterizedTest
  @EnumSource(Scripts.Mode.class)
  void twoWorkersNeverRunTheSameDelivery(Scripts.Mode mode) throws Exception {
    try (JobFixture job = new JobFixture(broker, mode.apply(JobFixture.settings(3, Duration.ofMinutes(1))))) {
      List<String> task = mode.program(dir, "task", "echo \"$i $TRAINQ_WORKER_NAME\" >> $D/runs.log; sleep 0.02",
          "append('runs.log', f'{i} {os.environ[\"TRAINQ_WORKER_NAME\"]}'); time.sleep(0.02)");
      try (WorkerProcess w1 = WorkerProcess.start("w1", job.workerEnv(4), dir, task);
          WorkerProcess w2 = WorkerProcess.start("w2", job.workerEnv(4), dir, task)) {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (broker.consumerCount(job.topology.taskQueue()) < 2) {
          assertThat(System.nanoTime()).as("both workers consuming" + WorkerProcess.logs(w1, w2)).isLessThan(deadline);
          Thread.sleep(100);
        }
        job.publishTasks(200);
        List<TaskEvent> events = job.awaitSucceeded(200, Duration.ofMinutes(2), w1, w2);
        Thread.sleep(300);
        events = job.events();
        assertThat(ofType(events, Type.SUCCEEDED)).hasSize(200);
        List<String> runs = Scripts.lines(dir.resolve("runs.log"));
        assertThat(runs).hasSize(200);
        assertThat(runs.stream().map(l -> l.split(" ")[0]).distinct().count()).isEqualTo(200);
        Map<String, Long> perWorker = ofType(events, Type.SUCCEEDED).stream()
            .collect(Collectors.groupingBy(TaskEvent::worker, Collectors.counting()));
        assertThat(perWorker.keySet()).as("both workers took tasks: %s", perWorker).containsExactlyInAnyOrder("w1", "w2");
        for (TaskEvent e : ofType(events, Type.SUCCEEDED)) {
          assertThat(runs).contains(e.index() + " " + e.worker());
        }
      }
    }
  }

  /**
   * Events before acks: while the broker refuses the job's events, the worker holds the finished task
   * unacknowledged; once events get through, it publishes them and only then acks.
   */
  @ParameterizedTest
  @EnumSource(Scripts.Mode.class)
  void noAckBeforeTheEventIsConfirmed(Scripts.Mode mode) throws Exception {
    try (JobFixture job = new JobFixture(broker, mode.apply(JobFixture.settings(3, Duration.ofMinutes(1))))) {
      // the only queue bound to the job's events refuses every message (reject-publish at length 0)
      String refusing = RabbitBroker.uniqueName("tq-it-refusing");
      job.channel().queueDeclare(refusing, false, false, false, Map.of("x-max-length", 0, "x-overflow", "reject-publish"));
      job.channel().queueBind(refusing, JobTopology.EVENTS_EXCHANGE, job.topology.key());
      job.channel().queueUnbind(job.eventsQueue, JobTopology.EVENTS_EXCHANGE, job.topology.key());
      List<String> task = mode.program(dir, "task", "echo \"done $i\" >> $D/runs.log", "append('runs.log', f'done {i}')");
      job.publishTasks(1);
      try (WorkerProcess w = WorkerProcess.start("w1", job.workerEnv(1), dir, task)) {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (Scripts.lines(dir.resolve("runs.log")).isEmpty()) {
          assertThat(System.nanoTime()).as("the task ran" + WorkerProcess.logs(w)).isLessThan(deadline);
          Thread.sleep(50);
        }
        // the task has finished; for 3 s its delivery stays unacknowledged
        Thread.sleep(3000);
        assertThat(broker.awaitQueueDepth(job.topology.taskQueue(), new io.trainq.testkit.QueueDepth(0, 1), Duration.ofSeconds(15)))
            .isEqualTo(new io.trainq.testkit.QueueDepth(0, 1));
        assertThat(w.log()).contains("not confirmed");

        job.channel().queueBind(job.eventsQueue, JobTopology.EVENTS_EXCHANGE, job.topology.key());
        job.channel().queueUnbind(refusing, JobTopology.EVENTS_EXCHANGE, job.topology.key());
        job.awaitSucceeded(1, Duration.ofSeconds(30), w);
        Thread.sleep(500);
        w.term();
        assertThat(w.awaitExit(Duration.ofSeconds(20))).isZero();
        // acked: had it not been, closing the worker's channel would have returned it to the queue
        assertThat(job.readyEverywhere()).isZero();
        assertThat(Scripts.lines(dir.resolve("runs.log"))).containsExactly("done 0");
        assertThat(ofType(job.events(), Type.STARTED)).hasSize(1);
      } finally {
        job.channel().queueDelete(refusing);
      }
    }
  }

  /** /metrics in the Prometheus format, /healthz, and /readyz that turns 503 once the worker is stopping. */
  @ParameterizedTest
  @EnumSource(Scripts.Mode.class)
  void metricsAndProbesOverHttp(Scripts.Mode mode) throws Exception {
    try (JobFixture job = new JobFixture(broker, mode.apply(JobFixture.settings(3, Duration.ofMinutes(1))))) {
      // long enough that the tasks still run when /metrics is read on a loaded machine
      List<String> task = mode.program(dir, "task", "sleep 5", "time.sleep(5)");
      job.publishTasks(2);
      int port;
      try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
        port = s.getLocalPort();
      }
      Map<String, String> env = job.workerEnv(2);
      env.put(WorkerEnv.HTTP_PORT, Integer.toString(port));
      try (WorkerProcess w = WorkerProcess.start("w1", env, dir, task)) {
        job.awaitEvents(e -> ofType(e, Type.STARTED).size() == 2, Duration.ofSeconds(30), w);
        java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
        java.util.function.Function<String, java.net.http.HttpResponse<String>> get = path -> {
          try {
            return http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + port + path)).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
          } catch (Exception e) {
            throw new AssertionError(e);
          }
        };
        var metrics = get.apply("/metrics");
        assertThat(metrics.statusCode()).isEqualTo(200);
        assertThat(metrics.headers().firstValue("Content-Type")).hasValue("text/plain; version=0.0.4; charset=utf-8");
        assertThat(metrics.body()).contains("trainq_worker_slots 2\n", "trainq_worker_slots_busy 2\n", "trainq_worker_prefetch 2\n",
            "trainq_worker_connected 1\n", "trainq_worker_tasks_total{outcome=\"succeeded\"} 0\n",
            "broker_version=\"" + broker.version() + ".", "worker=\"w1\"");
        assertThat(get.apply("/healthz").statusCode()).isEqualTo(200);
        assertThat(get.apply("/readyz").statusCode()).isEqualTo(200);
        w.term();
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        int ready = 200;
        while (ready == 200 && System.nanoTime() < deadline) {
          ready = get.apply("/readyz").statusCode();
        }
        assertThat(ready).as("not ready while stopping").isEqualTo(503);
        assertThat(w.awaitExit(Duration.ofSeconds(20))).isZero();
        assertThat(ofType(job.events(), Type.SUCCEEDED)).hasSize(2);
      }
    }
  }

  /** A missing queue is bad configuration: exit 2 with one line. */
  @ParameterizedTest
  @EnumSource(Scripts.Mode.class)
  void aMissingQueueIsBadConfiguration(Scripts.Mode mode) throws Exception {
    try (JobFixture job = new JobFixture(broker, mode.apply(JobFixture.settings(3, Duration.ofMinutes(1))))) {
      job.channel().queueDelete(job.topology.taskQueue());
      Map<String, String> env = job.workerEnv(1);
      env.put(WorkerConfig.QUEUE_WAIT_MS, "2000");
      try (WorkerProcess w = WorkerProcess.start("w1", env, dir, List.of("true"))) {
        assertThat(w.awaitExit(Duration.ofSeconds(30))).isEqualTo(WorkerEnv.EXIT_BAD_CONFIG);
        assertThat(w.log().lines().filter(l -> l.startsWith("trainq-worker: ")).toList()).singleElement().isEqualTo(
            "trainq-worker: queue '" + job.topology.taskQueue() + "' does not exist on vhost '/' at " + broker.addressList()
                + ": the job's queues are declared by the operator (or trainq run) before its workers start");
        assertThat(w.log()).contains("does not exist (yet): waiting up to 2 s for it");
      }
    }
  }

  /**
   * A worker started while its task queue is missing (the operator declares a deleted one again
   * within seconds, and may start a worker pod meanwhile) waits for it, then consumes as usual.
   */
  @ParameterizedTest
  @EnumSource(Scripts.Mode.class)
  void aWorkerWaitsForItsTaskQueueToBeDeclaredAgain(Scripts.Mode mode) throws Exception {
    try (JobFixture job = new JobFixture(broker, mode.apply(JobFixture.settings(3, Duration.ofMinutes(1))))) {
      job.channel().queueDelete(job.topology.taskQueue());
      List<String> task = mode.program(dir, "task", "echo \"$i\" >> $D/runs.log", "append('runs.log', str(i))");
      try (WorkerProcess w = WorkerProcess.start("w1", job.workerEnv(2), dir, task)) {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!w.log().contains("does not exist (yet)")) {
          assertThat(System.nanoTime()).as("the worker says it waits" + WorkerProcess.logs(w)).isLessThan(deadline);
          Thread.sleep(100);
        }
        Thread.sleep(1500);
        assertThat(w.alive()).as("still waiting after 1.5 s" + WorkerProcess.logs(w)).isTrue();
        job.channel().queueDeclare(job.topology.taskQueue(), true, false, false, job.topology.taskQueueArguments(job.settings));
        job.publishTasks(5);
        job.awaitSucceeded(5, Duration.ofSeconds(60), w);
        assertThat(Scripts.lines(dir.resolve("runs.log"))).containsExactlyInAnyOrder("0", "1", "2", "3", "4");
      }
    }
  }

  /** No broker at the address: exit 2 with one line, once the first-connect retries run out. */
  @ParameterizedTest
  @EnumSource(Scripts.Mode.class)
  void anUnreachableBrokerIsBadConfiguration(Scripts.Mode mode) throws Exception {
    try (JobFixture job = new JobFixture(broker, mode.apply(JobFixture.settings(3, Duration.ofMinutes(1))))) {
      Map<String, String> env = job.workerEnv(1);
      int closedPort;
      try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
        closedPort = s.getLocalPort();
      }
      env.put("TRAINQ_RABBITMQ_ADDRESSES", "127.0.0.1:" + closedPort);
      env.put(WorkerConfig.CONNECT_TIMEOUT_MS, "1500");
      try (WorkerProcess w = WorkerProcess.start("w1", env, dir, List.of("true"))) {
        assertThat(w.awaitExit(Duration.ofSeconds(30))).isEqualTo(WorkerEnv.EXIT_BAD_CONFIG);
        assertThat(w.log().lines().filter(l -> l.startsWith("trainq-worker: ")).toList()).singleElement().asString()
            .startsWith("trainq-worker: cannot reach RabbitMQ at 127.0.0.1:" + closedPort + " as user 'trainq' within 1 s");
      }
    }
  }
}
