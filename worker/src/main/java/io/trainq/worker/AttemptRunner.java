package io.trainq.worker;

import io.trainq.protocol.TaskMessage;
import java.io.IOException;
import java.nio.file.Path;

/**
 * How a slot runs its attempts: {@link ProcessRunner} starts a process per attempt, {@link PersistentRunner}
 * hands them to one long-lived runner process per slot.
 */
interface AttemptRunner extends AutoCloseable {

  /**
   * Starts an attempt: spawns its process, or hands it to the slot's runner (starting one when there is none).
   *
   * @throws IOException when the process cannot be spawned
   */
  Attempt start(Slot slot, TaskMessage t, String paramsJson, Path paramsFile) throws IOException;

  /** Stops what the runner keeps between attempts; it is idle by then, or its attempt was stopped. */
  @Override
  void close();
}
