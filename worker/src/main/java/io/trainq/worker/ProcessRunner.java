package io.trainq.worker;

import io.trainq.protocol.TaskMessage;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ExecutorService;

/** A process per attempt, the task in its environment: {@code spec.runner.mode: Process}. */
final class ProcessRunner implements AttemptRunner {
  private final WorkerConfig config;
  private final ExecutorService pumps;
  private final String pythonPath;

  ProcessRunner(WorkerConfig config, ExecutorService pumps, String pythonPath) {
    this.config = config;
    this.pumps = pumps;
    this.pythonPath = pythonPath;
  }

  @Override
  public Attempt start(Slot slot, TaskMessage t, String paramsJson, Path paramsFile) throws IOException {
    ProcessBuilder pb = TaskExecutor.processBuilder(config, slot.id, slot.devices, t, paramsJson, paramsFile);
    TaskEnv.putPythonPath(pb.environment(), pythonPath);
    TaskRun run = TaskRun.start(pb, t.index(), pumps);
    return new Attempt() {
      @Override
      public TaskRun process() {
        return run;
      }

      @Override
      public long startNanos() {
        return run.startNanos();
      }

      @Override
      public long spawnedNanos() {
        return run.spawnedNanos();
      }

      @Override
      public Result await(Duration timeout, Runnable underWay) throws InterruptedException {
        underWay.run();
        return Result.of(run.await(timeout));
      }

      @Override
      public String stderrTail() throws InterruptedException {
        return run.stderrTail();
      }
    };
  }

  @Override
  public void close() {
    // nothing outlives an attempt
  }
}
