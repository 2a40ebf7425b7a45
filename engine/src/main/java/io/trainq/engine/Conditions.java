package io.trainq.engine;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A job's conditions ({@code Ready}, {@code Complete}, {@code Failed}, {@code Suspended}) and phase,
 * each computed by one pure function of {@link Facts}, as the Kubernetes API conventions describe
 * them: status {@code True}/{@code False}/{@code Unknown}, a CamelCase reason from a closed set, and
 * a {@code lastTransitionTime} that moves only when the status flips.
 */
public final class Conditions {
  public static final String READY = "Ready";
  public static final String COMPLETE = "Complete";
  public static final String FAILED = "Failed";
  public static final String SUSPENDED = "Suspended";
  public static final String WORKERS_BLOCKED = "WorkersBlocked";
  public static final String TASKS_LOST = "TasksLost";
  /** Only on jobs queued through Kueue: whether Kueue lets the job's workers run. */
  public static final String ADMITTED = "Admitted";

  public static final String TRUE = "True";
  public static final String FALSE = "False";
  public static final String UNKNOWN = "Unknown";

  /** Phases, as {@code status.phase} shows them. */
  public static final String PENDING = "Pending";
  public static final String RUNNING = "Running";
  public static final String PHASE_SUSPENDED = "Suspended";
  public static final String SUCCEEDED = "Succeeded";
  public static final String PHASE_FAILED = "Failed";

  /** Every reason a condition can carry. */
  public enum Reason {
    /** The job's queues are declared with the contract's arguments. */
    QueuesReady,
    /** Not connected to the broker yet. */
    Connecting,
    /** The broker cannot be reached or refused the operator. */
    BrokerUnavailable,
    /** A resource alarm (memory, disk) makes the broker block publishing: outcomes and new tasks wait. */
    BrokerBlocked,
    /** A queue of the job exists with other arguments than the contract's. */
    TopologyMismatch,
    /** The Secret with the job's RabbitMQ connection is missing or incomplete. */
    ConnectionSecretMissing,
    /** The spec cannot be run (for example a grid of more than a million tasks). */
    InvalidSpec,
    /** Some tasks are neither succeeded nor dead-lettered yet. */
    TasksRemaining,
    /** Every task succeeded. */
    AllTasksSucceeded,
    /** Every task finished and some were dead-lettered. */
    TasksDeadLettered,
    /** {@code spec.suspend} is true. */
    JobSuspended,
    /** {@code spec.suspend} is false. */
    JobNotSuspended,
    /** The API server refuses the job's worker pods (quota, admission, a missing ServiceAccount). */
    PodsRefused,
    /** Worker pods wait for a node: the scheduler finds none with room (too few GPUs, a selector no node matches). */
    PodsUnschedulable,
    /** The API server accepts the job's worker pods, and the scheduler places them. */
    PodsAccepted,
    /** Unfinished tasks were found missing from the broker and are being published again. */
    TaskQueueLost,
    /** Tasks lost with their queue were published again. */
    TasksRepublished,
    /** No task was found missing from the broker. */
    NoTasksLost,
    /** Kueue admitted the job's Workload: its workers may run. */
    QuotaAdmitted,
    /** The job's Workload waits for quota in its Kueue queue. */
    WaitingForQuota,
    /** Kueue evicted the job's Workload (preempted, deactivated): its workers are stopped and it waits to be admitted again. */
    QuotaEvicted,
    /** The job finished and gave its quota back. */
    QuotaReleased
  }

  /**
   * How Kueue stands with a job it manages.
   *
   * @param admitted the job's Workload holds quota and is not evicted: workers may run
   * @param reason why, of the Kueue reasons above
   * @param message what Kueue said (its own reason and message), for people
   */
  public record Quota(boolean admitted, Reason reason, String message) {}

  /**
   * How the job stands with its broker. {@code BLOCKED}: the queues are there and tasks run, but a
   * resource alarm makes the broker block publishing, so outcomes and new tasks wait until it clears.
   */
  public enum Broker {
    UNKNOWN, READY, BLOCKED, UNREACHABLE, MISMATCH, SECRET_MISSING;

    /** The queues are declared and the workers can run (perhaps blocked from publishing). */
    public boolean queuesReady() {
      return this == READY || this == BLOCKED;
    }
  }

  /**
   * What the conditions are computed from.
   *
   * @param specError why the spec cannot run, or null
   * @param brokerMessage details of a broker problem, or null
   * @param published tasks published with confirms
   * @param workersBlocked why the API server refuses the job's worker pods, or null
   * @param tasksLost what the last loss of tasks with their queue was, or null when none was seen
   * @param republishing lost tasks are found and not all published again yet
   * @param workersUnschedulable why worker pods wait for a node, in the scheduler's words, or null
   * @param quota how Kueue stands with the job, or null when Kueue does not manage it
   */
  public record Facts(String specError, Broker broker, String brokerMessage, boolean suspended,
      int total, int succeeded, int deadLettered, long published, String workersBlocked, String tasksLost,
      boolean republishing, String workersUnschedulable, Quota quota) {
    public Facts {
      Objects.requireNonNull(broker, "broker");
    }

    /** Facts of a job Kueue does not manage. */
    public Facts(String specError, Broker broker, String brokerMessage, boolean suspended, int total, int succeeded,
        int deadLettered, long published, String workersBlocked, String tasksLost, boolean republishing,
        String workersUnschedulable) {
      this(specError, broker, brokerMessage, suspended, total, succeeded, deadLettered, published, workersBlocked, tasksLost,
          republishing, workersUnschedulable, null);
    }

    /** Facts with every worker pod placed on a node (or none wanted). */
    public Facts(String specError, Broker broker, String brokerMessage, boolean suspended, int total, int succeeded,
        int deadLettered, long published, String workersBlocked, String tasksLost, boolean republishing) {
      this(specError, broker, brokerMessage, suspended, total, succeeded, deadLettered, published, workersBlocked, tasksLost,
          republishing, null);
    }

    /** Facts with no refused pods and no lost tasks. */
    public Facts(String specError, Broker broker, String brokerMessage, boolean suspended, int total, int succeeded,
        int deadLettered, long published) {
      this(specError, broker, brokerMessage, suspended, total, succeeded, deadLettered, published, null, null, false, null);
    }

    public boolean done() {
      return specError == null && total > 0 && succeeded + deadLettered >= total;
    }
  }

  /** A condition's desired status, before its transition time is settled. */
  public record State(String type, String status, Reason reason, String message) {}

  /** A condition as stored. */
  public record Condition(String type, String status, String reason, String message, Instant lastTransitionTime,
      Long observedGeneration) {}

  private Conditions() {}

  public static State ready(Facts f) {
    if (f.specError() != null) {
      return new State(READY, FALSE, Reason.InvalidSpec, f.specError());
    }
    return switch (f.broker()) {
      case READY -> new State(READY, TRUE, Reason.QueuesReady, "the job's queues are declared");
      case UNKNOWN -> new State(READY, UNKNOWN, Reason.Connecting, "connecting to RabbitMQ");
      case BLOCKED -> new State(READY, FALSE, Reason.BrokerBlocked, f.brokerMessage());
      case UNREACHABLE -> new State(READY, FALSE, Reason.BrokerUnavailable, f.brokerMessage());
      case MISMATCH -> new State(READY, FALSE, Reason.TopologyMismatch, f.brokerMessage());
      case SECRET_MISSING -> new State(READY, FALSE, Reason.ConnectionSecretMissing, f.brokerMessage());
    };
  }

  public static State complete(Facts f) {
    if (f.done() && f.deadLettered() == 0) {
      return new State(COMPLETE, TRUE, Reason.AllTasksSucceeded, "all " + f.total() + " tasks succeeded");
    }
    if (f.specError() != null) {
      return new State(COMPLETE, FALSE, Reason.InvalidSpec, f.specError());
    }
    if (f.done()) {
      return new State(COMPLETE, FALSE, Reason.TasksDeadLettered, deadLetteredMessage(f));
    }
    return new State(COMPLETE, FALSE, Reason.TasksRemaining, remainingMessage(f));
  }

  public static State failed(Facts f) {
    if (f.specError() != null) {
      return new State(FAILED, TRUE, Reason.InvalidSpec, f.specError());
    }
    if (f.done() && f.deadLettered() > 0) {
      return new State(FAILED, TRUE, Reason.TasksDeadLettered, deadLetteredMessage(f));
    }
    if (f.done()) {
      return new State(FAILED, FALSE, Reason.AllTasksSucceeded, "all " + f.total() + " tasks succeeded");
    }
    return new State(FAILED, FALSE, Reason.TasksRemaining, remainingMessage(f));
  }

  public static State suspended(Facts f) {
    return f.suspended()
        ? new State(SUSPENDED, TRUE, Reason.JobSuspended, "spec.suspend is true: no new task starts and the workers are released")
        : new State(SUSPENDED, FALSE, Reason.JobNotSuspended, "spec.suspend is false");
  }

  /** True while the job's worker pods are refused by the API server or wait for a node the scheduler cannot find. */
  public static State workersBlocked(Facts f) {
    if (!f.done() && !f.suspended()) {
      if (f.workersBlocked() != null) {
        return new State(WORKERS_BLOCKED, TRUE, Reason.PodsRefused, f.workersBlocked());
      }
      if (f.workersUnschedulable() != null) {
        return new State(WORKERS_BLOCKED, TRUE, Reason.PodsUnschedulable, f.workersUnschedulable());
      }
    }
    return new State(WORKERS_BLOCKED, FALSE, Reason.PodsAccepted, "no worker pod is refused or waiting for a node");
  }

  public static State tasksLost(Facts f) {
    if (f.tasksLost() == null) {
      return new State(TASKS_LOST, FALSE, Reason.NoTasksLost, "every unfinished task is on the broker");
    }
    return f.republishing()
        ? new State(TASKS_LOST, TRUE, Reason.TaskQueueLost, f.tasksLost())
        : new State(TASKS_LOST, FALSE, Reason.TasksRepublished, f.tasksLost());
  }

  /** Only for a job Kueue manages: admitted, waiting for quota, evicted, or done with it. */
  public static State admitted(Facts f) {
    Quota q = f.quota();
    return new State(ADMITTED, q.admitted() ? TRUE : FALSE, q.reason(), q.message());
  }

  /**
   * Pending, Running, Suspended, Succeeded or Failed. A finished job keeps its outcome while suspended;
   * a job that waits for Kueue's admission is Pending.
   */
  public static String phase(Facts f) {
    if (f.specError() != null) {
      return PHASE_FAILED;
    }
    if (f.done()) {
      return f.deadLettered() > 0 ? PHASE_FAILED : SUCCEEDED;
    }
    if (f.suspended()) {
      return PHASE_SUSPENDED;
    }
    if (!f.broker().queuesReady() || f.published() == 0 || (f.quota() != null && !f.quota().admitted())) {
      return PENDING;
    }
    return RUNNING;
  }

  /** Every condition, in a stable order ({@code Admitted} last, and only on jobs Kueue manages). */
  public static List<State> all(Facts f) {
    if (f.quota() != null) {
      return List.of(ready(f), complete(f), failed(f), suspended(f), workersBlocked(f), tasksLost(f), admitted(f));
    }
    return List.of(ready(f), complete(f), failed(f), suspended(f), workersBlocked(f), tasksLost(f));
  }

  /**
   * The stored form of {@code next}: the previous transition time is kept when the status did not
   * change, {@code now} is used when it did (or there was no previous condition).
   */
  public static Condition transition(Condition previous, State next, Instant now, long generation) {
    Instant since = previous != null && previous.status().equals(next.status()) && previous.lastTransitionTime() != null
        ? previous.lastTransitionTime()
        : now;
    return new Condition(next.type(), next.status(), next.reason().name(), next.message(), since, generation);
  }

  /** Every condition of {@code f}, with transition times carried over from {@code previous}. */
  public static List<Condition> update(List<Condition> previous, Facts f, Instant now, long generation) {
    List<Condition> out = new ArrayList<>();
    for (State s : all(f)) {
      Condition old = previous == null ? null
          : previous.stream().filter(c -> c.type().equals(s.type())).findFirst().orElse(null);
      out.add(transition(old, s, now, generation));
    }
    return out;
  }

  private static String remainingMessage(Facts f) {
    return (f.succeeded() + f.deadLettered()) + " of " + f.total() + " tasks finished";
  }

  private static String deadLetteredMessage(Facts f) {
    return f.deadLettered() + " of " + f.total() + " tasks were dead-lettered (see status.deadLetters)";
  }
}
