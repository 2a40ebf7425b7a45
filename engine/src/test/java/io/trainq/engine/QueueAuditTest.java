package io.trainq.engine;

import static org.assertj.core.api.Assertions.assertThat;

import io.trainq.engine.QueueAudit.Observation;
import io.trainq.engine.QueueAudit.Verdict.Kind;
import java.util.BitSet;
import java.util.List;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

class QueueAuditTest {

  /** 10 tasks: 0-2 succeeded, 3 dead-lettered, 4 running, 5 on its second attempt (waiting out a backoff), 6-9 queued. */
  private static JobProgress progress() {
    TreeMap<Integer, String> retrying = new TreeMap<>();
    retrying.put(2, "5");
    return new JobProgress(10, 3, 1, 1, 1, "0-2", "3", "4", retrying, List.of(), 0, 0, 0, List.of());
  }

  @Test
  void aQueueThatHoldsWhatIsUnfinishedIsIntact() {
    QueueAudit a = new QueueAudit();
    // 6 unfinished: 4 ready, 1 in a retry queue, 1 held by the one worker
    assertThat(a.check(progress(), new Observation(true, 4, 1, 1, 0), 0).kind()).isEqualTo(Kind.INTACT);
    // fewer ready, but a worker that can hold 4 deliveries and 2 events not folded yet explain the rest
    assertThat(a.check(progress(), new Observation(true, 0, 0, 4, 2), 0).kind()).isEqualTo(Kind.INTACT);
  }

  @Test
  void aDeletedQueueLosesEveryUnfinishedTaskThatIsNotRunning() {
    QueueAudit.Verdict v = new QueueAudit().check(progress(), new Observation(false, 0, 1, 1, 0), 0);
    assertThat(v.kind()).isEqualTo(Kind.LOST);
    BitSet expected = new BitSet();
    expected.set(6, 10);
    assertThat(v.republish()).as("task 5's retry message is still in its retry queue").isEqualTo(expected);
    QueueAudit.Verdict noRetries = new QueueAudit().check(progress(), new Observation(false, 0, 0, 1, 0), 0);
    expected.set(5);
    assertThat(noRetries.republish()).as("and republished when the retry queue lost it too").isEqualTo(expected);
  }

  @Test
  void anEmptiedQueueCountsAsLostOnlyWhenTheDeficitLasts() {
    QueueAudit a = new QueueAudit();
    Observation emptied = new Observation(true, 0, 1, 1, 0);
    assertThat(a.check(progress(), emptied, 1_000).kind()).isEqualTo(Kind.SUSPECT);
    assertThat(a.check(progress(), emptied, 1_000 + QueueAudit.CONFIRM_MILLIS - 1).kind()).isEqualTo(Kind.SUSPECT);
    QueueAudit.Verdict v = a.check(progress(), emptied, 1_000 + QueueAudit.CONFIRM_MILLIS);
    assertThat(v.kind()).isEqualTo(Kind.LOST);
    assertThat(v.deficit()).isEqualTo(4);
    assertThat(v.republish().cardinality()).isEqualTo(4);
    // a deficit that goes away (a retry on its way back, an event folded late) starts over
    assertThat(a.check(progress(), emptied, 20_000).kind()).isEqualTo(Kind.SUSPECT);
    assertThat(a.check(progress(), new Observation(true, 4, 1, 1, 0), 21_000).kind()).isEqualTo(Kind.INTACT);
    assertThat(a.check(progress(), emptied, 22_000).kind()).isEqualTo(Kind.SUSPECT);
  }

  @Test
  void aFinishedJobLosesNothing() {
    JobProgress done = new JobProgress(2, 2, 0, 0, 0, "0-1", "", "", new TreeMap<>(), List.of(), 0, 0, 0, List.of());
    assertThat(new QueueAudit().check(done, new Observation(false, 0, 0, 0, 0), 0).kind()).isEqualTo(Kind.INTACT);
  }

  /**
   * A task running when its queue was deleted is left out of the republishing; once its worker reports
   * it stopped (REQUEUED: no longer running, not finished) it alone is republished, at once, without
   * taking the rest of the job for lost again. One that finishes is never republished.
   */
  @Test
  void aTaskRunningWhenItsQueueWasLostIsRepublishedAloneOnceItStopped() {
    QueueAudit a = new QueueAudit();
    TreeMap<Integer, String> none = new TreeMap<>();
    JobProgress atLoss = new JobProgress(10, 3, 1, 2, 1, "0-2", "3", "4,5", none, List.of(), 0, 0, 0, List.of());
    QueueAudit.Verdict lost = a.check(atLoss, new Observation(false, 0, 0, 2, 0), 0);
    assertThat(lost.kind()).isEqualTo(Kind.LOST);
    assertThat(lost.republish().toString()).isEqualTo("{6, 7, 8, 9}");
    // 4 stopped with the queue (REQUEUED), 5 succeeded; 6-9 are in the queue again
    JobProgress later = new JobProgress(10, 4, 1, 0, 1, "0-2,5", "3", "", none, List.of(), 0, 0, 0, List.of());
    QueueAudit.Verdict stranded = a.check(later, new Observation(true, 4, 0, 2, 0), 1_000);
    assertThat(stranded.kind()).isEqualTo(Kind.STRANDED);
    assertThat(stranded.republish().toString()).isEqualTo("{4}");
    // republished: it is not reported again
    JobProgress after = new JobProgress(10, 4, 1, 0, 1, "0-2,5", "3", "", none, List.of(), 0, 0, 0, List.of());
    assertThat(a.check(after, new Observation(true, 5, 0, 2, 0), 2_000).kind()).isEqualTo(Kind.INTACT);
  }
}
