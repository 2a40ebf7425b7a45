package io.trainq.engine;

import static org.assertj.core.api.Assertions.assertThat;

import io.trainq.protocol.TaskEvent;
import io.trainq.protocol.TaskEvent.Type;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class JobStatusFoldTest {
  private static final String KEY = "ns.job.abc";

  private static JobEvent ev(Type type, int index, int attempt) {
    return ev(type, index, attempt, "w1");
  }

  private static JobEvent ev(Type type, int index, int attempt, String worker) {
    boolean outcome = type != Type.STARTED;
    return new JobEvent.Progress(new TaskEvent(TaskEvent.SCHEMA, type, KEY, "uid", index, attempt, worker, 0,
        outcome ? (type == Type.SUCCEEDED ? 0 : 1) : null, outcome ? 1000L : null, outcome ? 2.0 : null,
        type == Type.RETRYING || type == Type.DEAD_LETTERED ? "failed" : null,
        type == Type.DEAD_LETTERED ? "Traceback: boom" : null, 1_000_000L + index * 10L + attempt));
  }

  private static JobEvent brokerDeadLetter(int index, int attempt, String reason) {
    return new JobEvent.DeadLettered(KEY, "uid", index, attempt, reason, null, null, null, 5_000_000L, "d" + index + "." + attempt);
  }

  @Test
  void countsEachIndexOnceHoweverOftenItsEventsArrive() {
    JobStatusFold f = new JobStatusFold(5, 1);
    assertThat(f.apply(ev(Type.STARTED, 0, 1))).isTrue();
    assertThat(f.running()).isEqualTo(1);
    assertThat(f.apply(ev(Type.SUCCEEDED, 0, 1))).isTrue();
    assertThat(f.apply(ev(Type.SUCCEEDED, 0, 1))).as("a redelivered event").isFalse();
    assertThat(f.apply(ev(Type.STARTED, 0, 1))).as("a late start of a finished task").isFalse();
    assertThat(f.apply(ev(Type.SUCCEEDED, 0, 1, "w2"))).as("a duplicate run on another worker").isFalse();
    JobProgress p = f.progress();
    assertThat(p.succeeded()).isEqualTo(1);
    assertThat(p.running()).isZero();
    assertThat(p.succeededIndexes()).isEqualTo("0");
    assertThat(p.busyGpuSeconds()).as("GPU-seconds of the one counted outcome").isEqualTo(2.0);
    assertThat(p.progressText()).isEqualTo("1/5");
  }

  @Test
  void retriesAreCountedPerAttempt() {
    JobStatusFold f = new JobStatusFold(3, 1);
    f.apply(ev(Type.STARTED, 1, 1));
    f.apply(ev(Type.RETRYING, 1, 1));
    f.apply(ev(Type.RETRYING, 1, 1));
    assertThat(f.retried()).isEqualTo(1);
    assertThat(f.running()).isZero();
    assertThat(f.progress().retryingIndexes()).containsEntry(2, "1");
    f.apply(ev(Type.STARTED, 1, 2));
    f.apply(ev(Type.STARTED, 1, 1));
    assertThat(f.progress().runningIndexes()).isEqualTo("1");
    f.apply(ev(Type.RETRYING, 1, 2));
    f.apply(ev(Type.DEAD_LETTERED, 1, 3));
    f.apply(brokerDeadLetter(1, 3, "failed"));
    JobProgress p = f.progress();
    assertThat(p.retried()).isEqualTo(2);
    assertThat(p.deadLettered()).isEqualTo(1);
    assertThat(p.failedIndexes()).isEqualTo("1");
    assertThat(p.retryingIndexes()).isEmpty();
    assertThat(p.deadLetters()).singleElement().satisfies(d -> {
      assertThat(d.index()).isEqualTo(1);
      assertThat(d.attempts()).isEqualTo(3);
      assertThat(d.reason()).isEqualTo("failed");
      assertThat(d.exitCode()).isEqualTo(1);
      assertThat(d.lastError()).isEqualTo("Traceback: boom");
    });
  }

  @Test
  void aLaterAttemptImpliesTheRetriesBeforeIt() {
    JobStatusFold f = new JobStatusFold(2, 1);
    f.apply(ev(Type.STARTED, 0, 3));
    assertThat(f.retried()).isEqualTo(2);
    f.apply(ev(Type.RETRYING, 0, 1));
    f.apply(ev(Type.RETRYING, 0, 2));
    assertThat(f.retried()).isEqualTo(2);
    f.apply(ev(Type.SUCCEEDED, 1, 4));
    assertThat(f.retried()).as("a task that succeeded on attempt 4 was retried 3 times").isEqualTo(5);
  }

  @Test
  void brokerDeadLettersCountLikeWorkerOnes() {
    JobStatusFold f = new JobStatusFold(3, 1);
    f.apply(ev(Type.STARTED, 2, 1));
    f.apply(brokerDeadLetter(2, 1, "delivery-limit"));
    f.apply(brokerDeadLetter(0, 1, "expired"));
    f.apply(ev(Type.SUCCEEDED, 2, 1));
    JobProgress p = f.progress();
    assertThat(p.failedIndexes()).isEqualTo("0,2");
    assertThat(p.succeeded()).as("the first final outcome wins").isZero();
    assertThat(p.running()).isZero();
    assertThat(p.deadLetters()).extracting(JobProgress.DeadLetterInfo::reason).containsExactly("delivery-limit", "expired");
  }

  @Test
  void keepsTheLastTenDeadLetters() {
    JobStatusFold f = new JobStatusFold(30, 1);
    for (int i = 0; i < 25; i++) {
      f.apply(brokerDeadLetter(i, 1, "expired"));
    }
    assertThat(f.progress().deadLetters()).extracting(JobProgress.DeadLetterInfo::index)
        .containsExactly(15, 16, 17, 18, 19, 20, 21, 22, 23, 24);
    assertThat(f.deadLettered()).isEqualTo(25);
  }

  @Test
  void ignoresIndexesOutsideTheJob() {
    JobStatusFold f = new JobStatusFold(3, 1);
    assertThat(f.apply(ev(Type.SUCCEEDED, 3, 1))).isFalse();
    assertThat(f.apply(ev(Type.SUCCEEDED, -1, 1))).isFalse();
    assertThat(f.succeeded()).isZero();
  }

  @Test
  void requeuedAttemptsStopRunningWithoutARetry() {
    JobStatusFold f = new JobStatusFold(3, 2);
    f.apply(ev(Type.STARTED, 0, 1, "w1"));
    f.apply(ev(Type.REQUEUED, 0, 1, "w1"));
    f.apply(ev(Type.REQUEUED, 0, 1, "w1"));
    assertThat(f.running()).isZero();
    assertThat(f.retried()).isZero();
    assertThat(f.progress().busyGpuSeconds()).as("the interrupted run's GPU time, once").isEqualTo(2.0);
    f.apply(ev(Type.STARTED, 0, 1, "w2"));
    f.apply(ev(Type.REQUEUED, 0, 1, "w1"));
    assertThat(f.running()).as("a stale requeue from another worker").isEqualTo(1);
  }

  @Test
  void runsOnVanishedWorkersAreForgotten() {
    JobStatusFold f = new JobStatusFold(4, 1);
    f.apply(ev(Type.STARTED, 0, 1, "pod-a"));
    f.apply(ev(Type.STARTED, 1, 1, "pod-b"));
    assertThat(f.retainRunning(Set.of("pod-a"))).isTrue();
    assertThat(f.progress().runningIndexes()).isEqualTo("0");
    JobStatusFold restored = JobStatusFold.restore(f.progress(), 1);
    assertThat(restored.retainRunning(Set.of("pod-c"))).as("a restored run's worker is unknown").isFalse();
    assertThat(restored.retainRunning(Set.of())).as("no worker left: nothing runs").isTrue();
    assertThat(restored.running()).isZero();
  }

  @Test
  void reopenedDeadLettersCountAgainByTheirNextOutcome() {
    JobStatusFold f = new JobStatusFold(3, 1);
    f.apply(ev(Type.RETRYING, 0, 1));
    f.apply(ev(Type.DEAD_LETTERED, 0, 2));
    f.apply(ev(Type.SUCCEEDED, 1, 1));
    BitSet all = new BitSet();
    all.set(0, 3);
    assertThat(f.reopen(all)).isEqualTo(BitSet.valueOf(new long[] {1}));
    assertThat(f.deadLettered()).isZero();
    assertThat(f.progress().deadLetters()).isEmpty();
    f.apply(ev(Type.SUCCEEDED, 0, 1));
    assertThat(f.succeeded()).isEqualTo(2);
    assertThat(f.retried()).as("retries of the first round stay counted").isEqualTo(1);
  }

  @Test
  void restoreContinuesExactly() {
    JobStatusFold f = new JobStatusFold(10, 1);
    f.apply(ev(Type.STARTED, 0, 1));
    f.apply(ev(Type.SUCCEEDED, 0, 1));
    f.apply(ev(Type.RETRYING, 1, 1));
    f.apply(ev(Type.RETRYING, 1, 2));
    f.apply(ev(Type.STARTED, 2, 1));
    f.apply(brokerDeadLetter(3, 1, "expired"));
    JobProgress saved = f.progress();
    JobStatusFold r = JobStatusFold.restore(saved, 1);
    assertThat(r.progress()).isEqualTo(saved);
    // events stored but not acknowledged before a crash come again: nothing is counted twice
    r.apply(ev(Type.RETRYING, 1, 2));
    r.apply(ev(Type.SUCCEEDED, 0, 1));
    r.apply(brokerDeadLetter(3, 1, "expired"));
    assertThat(r.progress()).isEqualTo(saved);
    r.apply(ev(Type.SUCCEEDED, 1, 3));
    r.apply(ev(Type.SUCCEEDED, 2, 1));
    assertThat(r.retried()).isEqualTo(2);
    assertThat(r.running()).isZero();
    assertThat(r.progress().succeededIndexes()).isEqualTo("0-2");
  }

  /**
   * A random history of runs with retries, dead letters, duplicate runs and interruptions, delivered
   * with duplicates, in shuffled batches, across simulated crashes (stored snapshot, then
   * redelivery of everything not yet acknowledged): the result equals the exact accounting.
   */
  @Test
  void randomHistoriesWithCrashesAndRedeliveriesGiveExactCounts() {
    Random rnd = new Random(42);
    for (int round = 0; round < 50; round++) {
      int total = 1 + rnd.nextInt(60);
      List<JobEvent> log = new ArrayList<>();
      int expectSucceeded = 0;
      int expectDead = 0;
      long expectRetries = 0;
      BitSet expectSucceededSet = new BitSet();
      for (int i = 0; i < total; i++) {
        int attempts = 1 + rnd.nextInt(3);
        for (int a = 1; a <= attempts; a++) {
          if (rnd.nextInt(5) == 0) {
            log.add(ev(Type.STARTED, i, a, "w" + rnd.nextInt(3)));
            log.add(ev(Type.REQUEUED, i, a, "w9"));
          }
          log.add(ev(Type.STARTED, i, a, "w" + rnd.nextInt(3)));
          if (a < attempts) {
            log.add(ev(Type.RETRYING, i, a));
          }
        }
        expectRetries += attempts - 1;
        if (rnd.nextInt(4) == 0) {
          log.add(rnd.nextBoolean() ? ev(Type.DEAD_LETTERED, i, attempts) : brokerDeadLetter(i, attempts, "delivery-limit"));
          expectDead++;
        } else {
          log.add(ev(Type.SUCCEEDED, i, attempts));
          expectSucceeded++;
          expectSucceededSet.set(i);
        }
      }
      // the broker delivers each event at least once, not always in order
      List<JobEvent> delivered = new ArrayList<>();
      for (JobEvent e : log) {
        delivered.add(e);
        if (rnd.nextInt(4) == 0) {
          delivered.add(e);
        }
      }
      for (int k = 0; k < delivered.size() / 10; k++) {
        int a = rnd.nextInt(delivered.size());
        int b = Math.min(delivered.size() - 1, a + 1 + rnd.nextInt(3));
        Collections.swap(delivered, a, b);
      }
      JobStatusFold f = new JobStatusFold(total, 1);
      int acked = 0;
      int pos = 0;
      while (pos < delivered.size()) {
        int batch = 1 + rnd.nextInt(8);
        for (int k = 0; k < batch && pos < delivered.size(); k++) {
          f.apply(delivered.get(pos++));
        }
        if (rnd.nextInt(3) == 0) {
          // crash after the status was stored, before the acks: restore and redeliver from the last ack
          JobProgress stored = f.progress();
          f = JobStatusFold.restore(stored, 1);
          for (int k = acked; k < pos; k++) {
            f.apply(delivered.get(k));
          }
        }
        acked = pos;
      }
      JobProgress p = f.progress();
      assertThat(p.succeeded()).as("round %d", round).isEqualTo(expectSucceeded);
      assertThat(p.deadLettered()).isEqualTo(expectDead);
      assertThat(p.retried()).isEqualTo(expectRetries);
      assertThat(p.running()).isZero();
      assertThat(p.retryingIndexes()).isEmpty();
      assertThat(Intervals.parse(p.succeededIndexes())).isEqualTo(expectSucceededSet);
      assertThat(p.done()).isTrue();
    }
  }

  private static JobEvent forged(Type type, String uid, int index, int attempt, Long durationMs, Double gpuSeconds, long at) {
    return new JobEvent.Progress(new TaskEvent(TaskEvent.SCHEMA, type, KEY, uid, index, attempt, "w1", 0,
        type == Type.STARTED ? null : 0, durationMs, gpuSeconds, null, null, at));
  }

  private static JobStatusFold guarded(int total, List<String> rejections) {
    // a job of `total` tasks, 3 attempts, 2 GPUs per task, a one-hour task timeout, at clock 10_000_000
    EventGuard g = new EventGuard("uid", 3, 2, java.time.Duration.ofHours(1), () -> 10_000_000L);
    return new JobStatusFold(total, 2).guardedBy(g, (reason, e) -> rejections.add(reason + ":" + e.index()));
  }

  @Test
  void theGuardDropsEventsThatCannotBeAboutTheJob() {
    List<String> rejections = new ArrayList<>();
    JobStatusFold f = guarded(8, rejections);
    assertThat(f.apply(forged(Type.SUCCEEDED, "another-uid", 0, 1, 1000L, 2.0, 5_000_000L))).as("another job's uid").isFalse();
    assertThat(f.apply(forged(Type.SUCCEEDED, null, 0, 1, 1000L, 2.0, 5_000_000L))).as("no uid").isFalse();
    assertThat(f.apply(forged(Type.SUCCEEDED, "uid", 8, 1, 1000L, 2.0, 5_000_000L))).as("an index outside the job").isFalse();
    assertThat(f.apply(forged(Type.RETRYING, "uid", 1, Integer.MAX_VALUE, 1000L, 2.0, 5_000_000L))).as("attempt").isFalse();
    assertThat(f.apply(forged(Type.STARTED, "uid", 1, 4, null, null, 5_000_000L))).as("attempt beyond the budget").isFalse();
    assertThat(f.apply(forged(Type.STARTED, "uid", 1, 0, null, null, 5_000_000L))).as("attempt 0").isFalse();
    assertThat(f.apply(forged(Type.SUCCEEDED, "uid", 2, 1, 1000L, 1e300, 5_000_000L))).as("GPU-seconds").isFalse();
    assertThat(f.apply(forged(Type.SUCCEEDED, "uid", 2, 1, 1000L, Double.NaN, 5_000_000L))).as("NaN GPU-seconds").isFalse();
    assertThat(f.apply(forged(Type.SUCCEEDED, "uid", 2, 1, 1000L, 2.1 + 1.5, 5_000_000L))).as("more GPU-seconds than 2 GPUs for 1 s")
        .isFalse();
    assertThat(f.apply(forged(Type.SUCCEEDED, "uid", 2, 1, Long.MAX_VALUE, 2.0, 5_000_000L))).as("duration").isFalse();
    assertThat(f.apply(forged(Type.SUCCEEDED, "uid", 2, 1, -5L, 2.0, 5_000_000L))).as("negative duration").isFalse();
    assertThat(f.apply(forged(Type.SUCCEEDED, "uid", 2, 1, 1000L, 2.0, 10_000_000L + 2 * 3_600_000L))).as("from the future").isFalse();
    JobProgress p = f.progress();
    assertThat(p.succeeded()).isZero();
    assertThat(p.retried()).isZero();
    assertThat(p.running()).isZero();
    assertThat(p.busyGpuSeconds()).isZero();
    assertThat(p.lastEventMillis()).isZero();
    assertThat(f.rejectedEvents()).containsEntry(EventGuard.OTHER_JOB, 2L).containsEntry(EventGuard.INDEX, 1L)
        .containsEntry(EventGuard.ATTEMPT, 3L).containsEntry(EventGuard.GPU_SECONDS, 3L).containsEntry(EventGuard.DURATION, 2L)
        .containsEntry(EventGuard.TIME, 1L);
    assertThat(rejections).hasSize(12).contains("other-job:0", "index-out-of-range:8");

    // what a real worker says passes: 2 GPUs for 1.5 s, attempt 3 of 3, a clock a little ahead
    assertThat(f.apply(forged(Type.SUCCEEDED, "uid", 2, 3, 1500L, 3.0, 10_000_000L + 60_000L))).isTrue();
    assertThat(f.progress().succeeded()).isEqualTo(1);
    assertThat(f.progress().retried()).isEqualTo(2);
    assertThat(f.progress().busyGpuSeconds()).isEqualTo(3.0);
  }

  @Test
  void deadLettersThatAreNoneOfTheJobsTasksAreCountedApartAndOnce() {
    JobStatusFold f = guarded(8, new ArrayList<>());
    JobEvent garbage = new JobEvent.DeadLettered(KEY, null, -1, 0, "malformed", null, "body is not valid JSON", "w1", 5_000_000L, "aa");
    JobEvent otherJob = new JobEvent.DeadLettered(KEY, "another-uid", 1, 1, "malformed", null, "task of job uid another-uid", "w1",
        5_000_000L, "bb");
    JobEvent outside = new JobEvent.DeadLettered(KEY, "uid", 999, 1, "malformed", null, "index 999 is not a task", "w1", 5_000_000L, "cc");
    assertThat(f.apply(garbage)).isTrue();
    assertThat(f.apply(garbage)).as("the same dead letter delivered again").isFalse();
    assertThat(f.apply(otherJob)).isTrue();
    assertThat(f.apply(outside)).isTrue();
    JobProgress p = f.progress();
    assertThat(p.deadLettered()).as("no task is dead-lettered by them").isZero();
    assertThat(p.failedIndexes()).isEmpty();
    assertThat(p.rejectedMessages()).isEqualTo(3);
    assertThat(p.deadLetters()).hasSize(3).allMatch(d -> d.index() == -1 && d.attempts() == 0)
        .extracting(JobProgress.DeadLetterInfo::lastError)
        .containsExactly("body is not valid JSON", "task of job uid another-uid", "index 999 is not a task");

    // across a restore, a redelivered one is still counted once
    JobStatusFold again = JobStatusFold.restore(p, 2);
    assertThat(again.apply(garbage)).isFalse();
    assertThat(again.progress().rejectedMessages()).isEqualTo(3);
    // and a real task's dead letter still counts as the task's
    assertThat(f.apply(brokerDeadLetter(1, 1, "delivery-limit"))).isTrue();
    assertThat(f.progress().failedIndexes()).isEqualTo("1");
  }
}
