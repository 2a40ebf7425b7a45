package io.trainq.worker;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * One attempt of a task as a process: started, its output pumped to the log, waited for with the
 * task timeout, its process tree killed when it runs over or the worker has to stop it.
 */
final class TaskRun {
  /** Time between SIGTERM and SIGKILL when the worker kills a task's process tree. */
  static final Duration TERM_GRACE = Duration.ofSeconds(5);
  /** How long to wait for stderr's end after the process exited (a background child may hold it open). */
  private static final long OUTPUT_DRAIN_MS = 2000;

  /** Why the worker stopped a task itself. */
  enum Stop { NONE, SHUTDOWN, JOB_DELETED }

  /** How an attempt ended. */
  record Result(int exitCode, boolean timedOut, Stop stoppedBy, long durationNanos) {}

  private final Process process;
  private final long startNanos;
  private final long spawnedNanos;
  private final OutputPump out;
  private final OutputPump err;
  private final OutputTail errTail;
  private volatile Stop stop = Stop.NONE;
  private List<ProcessHandle> tree = List.of();
  private long termSentNanos;

  private TaskRun(Process process, long startNanos, long spawnedNanos, OutputPump out, OutputPump err, OutputTail errTail) {
    this.process = process;
    this.startNanos = startNanos;
    this.spawnedNanos = spawnedNanos;
    this.out = out;
    this.err = err;
    this.errTail = errTail;
  }

  /** Starts the process and its output pumps. */
  static TaskRun start(ProcessBuilder pb, int index, ExecutorService pumps) throws IOException {
    String label = Integer.toString(index);
    return start(pb, () -> label, false, pumps);
  }

  /**
   * Starts a process whose output lines belong to the task {@code label} names when each is written (a
   * runner's); its pumps can be drained ({@link #drainOutput}).
   */
  static TaskRun start(ProcessBuilder pb, Supplier<String> label, ExecutorService pumps) throws IOException {
    return start(pb, label, true, pumps);
  }

  private static TaskRun start(ProcessBuilder pb, Supplier<String> label, boolean drainable, ExecutorService pumps)
      throws IOException {
    long t0 = System.nanoTime();
    Process p = pb.start();
    long spawned = System.nanoTime();
    OutputTail tail = new OutputTail(OutputTail.MAX_BYTES * 2);
    BooleanSupplier alive = drainable ? p::isAlive : null;
    OutputPump out = new OutputPump(p.getInputStream(), label, "stdout", null, alive);
    OutputPump err = new OutputPump(p.getErrorStream(), label, "stderr", tail, alive);
    pumps.execute(out);
    pumps.execute(err);
    return new TaskRun(p, t0, spawned, out, err, tail);
  }

  long pid() {
    return process.pid();
  }

  long startNanos() {
    return startNanos;
  }

  /** When the process was running (ProcessBuilder.start returned). */
  long spawnedNanos() {
    return spawnedNanos;
  }

  /** Waits for the process; past {@code timeout} its tree is killed and the result says so. */
  Result await(Duration timeout) throws InterruptedException {
    boolean timedOut = false;
    if (!process.waitFor(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
      timedOut = stop == Stop.NONE;
      terminate();
      if (!process.waitFor(TERM_GRACE.toMillis(), TimeUnit.MILLISECONDS)) {
        forceKill();
      }
      process.waitFor();
    }
    long duration = System.nanoTime() - startNanos;
    if (timedOut || stop != Stop.NONE) {
      reapOrphans();
    }
    return new Result(process.exitValue(), timedOut, stop, duration);
  }

  /** The end of stderr, once it is complete (bounded wait: orphans may keep it open). */
  String stderrTail() throws InterruptedException {
    err.await(OUTPUT_DRAIN_MS);
    return errTail.text(OutputTail.MAX_BYTES);
  }

  /**
   * Waits (bounded) until what a runner wrote so far is logged, under the label it has now: called when
   * it answered for a task, which it does after flushing that task's output.
   */
  void drainOutput() throws InterruptedException {
    // both pumps at once: each request is a round trip to a thread that may be waiting for a CPU
    long o = out.requestDrain();
    long e = err.requestDrain();
    out.awaitDrain(o, OUTPUT_DRAIN_MS);
    err.awaitDrain(e, OUTPUT_DRAIN_MS);
  }

  /** Bytes written to stderr so far: a mark for {@link #stderrTailSince}. */
  long stderrMark() {
    return errTail.written();
  }

  /**
   * What was written to stderr after {@code mark}, at most its last {@link OutputTail#MAX_BYTES}: a runner's
   * output during one task. Waits for the stream's end only when the process has exited.
   */
  String stderrTailSince(long mark) throws InterruptedException {
    if (!process.isAlive()) {
      err.await(OUTPUT_DRAIN_MS);
    }
    long n = Math.min(errTail.written() - mark, OutputTail.MAX_BYTES);
    return n <= 0 ? "" : errTail.text((int) n);
  }

  /** Marks the attempt as stopped by the worker and sends SIGTERM to its process tree. */
  void stop(Stop why) {
    stop = why;
    terminate();
  }

  synchronized void terminate() {
    if (!process.isAlive()) {
      return;
    }
    List<ProcessHandle> t = new ArrayList<>(tree);
    process.descendants().forEach(t::add);
    tree = t;
    termSentNanos = System.nanoTime();
    process.destroy();
    for (ProcessHandle h : t) {
      h.destroy();
    }
  }

  /** SIGKILL to the process and every descendant seen so far (orphans included). */
  synchronized void forceKill() {
    List<ProcessHandle> t = new ArrayList<>(tree);
    if (process.isAlive()) {
      process.descendants().forEach(t::add);
    }
    tree = t;
    for (ProcessHandle h : t) {
      h.destroyForcibly();
    }
    process.destroyForcibly();
  }

  /**
   * After a terminated task's process exited: gives its descendants what is left of their SIGTERM
   * grace, then kills the ones still running (they were reparented and would outlive the task).
   */
  void reapOrphans() throws InterruptedException {
    List<ProcessHandle> t;
    long sent;
    synchronized (this) {
      t = tree;
      sent = termSentNanos;
    }
    long deadline = sent + TERM_GRACE.toNanos();
    for (ProcessHandle h : t) {
      while (h.isAlive() && System.nanoTime() < deadline) {
        Thread.sleep(20);
      }
      if (h.isAlive()) {
        h.destroyForcibly();
      }
    }
  }

  boolean isAlive() {
    return process.isAlive();
  }

  /** The exit code of a process that has exited. */
  int exitValue() {
    return process.exitValue();
  }

  boolean waitFor(Duration d) throws InterruptedException {
    return process.waitFor(d.toMillis(), TimeUnit.MILLISECONDS);
  }

  Stop stoppedBy() {
    return stop;
  }
}
