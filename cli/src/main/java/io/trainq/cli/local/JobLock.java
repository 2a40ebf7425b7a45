package io.trainq.cli.local;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ShutdownSignalException;
import io.trainq.protocol.JobTopology;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;

/**
 * The lock that keeps two {@code trainq run} of one job (same state directory) from running at
 * once: an OS file lock beside the job's state file, released by the kernel when the process ends
 * however it ends, holding the owner's pid for the message the second one prints.
 */
final class JobLock implements AutoCloseable {
  private final FileChannel channel;
  private final FileLock lock;
  private final Path file;

  private JobLock(Path file, FileChannel channel, FileLock lock) {
    this.file = file;
    this.channel = channel;
    this.lock = lock;
  }

  /** The job's run is held by another process. */
  static final class HeldException extends IOException {
    HeldException(String message) {
      super(message);
    }
  }

  static Path file(Path stateDir, String namespace, String name) {
    return stateDir.resolve(namespace + "." + name + ".lock");
  }

  /**
   * Takes the lock or fails at once.
   *
   * @throws HeldException naming the process that holds it
   */
  static JobLock acquire(Path stateDir, String namespace, String name) throws IOException {
    Files.createDirectories(stateDir);
    Path file = file(stateDir, namespace, name);
    FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
    FileLock lock;
    try {
      lock = ch.tryLock();
    } catch (OverlappingFileLockException e) {
      lock = null;
    }
    if (lock == null) {
      String owner = Files.readString(file, StandardCharsets.UTF_8).strip();
      ch.close();
      throw new HeldException("TrainingJob " + namespace + "/" + name + " is already running here"
          + (owner.isEmpty() ? "" : " (" + owner + ")") + ", with its state in " + stateDir
          + ": wait for it to end or stop it (Ctrl-C), then run this again");
    }
    ch.truncate(0);
    ProcessHandle self = ProcessHandle.current();
    String owner = "trainq run, pid " + self.pid() + ", since " + self.info().startInstant().orElse(Instant.now());
    ch.write(ByteBuffer.wrap(owner.getBytes(StandardCharsets.UTF_8)), 0);
    ch.force(false);
    return new JobLock(file, ch, lock);
  }

  /**
   * Takes the job's lock on the broker: an exclusive queue, which lives as long as this connection and
   * which no other connection can declare meanwhile (the broker refuses it with RESOURCE_LOCKED).
   *
   * @throws HeldException when another connection holds it
   */
  static void onBroker(Connection connection, JobTopology job) throws IOException {
    String queue = "tq." + job.key() + ".run-lock";
    Channel ch = connection.createChannel();
    try {
      ch.queueDeclare(queue, false, true, true, null);
    } catch (IOException e) {
      if (e.getCause() instanceof ShutdownSignalException s && s.getReason() instanceof AMQP.Channel.Close c
          && c.getReplyCode() == AMQP.RESOURCE_LOCKED) {
        throw new HeldException("TrainingJob " + job.namespace() + "/" + job.name() + " is already running from another state "
            + "directory or machine on this broker (it holds queue " + queue + "): wait for it to end or stop it, then run this again");
      }
      throw e;
    }
  }

  Path file() {
    return file;
  }

  @Override
  public void close() throws IOException {
    try {
      if (lock.isValid()) {
        channel.truncate(0);
        lock.release();
      }
    } finally {
      channel.close();
    }
  }
}
