package io.trainq.reliability;

import io.trainq.reliability.Histories.Broker;
import io.trainq.reliability.Histories.Execution;
import io.trainq.reliability.Histories.Fault;
import io.trainq.reliability.Histories.Held;
import io.trainq.reliability.Histories.Status;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * Compares what the task programs executed, what the job's status counts and what the broker holds
 * at the end, task by task. The promise under test: every task ends exactly once, succeeded or
 * dead-lettered with a reason; running a task twice after a crash is allowed and only reported.
 */
public final class HistoryChecker {
  private HistoryChecker() {}

  /**
   * The verdict on one task.
   *
   * @param executions every run of it in the execution log
   * @param succeededRuns runs that exited 0
   * @param inSucceeded the status counts it succeeded
   * @param inDeadLettered the status counts it dead-lettered
   * @param deadLetters dead letters of it the broker received
   * @param reason the dead letter's reason (the broker's copy), or null
   * @param expectedReason the reason the scenario expects it to be dead-lettered with, or null
   * @param stillHeld messages of it still in the job's task or retry queues
   * @param lost never succeeded and not dead-lettered (or counted succeeded with no successful run behind it)
   * @param countedTwice counted more than once: succeeded and dead-lettered both
   * @param executedTwice one attempt of it ran more than once (after a crash or a lost connection)
   */
  public record TaskVerdict(int index, int executions, int succeededRuns, boolean inSucceeded, boolean inDeadLettered,
      int deadLetters, String reason, String expectedReason, int stillHeld, boolean lost, boolean countedTwice,
      boolean executedTwice) {
    public boolean deadLettered() {
      return deadLetters > 0 || inDeadLettered;
    }

    /** Dead-lettered as the scenario expects (right task, right reason). */
    public boolean expectedDeadLetter() {
      return deadLettered() && expectedReason != null && expectedReason.equals(reason);
    }

    /** Dead-lettered when it should not have been, or for another reason than the expected one. */
    public boolean unexpectedDeadLetter() {
      return deadLettered() && !expectedDeadLetter();
    }

    /** The scenario expected a dead letter that did not come. */
    public boolean missingDeadLetter() {
      return expectedReason != null && !deadLettered();
    }

    public boolean clean() {
      return !lost && !countedTwice && !executedTwice && !unexpectedDeadLetter() && !missingDeadLetter();
    }
  }

  /**
   * The whole check.
   *
   * @param countedTwice tasks counted twice, plus counts the status holds beyond its index sets
   *     (a counter above the number of indexes it covers, or succeeded + dead-lettered above the total)
   * @param recoverySeconds for each fault, seconds until the next execution started (faults after the
   *     last start are left out)
   * @param maxGapSeconds the longest time between two consecutive execution starts: a stall of the
   *     whole job (all workers cut off), which the time to the next start of any one task can hide
   * @param retried retries the status counts (failed attempts that were retried)
   * @param finished the run ended by itself with every task finished, with the exit code that says so
   *     (0 when nothing was dead-lettered, 1 otherwise)
   * @param rejected messages the status counts apart as none of the job's tasks
   * @param expectedRejected the forged messages the scenario put on the job's queues (0 elsewhere)
   * @param rejectedDeadLetters dead letters the broker holds that are none of the job's tasks
   * @param problems one line per inconsistency found, for the report
   */
  public record Result(int tasks, int succeeded, int deadLettered, int expectedDeadLettered, int unexpectedDeadLettered,
      int missingDeadLetters, int lost, int countedTwice, int executedTwice, int executions, List<Double> recoverySeconds,
      double maxGapSeconds, long retried, boolean finished, long rejected, int expectedRejected, long rejectedDeadLetters,
      List<TaskVerdict> verdicts, List<String> problems) {

    public boolean ok() {
      return lost == 0 && countedTwice == 0 && unexpectedDeadLettered == 0 && missingDeadLetters == 0 && finished
          && rejected == expectedRejected && rejectedDeadLetters >= expectedRejected;
    }

    /** The verdicts of tasks with anything to report. */
    public List<TaskVerdict> notable() {
      return verdicts.stream().filter(v -> !v.clean() || v.expectedReason != null).toList();
    }
  }

  /**
   * @param tasks the job's task count (indexes 0..tasks-1)
   * @param expectedDeadLetters index to reason for the scenario's poison tasks
   */
  public static Result check(int tasks, List<Execution> executions, Status status, Broker broker,
      Map<Integer, String> expectedDeadLetters, List<Fault> faults) {
    return check(tasks, executions, status, broker, expectedDeadLetters, faults, 0);
  }

  /**
   * @param expectedRejected messages forged onto the job's queues that no worker may run: the status
   *     must count exactly these apart (a dead letter delivered twice counts once), and the broker
   *     must have dead-lettered each at least once
   */
  public static Result check(int tasks, List<Execution> executions, Status status, Broker broker,
      Map<Integer, String> expectedDeadLetters, List<Fault> faults, int expectedRejected) {
    Map<Integer, List<Execution>> runs = new HashMap<>();
    List<String> problems = new ArrayList<>();
    for (Execution e : executions) {
      if (e.index() < 0 || e.index() >= tasks) {
        problems.add("an execution of index " + e.index() + ", which is not a task of the job");
        continue;
      }
      runs.computeIfAbsent(e.index(), k -> new ArrayList<>()).add(e);
    }
    Map<Integer, List<Held>> deadLetters = new HashMap<>();
    for (Held d : broker.deadLetters()) {
      deadLetters.computeIfAbsent(d.index(), k -> new ArrayList<>()).add(d);
    }
    Map<Integer, Integer> held = new HashMap<>();
    for (Held h : broker.held()) {
      if (!h.queue().endsWith(".dead")) {
        held.merge(h.index(), 1, Integer::sum);
      }
    }

    List<TaskVerdict> verdicts = new ArrayList<>();
    int lost = 0;
    int countedTwice = 0;
    int executedTwice = 0;
    int expectedDl = 0;
    int unexpectedDl = 0;
    int missingDl = 0;
    for (int i = 0; i < tasks; i++) {
      List<Execution> mine = runs.getOrDefault(i, List.of());
      int succeededRuns = (int) mine.stream().filter(Execution::succeeded).count();
      boolean inSucceeded = status.succeededIndexes().get(i);
      boolean inDead = status.failedIndexes().get(i);
      List<Held> dls = deadLetters.getOrDefault(i, List.of());
      String reason = dls.isEmpty() ? null : dls.get(0).reason();
      String expected = expectedDeadLetters.get(i);
      boolean deadLettered = !dls.isEmpty() || inDead;
      boolean isLost = !deadLettered && !(inSucceeded && succeededRuns > 0);
      if (isLost) {
        problems.add("task " + i + " lost: " + (inSucceeded ? "counted succeeded but no run of it succeeded"
            : succeededRuns > 0 ? "a run succeeded but the status does not count it" : "never succeeded")
            + ", not dead-lettered; " + mine.size() + " run(s), " + held.getOrDefault(i, 0) + " message(s) still queued");
      }
      boolean twice = (inSucceeded && inDead) || (inSucceeded && !dls.isEmpty());
      if (twice) {
        problems.add("task " + i + " counted twice: succeeded " + inSucceeded + ", dead-lettered in status " + inDead
            + ", dead letters " + dls.size());
      }
      Map<Integer, Integer> perAttempt = new TreeMap<>();
      for (Execution e : mine) {
        perAttempt.merge(e.attempt(), 1, Integer::sum);
      }
      boolean again = perAttempt.values().stream().anyMatch(n -> n > 1);
      if (dls.size() > 1) {
        problems.add("task " + i + " was dead-lettered " + dls.size() + " times (counted once)");
      }
      TaskVerdict v = new TaskVerdict(i, mine.size(), succeededRuns, inSucceeded, inDead, dls.size(), reason, expected,
          held.getOrDefault(i, 0), isLost, twice, again);
      if (v.unexpectedDeadLetter()) {
        problems.add("task " + i + " dead-lettered with reason " + reason + (expected == null ? " (not expected)" : ", expected " + expected));
      }
      if (v.missingDeadLetter()) {
        problems.add("task " + i + " expected a dead letter (" + expected + ") that did not come");
      }
      lost += isLost ? 1 : 0;
      countedTwice += twice ? 1 : 0;
      executedTwice += again ? 1 : 0;
      expectedDl += v.expectedDeadLetter() ? 1 : 0;
      unexpectedDl += v.unexpectedDeadLetter() ? 1 : 0;
      missingDl += v.missingDeadLetter() ? 1 : 0;
      verdicts.add(v);
    }

    // counters the index sets do not account for are counts of something twice (or of nothing)
    int excess = Math.max(0, status.succeeded() - status.succeededIndexes().cardinality())
        + Math.max(0, status.deadLettered() - status.failedIndexes().cardinality());
    if (excess > 0) {
      problems.add("the status counts " + status.succeeded() + " succeeded and " + status.deadLettered()
          + " dead-lettered over index sets of " + status.succeededIndexes().cardinality() + " and "
          + status.failedIndexes().cardinality());
    }
    int over = Math.max(0, status.succeeded() + status.deadLettered() - tasks);
    if (over > 0) {
      problems.add("succeeded + dead-lettered = " + (status.succeeded() + status.deadLettered()) + " > " + tasks + " tasks");
    }
    countedTwice += Math.max(excess, over);
    if (status.total() != tasks) {
      problems.add("the status says " + status.total() + " tasks, the scenario published " + tasks);
    }
    if (status.succeededIndexes().length() > tasks || status.failedIndexes().length() > tasks) {
      problems.add("the status counts indexes beyond the job's " + tasks + " tasks");
    }

    List<Double> recovery = new ArrayList<>();
    List<Double> starts = executions.stream().map(Execution::start).sorted().toList();
    for (Fault f : faults) {
      starts.stream().filter(s -> s > f.time()).findFirst().ifPresent(s -> recovery.add(s - f.time()));
    }
    int expectedExit = status.deadLettered() == 0 ? 0 : 1;
    boolean finished = status.finished() && status.exitCode() == expectedExit;
    if (!finished) {
      problems.add("the run did not finish as it should: state finished " + status.finished() + ", exit code "
          + status.exitCode() + " (expected " + expectedExit + ")");
    }
    double gap = 0;
    for (int k = 1; k < starts.size(); k++) {
      gap = Math.max(gap, starts.get(k) - starts.get(k - 1));
    }
    if (status.rejectedMessages() != expectedRejected) {
      problems.add("the status counts " + status.rejectedMessages() + " rejected message(s) (none of the job's tasks); "
          + expectedRejected + " were forged");
    }
    long rejectedDeadLetters = broker.rejected().size();
    if (rejectedDeadLetters < expectedRejected) {
      problems.add("the broker dead-lettered " + rejectedDeadLetters + " message(s) that are none of the job's tasks; "
          + expectedRejected + " were forged");
    }
    return new Result(tasks, status.succeeded(), status.deadLettered(), expectedDl, unexpectedDl, missingDl, lost,
        countedTwice, executedTwice, executions.size(), recovery, gap, status.retried(), finished, status.rejectedMessages(),
        expectedRejected, rejectedDeadLetters, verdicts, problems);
  }

  /** The p-th percentile (nearest rank) of {@code values}, 0 when empty. */
  public static double percentile(List<Double> values, double p) {
    if (values.isEmpty()) {
      return 0;
    }
    List<Double> sorted = values.stream().filter(Objects::nonNull).sorted().toList();
    int rank = (int) Math.ceil(p / 100.0 * sorted.size());
    return sorted.get(Math.max(0, Math.min(sorted.size() - 1, rank - 1)));
  }
}
