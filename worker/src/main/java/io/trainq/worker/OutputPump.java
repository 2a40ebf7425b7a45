package io.trainq.worker;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * Copies one output stream of a task to the worker's log, a line at a time, prefixed by the task's
 * index (MDC {@code task}); stderr is also kept in a tail for failure reports.
 */
final class OutputPump implements Runnable {
  private static final Logger log = LoggerFactory.getLogger("task");
  /** Longer lines are cut into pieces of this many bytes, so a task without newlines cannot fill the heap. */
  static final int MAX_LINE = 8192;
  /** Bounds of the wait between looks at a runner's idle pipe: the delay before its output reaches the log. */
  private static final long MIN_WAIT_MS = 1;
  private static final long MAX_WAIT_MS = 50;

  private final InputStream in;
  /** The index of the task the line belongs to: fixed for a process per attempt, the current task's for a runner. */
  private final Supplier<String> task;
  private final String stream;
  private final OutputTail tail;
  private final CountDownLatch done = new CountDownLatch(1);
  /**
   * Set for a process that runs many tasks (a runner): while it lives the pump reads only what is already
   * in the pipe and waits between reads, so that it can tell {@link #drain} when it has logged everything
   * written so far. Null: plain blocking reads.
   */
  private final BooleanSupplier alive;
  private final Object sync = new Object();
  /** Drain requests made, and the newest one answered (guarded by sync). */
  private long requested;
  private long drained;
  /**
   * For {@link #caughtUp}: twice the number of reads begun, plus one while the pump has logged everything it
   * read and last saw the pipe empty. A read changes it before it starts.
   */
  private volatile long state;
  private long reads;
  private final Object gate = new Object();
  /** The pump reads a dead process's pipe to its end, blocking (guarded by gate). */
  private boolean blocking;
  /** Another thread looks at the pipe for {@link #caughtUp}; the pump starts no blocking read meanwhile (guarded by gate). */
  private boolean peeking;

  OutputPump(InputStream in, Supplier<String> task, String stream, OutputTail tail, BooleanSupplier alive) {
    this.in = in;
    this.task = task;
    this.stream = stream;
    this.tail = tail;
    this.alive = alive;
  }

  @Override
  public void run() {
    MDC.put("stream", stream);
    ByteArrayOutputStream line = new ByteArrayOutputStream(256);
    byte[] buf = new byte[8192];
    long idleWait = MIN_WAIT_MS;
    try (in) {
      int n;
      while (true) {
        if (alive != null) {
          long request;
          synchronized (sync) {
            request = requested;
          }
          if (in.available() == 0) {
            // caught up: whatever was written before the request was read and is logged now
            if (request > drained) {
              emit(line);
              synchronized (sync) {
                drained = request;
                sync.notifyAll();
              }
            }
            if (line.size() == 0) {
              state = reads * 2 + 1;
            }
            if (alive.getAsBoolean()) {
              synchronized (sync) {
                if (requested == drained) {
                  sync.wait(idleWait);
                }
              }
              idleWait = Math.min(idleWait * 2, MAX_WAIT_MS);
              continue;
            }
            // the process is gone: read to the end of the stream (children may still hold it), in a read
            // that may block and hold the stream's lock: caughtUp() must not wait behind it
            synchronized (gate) {
              while (peeking) {
                gate.wait();
              }
              blocking = true;
            }
          }
          idleWait = MIN_WAIT_MS;
          state = ++reads * 2;
        }
        if ((n = in.read(buf)) <= 0) {
          break;
        }
        if (tail != null) {
          tail.append(buf, 0, n);
        }
        int start = 0;
        for (int i = 0; i < n; i++) {
          byte b = buf[i];
          if (b == '\n' || b == '\r') {
            line.write(buf, start, i - start);
            emit(line);
            start = i + 1;
          } else if (line.size() + (i - start) >= MAX_LINE) {
            line.write(buf, start, i - start);
            emit(line);
            start = i;
          }
        }
        line.write(buf, start, n - start);
      }
    } catch (IOException e) {
      // the stream closes under us when the process tree is killed; what was read is logged
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      emit(line);
      MDC.remove("task");
      MDC.remove("stream");
      done.countDown();
      synchronized (sync) {
        sync.notifyAll();
      }
    }
  }

  /**
   * Asks the pump to log everything written to the stream before this call (a line without its newline
   * too), so that a runner's output before its answer is put to the task it answered for; wait for it with
   * {@link #awaitDrain}. Only for a pump made with {@code alive}.
   *
   * @return the request, or 0 when the pump has caught up already
   */
  long requestDrain() {
    if (caughtUp()) {
      return 0;
    }
    synchronized (sync) {
      long mine = ++requested;
      sync.notifyAll();
      return mine;
    }
  }

  /** Waits for the request {@link #requestDrain} returned; false when that took longer than {@code timeoutMs}. */
  boolean awaitDrain(long mine, long timeoutMs) throws InterruptedException {
    if (mine == 0) {
      return true;
    }
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
    synchronized (sync) {
      while (drained < mine && done.getCount() > 0) {
        long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
        if (left <= 0) {
          return false;
        }
        sync.wait(left);
      }
      return true;
    }
  }

  /**
   * Whether everything written to the stream so far is logged, seen without waking the pump: it logged
   * all it read, saw the pipe empty, the pipe is still empty, and no read began since. The usual case
   * for a runner that wrote nothing during its task, which then answers without a round trip to this
   * thread (two, with stderr's) on the way to its next task.
   */
  private boolean caughtUp() {
    synchronized (gate) {
      if (blocking || alive == null) {
        return false;
      }
      peeking = true;
    }
    try {
      long s = state;
      return (s & 1) == 1 && in.available() == 0 && state == s;
    } catch (IOException e) {
      return false;
    } finally {
      synchronized (gate) {
        peeking = false;
        gate.notifyAll();
      }
    }
  }

  private void emit(ByteArrayOutputStream line) {
    if (line.size() > 0) {
      MDC.put("task", task.get());
      log.info(line.toString(StandardCharsets.UTF_8));
      line.reset();
    }
  }

  /** Waits until the stream ended (every process holding it exited or closed it). */
  boolean await(long timeoutMs) throws InterruptedException {
    return done.await(timeoutMs, TimeUnit.MILLISECONDS);
  }
}
