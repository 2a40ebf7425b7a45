package io.trainq.cli.local;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import io.trainq.engine.JobProgress;
import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * What a single-machine run keeps between invocations, in place of the status a TrainingJob keeps
 * in the API server: the job's uid (its queues' names), the publish cursor and the folded progress.
 * Written atomically (temp file, fsync, rename) before the events it folds are acknowledged.
 *
 * @param specHash the spec the run was started with: a changed spec is a different job
 * @param finished the run ended with every task succeeded or dead-lettered
 */
public record LocalState(String uid, String specHash, long publishCursor, JobProgress progress, boolean finished) {
  private static final ObjectMapper JSON = new ObjectMapper()
      .registerModule(new JavaTimeModule())
      .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
      .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false)
      .enable(SerializationFeature.INDENT_OUTPUT);

  public LocalState withCursor(long cursor) {
    return new LocalState(uid, specHash, cursor, progress, finished);
  }

  public LocalState withProgress(JobProgress p) {
    return new LocalState(uid, specHash, publishCursor, p, finished);
  }

  public LocalState withFinished(boolean f) {
    return new LocalState(uid, specHash, publishCursor, progress, f);
  }

  public static Path file(Path dir, String namespace, String name) {
    return dir.resolve(namespace + "." + name + ".json");
  }

  /** The stored state, or null when there is none. */
  public static LocalState load(Path file) throws IOException {
    if (!Files.exists(file)) {
      return null;
    }
    try {
      return JSON.readValue(file.toFile(), LocalState.class);
    } catch (IOException e) {
      throw new IOException("cannot read the run's state " + file + " (" + e.getMessage().split("\n")[0]
          + "); pass --fresh to start the job over", e);
    }
  }

  public synchronized void save(Path file) throws IOException {
    Files.createDirectories(file.getParent());
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    try (var ch = java.nio.channels.FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.TRUNCATE_EXISTING)) {
      ch.write(java.nio.ByteBuffer.wrap(JSON.writeValueAsBytes(this)));
      ch.force(true);
    }
    try {
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
    }
  }
}
