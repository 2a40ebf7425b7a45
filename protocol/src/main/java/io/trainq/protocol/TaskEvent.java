package io.trainq.protocol;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.Objects;

/**
 * A task's state change, published to {@link JobTopology#EVENTS_EXCHANGE} with confirms before the
 * ack or nack that follows it, and folded into the job's status idempotently by (index, attempt).
 *
 * @param jobKey the job's routing key ({@link JobTopology#key()})
 * @param worker the worker's name (pod or host and pid)
 * @param slot the worker's slot that ran the task, or -1
 * @param exitCode the process exit code, when it exited
 * @param durationMs wall time of the attempt, for finished attempts
 * @param gpuSeconds GPUs × duration of the attempt, for finished attempts
 * @param reason why the task failed or was dead-lettered ({@link Reason})
 * @param error the tail of stderr or an error message, for failures
 * @param epochMillis when it happened, on the worker's clock
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record TaskEvent(
    int schema,
    Type type,
    String jobKey,
    String jobUid,
    int index,
    int attempt,
    String worker,
    int slot,
    Integer exitCode,
    Long durationMs,
    Double gpuSeconds,
    String reason,
    String error,
    long epochMillis) {

  public static final int SCHEMA = 1;

  public enum Type {
    /** The task's process started. */
    STARTED,
    /** The task exited 0; the task is done. */
    SUCCEEDED,
    /** The attempt failed and the task was scheduled for another attempt after a backoff. */
    RETRYING,
    /** The task will not run again: its retry budget is spent, or it is malformed. */
    DEAD_LETTERED,
    /** The attempt was interrupted by the worker (shutdown) and the task went back to the queue. */
    REQUEUED
  }

  /** Reasons of failures and dead letters. */
  public static final class Reason {
    public static final String FAILED = "failed";
    public static final String TIMEOUT = "timeout";
    public static final String MALFORMED = "malformed";
    public static final String DELIVERY_LIMIT = "delivery-limit";
    public static final String EXPIRED = "expired";
    public static final String SPAWN_FAILED = "spawn-failed";
    public static final String SHUTDOWN = "shutdown";
    /** The job's task queue was deleted under a running attempt: stopped, not spent (REQUEUED). */
    public static final String QUEUE_DELETED = "queue-deleted";
    /** A persistent runner exited (or closed its connection) during the task. */
    public static final String RUNNER_EXITED = "runner-exited";
    /** A persistent runner did not connect and say ready within the job's spec.runner.startTimeout. */
    public static final String RUNNER_NOT_READY = "runner-not-ready";
    /** A persistent runner broke the runner protocol (docs/runner-protocol.md). */
    public static final String PROTOCOL_ERROR = "protocol-error";

    private Reason() {}
  }

  public TaskEvent {
    Objects.requireNonNull(type, "type");
    Objects.requireNonNull(jobKey, "jobKey");
  }

  /** A deterministic id: a republished event is recognisable. */
  public String messageId() {
    return jobUid + ":" + index + ":" + attempt + ":" + type.name();
  }
}
