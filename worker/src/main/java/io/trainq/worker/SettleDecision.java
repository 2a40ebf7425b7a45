package io.trainq.worker;

import io.trainq.protocol.Backoff;
import io.trainq.protocol.JobSettings;
import io.trainq.protocol.TaskMessage;
import java.time.Duration;

/**
 * What becomes of an attempt that failed (exit code, timeout, spawn failure): another attempt after
 * a backoff while the job's retry budget lasts, else a dead letter. Pure: the {@link Reporter}
 * carries it out, publishing and confirming before the ack.
 */
sealed interface SettleDecision {

  /** Attempt {@code next} goes to the retry queue of {@code delay}, and comes back to the task queue after it. */
  record Retry(TaskMessage next, Duration delay) implements SettleDecision {}

  /** The budget is spent: the task is dead-lettered with the reason. */
  record DeadLetter() implements SettleDecision {}

  static SettleDecision afterFailure(TaskMessage t, JobSettings job) {
    if (t.attempt() < job.maxAttempts()) {
      return new Retry(t.nextAttempt(), Backoff.delay(t.attempt(), job.backoffInitial(), job.backoffMax()));
    }
    return new DeadLetter();
  }
}
