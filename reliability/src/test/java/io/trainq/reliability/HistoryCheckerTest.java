package io.trainq.reliability;

import static org.assertj.core.api.Assertions.assertThat;

import io.trainq.reliability.Histories.Broker;
import io.trainq.reliability.Histories.Execution;
import io.trainq.reliability.Histories.Fault;
import io.trainq.reliability.Histories.Held;
import io.trainq.reliability.Histories.Status;
import io.trainq.reliability.HistoryChecker.Result;
import io.trainq.reliability.HistoryChecker.TaskVerdict;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HistoryCheckerTest {
  private static Execution run(int index, int attempt, String outcome, double start) {
    return new Execution(index, attempt, "w0", 100 + index, start, start + 1, outcome);
  }

  private static final Broker EMPTY = new Broker(Map.of(), List.of(), List.of());

  @Test
  void aCleanHistoryHasNothingToReport() {
    List<Execution> runs = List.of(run(0, 1, "succeeded", 1), run(1, 1, "failed", 1), run(1, 2, "succeeded", 3),
        run(2, 1, "succeeded", 2));
    Status status = new Status(3, 3, 0, 1, Histories.intervals("0-2"), Histories.intervals(""), true, 0);
    Result r = HistoryChecker.check(3, runs, status, EMPTY, Map.of(), List.of());
    assertThat(r.ok()).isTrue();
    assertThat(r.lost()).isZero();
    assertThat(r.countedTwice()).isZero();
    assertThat(r.executedTwice()).isZero();
    assertThat(r.problems()).isEmpty();
  }

  @Test
  void aLostTaskAndADoublyCountedTaskAreReported() {
    // task 1 never succeeded and was not dead-lettered; task 2 succeeded and was dead-lettered too
    List<Execution> runs = List.of(run(0, 1, "succeeded", 1), run(1, 1, "failed", 1), run(2, 1, "succeeded", 2),
        run(3, 1, "succeeded", 2));
    Status status = new Status(4, 3, 1, 1, Histories.intervals("0,2-3"), Histories.intervals("2"), true, 1);
    Broker broker = new Broker(Map.of("tq.k.dead", 1L), List.of(), List.of(new Held("rel.dl", 2, 1, "failed")));
    Result r = HistoryChecker.check(4, runs, status, broker, Map.of(), List.of());

    assertThat(r.ok()).isFalse();
    assertThat(r.lost()).isEqualTo(1);
    // task 2 once, and succeeded + dead-lettered = 4 + ... is not above the total, so no excess
    assertThat(r.countedTwice()).isEqualTo(1);
    assertThat(r.unexpectedDeadLettered()).isEqualTo(1);
    assertThat(r.verdicts()).filteredOn(TaskVerdict::lost).extracting(TaskVerdict::index).containsExactly(1);
    assertThat(r.verdicts()).filteredOn(TaskVerdict::countedTwice).extracting(TaskVerdict::index).containsExactly(2);
    assertThat(r.problems()).containsExactly(
        "task 1 lost: never succeeded, not dead-lettered; 1 run(s), 0 message(s) still queued",
        "task 2 counted twice: succeeded true, dead-lettered in status true, dead letters 1",
        "task 2 dead-lettered with reason failed (not expected)");
  }

  @Test
  void countersAboveTheIndexSetsAreCountedTwice() {
    // the counter says 3 succeeded but the set holds two indexes: one success was counted twice
    List<Execution> runs = List.of(run(0, 1, "succeeded", 1), run(1, 1, "succeeded", 1));
    Status status = new Status(2, 3, 0, 0, Histories.intervals("0-1"), Histories.intervals(""), true, 0);
    Result r = HistoryChecker.check(2, runs, status, EMPTY, Map.of(), List.of());
    assertThat(r.countedTwice()).isEqualTo(1);
    assertThat(r.lost()).isZero();
    assertThat(r.problems()).contains("succeeded + dead-lettered = 3 > 2 tasks");
  }

  @Test
  void aRunThatDidNotFinishFails() {
    List<Execution> runs = List.of(run(0, 1, "succeeded", 1));
    Status status = new Status(1, 1, 0, 0, Histories.intervals("0"), Histories.intervals(""), false, 130);
    Result r = HistoryChecker.check(1, runs, status, EMPTY, Map.of(), List.of());
    assertThat(r.ok()).isFalse();
    assertThat(r.problems()).containsExactly("the run did not finish as it should: state finished false, exit code 130 (expected 0)");
  }

  @Test
  void aSuccessWithNoSuccessfulRunBehindItIsLost() {
    List<Execution> runs = List.of(run(0, 1, "killed-worker", 1));
    Status status = new Status(1, 1, 0, 0, Histories.intervals("0"), Histories.intervals(""), true, 0);
    Result r = HistoryChecker.check(1, runs, status, EMPTY, Map.of(), List.of());
    assertThat(r.lost()).isEqualTo(1);
    assertThat(r.problems()).containsExactly(
        "task 0 lost: counted succeeded but no run of it succeeded, not dead-lettered; 1 run(s), 0 message(s) still queued");
  }

  @Test
  void aRepeatedAttemptIsExecutedTwiceButNotAFault() {
    // the worker was killed after the program exited and before the ack: attempt 1 ran again
    List<Execution> runs = List.of(run(0, 1, "succeeded", 1), run(0, 1, "succeeded", 5));
    Status status = new Status(1, 1, 0, 0, Histories.intervals("0"), Histories.intervals(""), true, 0);
    Result r = HistoryChecker.check(1, runs, status, EMPTY, Map.of(), List.of());
    assertThat(r.ok()).isTrue();
    assertThat(r.executedTwice()).isEqualTo(1);
  }

  @Test
  void deadLettersAreJudgedByTheirExpectedReason() {
    List<Execution> runs = List.of(run(0, 1, "failed", 1), run(1, 1, "killed-worker", 1), run(2, 1, "succeeded", 1));
    Status status = new Status(4, 1, 3, 0, Histories.intervals("2"), Histories.intervals("0-1,3"), true, 1);
    Broker broker = new Broker(Map.of(), List.of(), List.of(new Held("rel.dl", 0, 3, "failed"),
        new Held("rel.dl", 1, 1, "delivery-limit"), new Held("rel.dl", 3, 1, "failed")));
    Result r = HistoryChecker.check(4, runs, status, broker, Map.of(0, "failed", 1, "delivery-limit", 3, "timeout"), List.of());
    assertThat(r.expectedDeadLettered()).isEqualTo(2);
    assertThat(r.unexpectedDeadLettered()).isEqualTo(1);
    assertThat(r.problems()).containsExactly("task 3 dead-lettered with reason failed, expected timeout");
    assertThat(r.lost()).isZero();
  }

  @Test
  void recoveryIsTheTimeFromAFaultToTheNextStart() {
    List<Execution> runs = List.of(run(0, 1, "succeeded", 10), run(1, 1, "succeeded", 12.5), run(2, 1, "succeeded", 20));
    Status status = new Status(3, 3, 0, 0, Histories.intervals("0-2"), Histories.intervals(""), true, 0);
    Result r = HistoryChecker.check(3, runs, status, EMPTY, Map.of(),
        List.of(new Fault(11, "kill-worker", "1"), new Fault(13, "kill-node", "n"), new Fault(30, "kill-worker", "2")));
    assertThat(r.recoverySeconds()).containsExactly(1.5, 7.0);
    assertThat(HistoryChecker.percentile(r.recoverySeconds(), 50)).isEqualTo(1.5);
    assertThat(r.maxGapSeconds()).isEqualTo(7.5);
  }

  @Test
  void readsTheFilesARunLeaves(@TempDir Path dir) throws Exception {
    Path log = dir.resolve("executions.jsonl");
    Files.writeString(log, "{\"index\":0,\"attempt\":1,\"worker\":\"w\",\"pid\":5,\"start\":1.5,\"end\":2.5,\"outcome\":\"succeeded\"}\n"
        + "{\"index\":1,\"attem");
    Path state = dir.resolve("state.json");
    Files.writeString(state, "{\"uid\":\"u\",\"progress\":{\"total\":2,\"succeeded\":1,\"deadLettered\":0,\"retried\":0,"
        + "\"succeededIndexes\":\"0\",\"failedIndexes\":\"\"},\"finished\":false}");
    assertThat(Histories.readExecutions(log)).containsExactly(new Execution(0, 1, "w", 5, 1.5, 2.5, "succeeded"));
    Status s = Histories.readStatus(state, 130);
    assertThat(s.succeededIndexes().cardinality()).isEqualTo(1);
    assertThat(Histories.intervals("0-3,7").toString()).isEqualTo("{0, 1, 2, 3, 7}");
    assertThat(Main.expectations("3=failed, 7=delivery-limit")).containsExactly(Map.entry(3, "failed"), Map.entry(7, "delivery-limit"));
  }

  @Test
  void readsATrainingJobAsKubectlPrintsIt(@TempDir Path dir) throws Exception {
    Path job = dir.resolve("job.json");
    Files.writeString(job, """
        {"apiVersion": "trainq.io/v1alpha1", "kind": "TrainingJob", "metadata": {"name": "j", "uid": "u-1"},
         "status": {"phase": "Succeeded", "succeededIndexes": "0-4,6", "failedIndexes": "5",
                    "counts": {"total": 7, "succeeded": 6, "deadLettered": 1, "retried": 3, "rejectedMessages": 2}}}
        """);
    Status s = Histories.readStatus(job, -1);
    assertThat(s).isEqualTo(new Status(7, 6, 1, 3, Histories.intervals("0-4,6"), Histories.intervals("5"), true, 0, 2));
    assertThat(Histories.uidOf(Histories.JSON.readTree(job.toFile()))).isEqualTo("u-1");
    // a job still running has not finished, and a failed one stands for exit code 1
    Files.writeString(job, "{\"kind\": \"TrainingJob\", \"metadata\": {}, \"status\": {\"phase\": \"Running\"}}");
    assertThat(Histories.readStatus(job, -1).finished()).isFalse();
    assertThat(Histories.uidOf(Histories.JSON.readTree(job.toFile()))).isNull();
    Files.writeString(job, "{\"kind\": \"TrainingJob\", \"status\": {\"phase\": \"Failed\"}}");
    assertThat(Histories.readStatus(job, -1).exitCode()).isEqualTo(1);
  }

  @Test
  void theCollectorAppendsWholeRecordsAndDropsTornOnes(@TempDir Path dir) throws Exception {
    Path log = dir.resolve("executions.jsonl");
    String record = "{\"index\": 3, \"attempt\": 1, \"worker\": \"p\", \"pid\": 9, \"ppid\": 1, \"start\": 1.0, "
        + "\"end\": 2.0, \"outcome\": \"succeeded\"}\n";
    try (Collector c = new Collector(0, log)) {
      for (String sent : List.of(record, "{\"index\": 4, \"att", record.replace("\"index\": 3", "\"index\": 5"))) {
        try (java.net.Socket s = new java.net.Socket(java.net.InetAddress.getLoopbackAddress(), c.port())) {
          s.getOutputStream().write(sent.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
      }
    }
    assertThat(Histories.readExecutions(log)).containsExactly(new Execution(3, 1, "p", 9, 1.0, 2.0, "succeeded"),
        new Execution(5, 1, "p", 9, 1.0, 2.0, "succeeded"));
    assertThat(Files.readString(log)).doesNotContain("\"index\": 4");
  }

  @Test
  void forgedMessagesMustAllBeCountedApartAndSpeakForNoTask(@TempDir Path dir) throws Exception {
    // the witness held a real dead letter of task 1, and two forged ones that name task 0 in their body
    Path broker = dir.resolve("broker.json");
    Files.writeString(broker, "{\"depths\":{},\"held\":[],\"deadLetters\":["
        + "{\"queue\":\"rel.dl\",\"index\":1,\"attempt\":3,\"reason\":\"failed\",\"rejected\":false},"
        + "{\"queue\":\"rel.dl\",\"index\":0,\"attempt\":1,\"reason\":\"malformed\",\"rejected\":true},"
        + "{\"queue\":\"rel.dl\",\"index\":0,\"attempt\":1,\"reason\":\"failed\",\"rejected\":true}]}");
    Broker b = Histories.readBroker(broker);
    assertThat(b.deadLetters()).extracting(Held::index).containsExactly(1);
    assertThat(b.rejected()).hasSize(2);
    List<Execution> runs = List.of(run(0, 1, "succeeded", 1), run(1, 1, "failed", 1), run(1, 2, "failed", 2), run(1, 3, "failed", 3));
    Status counted = new Status(2, 1, 1, 2, Histories.intervals("0"), Histories.intervals("1"), true, 1, 2);
    Result r = HistoryChecker.check(2, runs, counted, b, Map.of(1, "failed"), List.of(), 2);
    assertThat(r.ok()).isTrue();
    assertThat(r.verdicts().get(0).deadLettered()).as("a forged dead letter naming task 0 is not task 0's").isFalse();
    assertThat(r.problems()).isEmpty();

    // one forgery the status missed (or, elsewhere, a rejection where nothing was forged) fails the check
    Status missed = new Status(2, 1, 1, 2, Histories.intervals("0"), Histories.intervals("1"), true, 1, 1);
    Result m = HistoryChecker.check(2, runs, missed, b, Map.of(1, "failed"), List.of(), 2);
    assertThat(m.ok()).isFalse();
    assertThat(m.problems()).containsExactly("the status counts 1 rejected message(s) (none of the job's tasks); 2 were forged");
    Result none = HistoryChecker.check(2, runs, counted, b, Map.of(1, "failed"), List.of());
    assertThat(none.ok()).isFalse();
    // and so does a forgery the broker never dead-lettered
    Result lost = HistoryChecker.check(2, runs, counted, new Broker(Map.of(), List.of(), b.deadLetters(), b.rejected().subList(0, 1)),
        Map.of(1, "failed"), List.of(), 2);
    assertThat(lost.ok()).isFalse();
    assertThat(lost.problems()).containsExactly("the broker dead-lettered 1 message(s) that are none of the job's tasks; 2 were forged");
  }
}
