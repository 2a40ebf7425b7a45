package io.trainq.engine;

import static org.assertj.core.api.Assertions.assertThat;

import io.trainq.engine.Conditions.Broker;
import io.trainq.engine.Conditions.Facts;
import io.trainq.engine.Conditions.Reason;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

class ConditionsTest {

  private static Facts running(int succeeded, int dead) {
    return new Facts(null, Broker.READY, null, false, 12, succeeded, dead, 12);
  }

  @Test
  void readyFollowsTheBroker() {
    assertThat(Conditions.ready(running(0, 0))).extracting(Conditions.State::status, Conditions.State::reason)
        .containsExactly("True", Reason.QueuesReady);
    Facts mismatch = new Facts(null, Broker.MISMATCH, "inequivalent arg 'x-delivery-limit'", false, 12, 0, 0, 0);
    assertThat(Conditions.ready(mismatch)).extracting(Conditions.State::status, Conditions.State::reason, Conditions.State::message)
        .containsExactly("False", Reason.TopologyMismatch, "inequivalent arg 'x-delivery-limit'");
    assertThat(Conditions.ready(new Facts(null, Broker.UNKNOWN, null, false, 12, 0, 0, 0)).status()).isEqualTo("Unknown");
    assertThat(Conditions.ready(new Facts(null, Broker.UNREACHABLE, "connection refused", false, 12, 0, 0, 0)).reason())
        .isEqualTo(Reason.BrokerUnavailable);
    assertThat(Conditions.ready(new Facts(null, Broker.SECRET_MISSING, "no Secret", false, 12, 0, 0, 0)).reason())
        .isEqualTo(Reason.ConnectionSecretMissing);
    assertThat(Conditions.ready(new Facts("spec.tasks.grid too big", Broker.READY, null, false, 0, 0, 0, 0)).reason())
        .isEqualTo(Reason.InvalidSpec);
  }

  @Test
  void aBlockedBrokerIsNotReadyWhileTheJobRuns() {
    Facts blocked = new Facts(null, Broker.BLOCKED, "RabbitMQ blocks publishing: low on memory", false, 12, 3, 0, 12);
    assertThat(Conditions.ready(blocked)).extracting(Conditions.State::status, Conditions.State::reason, Conditions.State::message)
        .containsExactly("False", Reason.BrokerBlocked, "RabbitMQ blocks publishing: low on memory");
    assertThat(Conditions.phase(blocked)).as("its tasks still run").isEqualTo("Running");
    assertThat(Broker.BLOCKED.queuesReady()).isTrue();
    assertThat(Broker.UNREACHABLE.queuesReady()).isFalse();
  }

  @Test
  void completeAndFailedOnlyWhenEveryTaskFinished() {
    assertThat(Conditions.complete(running(11, 0)).status()).isEqualTo("False");
    assertThat(Conditions.complete(running(11, 0)).reason()).isEqualTo(Reason.TasksRemaining);
    assertThat(Conditions.complete(running(11, 0)).message()).isEqualTo("11 of 12 tasks finished");
    assertThat(Conditions.failed(running(10, 1)).status()).isEqualTo("False");
    assertThat(Conditions.complete(running(12, 0)).status()).isEqualTo("True");
    assertThat(Conditions.failed(running(12, 0)).status()).isEqualTo("False");
    assertThat(Conditions.complete(running(10, 2)).status()).isEqualTo("False");
    assertThat(Conditions.failed(running(10, 2))).extracting(Conditions.State::status, Conditions.State::reason)
        .containsExactly("True", Reason.TasksDeadLettered);
    assertThat(Conditions.failed(new Facts("bad", Broker.UNKNOWN, null, false, 0, 0, 0, 0)).status()).isEqualTo("True");
  }

  @Test
  void suspendedMirrorsTheSpec() {
    assertThat(Conditions.suspended(new Facts(null, Broker.READY, null, true, 12, 0, 0, 5)).status()).isEqualTo("True");
    assertThat(Conditions.suspended(running(0, 0)).status()).isEqualTo("False");
  }

  @Test
  void phases() {
    assertThat(Conditions.phase(new Facts(null, Broker.UNKNOWN, null, false, 12, 0, 0, 0))).isEqualTo("Pending");
    assertThat(Conditions.phase(new Facts(null, Broker.READY, null, false, 12, 0, 0, 0))).isEqualTo("Pending");
    assertThat(Conditions.phase(running(3, 0))).isEqualTo("Running");
    assertThat(Conditions.phase(new Facts(null, Broker.READY, null, true, 12, 3, 0, 12))).isEqualTo("Suspended");
    assertThat(Conditions.phase(running(12, 0))).isEqualTo("Succeeded");
    assertThat(Conditions.phase(running(11, 1))).isEqualTo("Failed");
    assertThat(Conditions.phase(new Facts(null, Broker.READY, null, true, 12, 12, 0, 12))).as("finished wins over suspended")
        .isEqualTo("Succeeded");
    assertThat(Conditions.phase(new Facts("bad grid", Broker.UNKNOWN, null, false, 0, 0, 0, 0))).isEqualTo("Failed");
  }

  @Test
  void transitionTimeMovesOnlyWhenTheStatusFlips() {
    Instant t0 = Instant.parse("2025-01-01T00:00:00Z");
    Instant t1 = t0.plusSeconds(60);
    Instant t2 = t0.plusSeconds(120);
    List<Conditions.Condition> first = Conditions.update(List.of(), running(0, 0), t0, 1);
    assertThat(first).extracting(Conditions.Condition::type).containsExactly("Ready", "Complete", "Failed", "Suspended", "WorkersBlocked", "TasksLost");
    assertThat(first).allSatisfy(c -> assertThat(c.lastTransitionTime()).isEqualTo(t0));
    List<Conditions.Condition> second = Conditions.update(first, running(6, 0), t1, 2);
    Conditions.Condition complete = second.get(1);
    assertThat(complete.message()).isEqualTo("6 of 12 tasks finished");
    assertThat(complete.lastTransitionTime()).as("message changed, status did not").isEqualTo(t0);
    assertThat(complete.observedGeneration()).isEqualTo(2);
    List<Conditions.Condition> third = Conditions.update(second, running(12, 0), t2, 2);
    assertThat(third.get(1).status()).isEqualTo("True");
    assertThat(third.get(1).lastTransitionTime()).isEqualTo(t2);
    assertThat(third.get(0).lastTransitionTime()).isEqualTo(t0);
  }

  @Test
  void refusedPodsAndLostTasksHaveTheirOwnConditions() {
    Facts blocked = new Facts(null, Broker.READY, null, false, 12, 3, 0, 12,
        "the API server refused a worker pod (403): exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0", null, false);
    assertThat(Conditions.workersBlocked(blocked)).satisfies(s -> {
      assertThat(s.status()).isEqualTo("True");
      assertThat(s.reason()).isEqualTo(Reason.PodsRefused);
      assertThat(s.message()).contains("exceeded quota");
    });
    assertThat(Conditions.workersBlocked(running(3, 0)).status()).isEqualTo("False");
    Facts finished = new Facts(null, Broker.READY, null, false, 12, 12, 0, 12, "refused", null, false);
    assertThat(Conditions.workersBlocked(finished).status()).as("a finished job needs no pods").isEqualTo("False");
    String scheduler = "1 of 2 worker pods wait for a node: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu.";
    Facts pending = new Facts(null, Broker.READY, null, false, 12, 3, 0, 12, null, null, false, scheduler);
    assertThat(Conditions.workersBlocked(pending)).satisfies(s -> {
      assertThat(s.status()).isEqualTo("True");
      assertThat(s.reason()).isEqualTo(Reason.PodsUnschedulable);
      assertThat(s.message()).isEqualTo(scheduler);
    });
    assertThat(Conditions.workersBlocked(new Facts(null, Broker.READY, null, true, 12, 3, 0, 12, null, null, false, scheduler))
        .status()).as("a suspended job wants no pods").isEqualTo("False");
    assertThat(Conditions.workersBlocked(new Facts(null, Broker.READY, null, false, 12, 3, 0, 12, "refused (403)", null, false,
        scheduler)).reason()).as("a refusal comes first: no pod exists to schedule").isEqualTo(Reason.PodsRefused);

    assertThat(Conditions.tasksLost(running(3, 0))).satisfies(s -> {
      assertThat(s.status()).isEqualTo("False");
      assertThat(s.reason()).isEqualTo(Reason.NoTasksLost);
    });
    Facts lost = new Facts(null, Broker.READY, null, false, 12, 3, 0, 12, null, "task queue q was deleted with 9 unfinished task(s)", true);
    assertThat(Conditions.tasksLost(lost).status()).isEqualTo("True");
    assertThat(Conditions.tasksLost(lost).reason()).isEqualTo(Reason.TaskQueueLost);
    Facts repaired = new Facts(null, Broker.READY, null, false, 12, 3, 0, 12, null, "task queue q was deleted with 9 unfinished task(s)", false);
    assertThat(Conditions.tasksLost(repaired).status()).isEqualTo("False");
    assertThat(Conditions.tasksLost(repaired).reason()).isEqualTo(Reason.TasksRepublished);
    assertThat(Conditions.tasksLost(repaired).message()).contains("was deleted");
    assertThat(Conditions.all(running(0, 0))).extracting(Conditions.State::type)
        .containsExactly("Ready", "Complete", "Failed", "Suspended", "WorkersBlocked", "TasksLost");
  }

  @Test
  void aJobKueueManagesHasAnAdmittedConditionAndWaitsPending() {
    Conditions.Quota waiting = new Conditions.Quota(false, Reason.WaitingForQuota, "Workload w waits in LocalQueue q (Pending: insufficient quota)");
    Facts pending = new Facts(null, Broker.READY, null, false, 12, 0, 0, 12, null, null, false, null, waiting);
    assertThat(Conditions.phase(pending)).as("published, but not admitted").isEqualTo("Pending");
    assertThat(Conditions.admitted(pending).status()).isEqualTo("False");
    assertThat(Conditions.admitted(pending).reason()).isEqualTo(Reason.WaitingForQuota);
    assertThat(Conditions.admitted(pending).message()).contains("insufficient quota");
    assertThat(Conditions.all(pending)).extracting(Conditions.State::type).endsWith("TasksLost", "Admitted");

    Facts admitted = new Facts(null, Broker.READY, null, false, 12, 3, 0, 12, null, null, false, null,
        new Conditions.Quota(true, Reason.QuotaAdmitted, "admitted"));
    assertThat(Conditions.phase(admitted)).isEqualTo("Running");
    assertThat(Conditions.admitted(admitted).status()).isEqualTo("True");
    Facts finished = new Facts(null, Broker.READY, null, false, 12, 12, 0, 12, null, null, false, null,
        new Conditions.Quota(false, Reason.QuotaReleased, "released"));
    assertThat(Conditions.phase(finished)).as("a finished job keeps its outcome").isEqualTo("Succeeded");
  }
}
