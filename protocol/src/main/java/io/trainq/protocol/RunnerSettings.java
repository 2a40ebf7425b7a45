package io.trainq.protocol;

import java.time.Duration;
import java.util.Locale;
import java.util.Objects;

/**
 * How a worker's slot runs the task command: a process per attempt, or one long-lived runner per slot
 * that is handed the tasks one after another over the runner protocol (docs/runner-protocol.md).
 *
 * @param maxTasksPerProcess tasks one runner handles before a fresh one replaces it; 0 for no limit
 * @param startTimeout how long a new runner may take to connect and say it is ready
 */
public record RunnerSettings(Mode mode, int maxTasksPerProcess, Duration startTimeout) {

  /** The runner modes, named as in the TrainingJob's spec.runner.mode. */
  public enum Mode {
    /** One process per attempt (the task's variables in its environment). */
    PROCESS("Process"),
    /** One process per slot that runs task after task. */
    PERSISTENT("Persistent");

    private final String specName;

    Mode(String specName) {
      this.specName = specName;
    }

    public String specName() {
      return specName;
    }

    /** Reads a mode as the spec or the environment writes it, in any case. */
    public static Mode parse(String s) {
      for (Mode m : values()) {
        if (m.specName.equalsIgnoreCase(s.trim())) {
          return m;
        }
      }
      throw new IllegalArgumentException("runner mode must be Process or Persistent, got '" + s + "'");
    }
  }

  /** A process per attempt: the behaviour of a job that does not set spec.runner. */
  public static final RunnerSettings PROCESS = new RunnerSettings(Mode.PROCESS, 0, Duration.ofMinutes(10));

  public RunnerSettings {
    Objects.requireNonNull(mode, "mode");
    Objects.requireNonNull(startTimeout, "startTimeout");
    if (maxTasksPerProcess < 0) {
      throw new IllegalArgumentException("maxTasksPerProcess must be >= 0 (0: no limit), was " + maxTasksPerProcess);
    }
    if (startTimeout.isZero() || startTimeout.isNegative()) {
      throw new IllegalArgumentException("the runner's startTimeout must be > 0, was " + startTimeout.toMillis() + " ms");
    }
  }

  public boolean persistent() {
    return mode == Mode.PERSISTENT;
  }

  @Override
  public String toString() {
    return mode.specName().toLowerCase(Locale.ROOT) + (persistent()
        ? " (max tasks per process " + (maxTasksPerProcess == 0 ? "unlimited" : maxTasksPerProcess) + ", start timeout "
            + startTimeout.toMillis() + " ms)" : "");
  }
}
