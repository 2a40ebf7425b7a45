package io.trainq.worker;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
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

  private final InputStream in;
  /** The index of the task the line belongs to: fixed for a process per attempt, the current task's for a runner. */
  private final Supplier<String> task;
  private final String stream;
  private final OutputTail tail;
  private final CountDownLatch done = new CountDownLatch(1);

  OutputPump(InputStream in, int index, String stream, OutputTail tail) {
    this(in, fixed(Integer.toString(index)), stream, tail);
  }

  OutputPump(InputStream in, Supplier<String> task, String stream, OutputTail tail) {
    this.in = in;
    this.task = task;
    this.stream = stream;
    this.tail = tail;
  }

  @Override
  public void run() {
    MDC.put("stream", stream);
    ByteArrayOutputStream line = new ByteArrayOutputStream(256);
    byte[] buf = new byte[8192];
    try (in) {
      int n;
      while ((n = in.read(buf)) > 0) {
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
    } finally {
      emit(line);
      MDC.remove("task");
      MDC.remove("stream");
      done.countDown();
    }
  }

  private void emit(ByteArrayOutputStream line) {
    if (line.size() > 0) {
      MDC.put("task", task.get());
      log.info(line.toString(StandardCharsets.UTF_8));
      line.reset();
    }
  }

  private static Supplier<String> fixed(String s) {
    return () -> s;
  }

  /** Waits until the stream ended (every process holding it exited or closed it). */
  boolean await(long timeoutMs) throws InterruptedException {
    return done.await(timeoutMs, TimeUnit.MILLISECONDS);
  }
}
