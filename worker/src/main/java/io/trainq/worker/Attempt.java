package io.trainq.worker;

import java.time.Duration;

/** One attempt of a task on a slot, as a process of its own or as a task handed to the slot's runner. */
interface Attempt {

  /**
   * How an attempt ended.
   *
   * @param exitCode the process's exit code; null when no process ended with the attempt (a runner's answer)
   * @param failure the reason of a failure the exit code alone does not tell ({@code TaskEvent.Reason}), or null
   * @param error the error of such a failure
   */
  record Result(Integer exitCode, boolean timedOut, TaskRun.Stop stoppedBy, long durationNanos, String failure,
      String error) {

    static Result of(TaskRun.Result r) {
      return new Result(r.exitCode(), r.timedOut(), r.stoppedBy(), r.durationNanos(), null, null);
    }

    boolean succeeded() {
      return !timedOut && stoppedBy == TaskRun.Stop.NONE && failure == null && exitCode != null && exitCode == 0;
    }
  }

  /** The process the worker stops on shutdown or when the job is deleted: the task's own, or the slot's runner. */
  TaskRun process();

  long startNanos();

  /** When the process running the task was there: spawned, or the runner was handed the task. */
  long spawnedNanos();

  /**
   * Waits for the attempt's end; past {@code timeout} its process tree is killed and the result says so.
   * {@code underWay} runs once the task is under way (its process spawned, or its line sent to the
   * runner), before the wait: the slot's work for its previous attempt, kept off the path between two
   * tasks. The caller runs it itself if this returns or throws before that.
   */
  Result await(Duration timeout, Runnable underWay) throws InterruptedException;

  /** The end of what the attempt wrote to stderr. */
  String stderrTail() throws InterruptedException;
}
