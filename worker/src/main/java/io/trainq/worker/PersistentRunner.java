package io.trainq.worker;

import com.fasterxml.jackson.databind.JsonNode;
import io.trainq.protocol.TaskEvent;
import io.trainq.protocol.TaskMessage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One slot's long-lived runner ({@code spec.runner.mode: Persistent}): the task command, started with the
 * worker (or with the task that needs a new one) with the slot's CUDA_VISIBLE_DEVICES, handed one task
 * after another over the runner protocol ({@link RunnerProtocol}). A runner that exits, times out or
 * breaks the protocol fails its task and is replaced on the next one; after {@code maxTasksPerProcess}
 * tasks it is told to exit and replaced. Only the slot's thread starts and awaits attempts (the
 * worker's runner-starter thread spawns the first runner, under the same lock); {@link #close} comes
 * from the worker's shutdown.
 */
final class PersistentRunner implements AttemptRunner {
  private static final Logger log = LoggerFactory.getLogger(PersistentRunner.class);
  /** How long a runner told to exit (end of its input) may take before its process tree is terminated. */
  static final Duration EXIT_GRACE = Duration.ofSeconds(5);
  /** Longest Unix socket path (sun_path is 108 bytes, with its terminating zero). */
  private static final int MAX_SOCKET_PATH = 100;
  private static final long POLL_MS = 100;
  /**
   * Task lines up to this long are written by the slot's thread itself: well under a Unix socket's send
   * buffer (208 KiB by default on Linux), so the write cannot block on an empty socket.
   */
  static final int DIRECT_WRITE_MAX = 32 * 1024;

  private final WorkerConfig config;
  private final ExecutorService pumps;
  private final Path socketDir;
  private final String pythonPath;
  private final int slot;
  /** Shared by the slots: a start-up in turn holds a permit from its spawn until the runner is ready or failed. */
  private final Semaphore starts;
  private Runner runner;
  /** Held while a runner is spawned: the slot's thread and the starter thread never spawn two. */
  private final Object spawning = new Object();
  private int generation;
  private boolean closed;
  /** The start ahead of the first task could not spawn the runner: the first task tries again. */
  private volatile boolean prestartFailed;

  PersistentRunner(WorkerConfig config, ExecutorService pumps, Path socketDir, String pythonPath, int slot, Semaphore starts) {
    this.config = config;
    this.pumps = pumps;
    this.socketDir = socketDir;
    this.pythonPath = pythonPath;
    this.slot = slot;
    this.starts = starts;
  }

  /** What the runner's connection delivered, in order. */
  private sealed interface Inbound {}

  private record Connected() implements Inbound {}

  private record Line(JsonNode message) implements Inbound {}

  private record Bad(String problem) implements Inbound {}

  private record Closed(String why) implements Inbound {}

  /** A runner process and its connection. */
  private final class Runner {
    final TaskRun process;
    final ServerSocketChannel server;
    final Path socket;
    final BlockingQueue<Inbound> inbox = new LinkedBlockingQueue<>();
    volatile SocketChannel conn;
    /** The task its output belongs to: the current one, or the last one between tasks ("-" before the first). */
    volatile String label = "-";
    volatile boolean ready;
    int tasks;
    /** Told to exit, or said it would: it gets no more tasks. */
    volatile boolean retiring;
    /** The reader saw the end of the connection (or never had one). */
    volatile boolean readerDone;
    /** When the slot's thread first saw the process dead, or 0. */
    long deadSince;
    /** When it was spawned: spec.runner.startTimeout counts from here, not from the wait for a start permit. */
    final long spawnedNanos = System.nanoTime();
    private final AtomicBoolean startPermit;
    /** It said its first line, or its start-up failed: see {@link PersistentRunner#startUpOver}. */
    volatile boolean startUpOver;

    Runner(TaskRun process, ServerSocketChannel server, Path socket, boolean startPermit) {
      this.process = process;
      this.server = server;
      this.socket = socket;
      this.startPermit = new AtomicBoolean(startPermit);
    }

    /**
     * It has connected: told that there are no more tasks (the end of its input), it exits by itself,
     * also when it was started ahead of a task that never came.
     */
    boolean connected() {
      return ready || conn != null;
    }

    /** Hands back its start permit (once): it is ready, or its start-up failed. */
    void startEnded() {
      startUpOver = true;
      if (startPermit.compareAndSet(true, false)) {
        starts.release();
      }
    }

    /** Accepts the runner's one connection, then reads its lines until the end of the stream. */
    void read() {
      SocketChannel c;
      try {
        c = server.accept();
      } catch (IOException e) {
        // closed: the runner was stopped before it connected
        readerDone = true;
        startEnded();
        return;
      } finally {
        closeServer();
      }
      conn = c;
      inbox.add(new Connected());
      try (InputStream in = Channels.newInputStream(c)) {
        ByteArrayOutputStream line = new ByteArrayOutputStream(256);
        byte[] buf = new byte[8192];
        int n;
        while ((n = in.read(buf)) > 0) {
          int start = 0;
          for (int i = 0; i < n; i++) {
            if (buf[i] == '\n') {
              line.write(buf, start, i - start);
              deliver(line.toString(StandardCharsets.UTF_8));
              line.reset();
              start = i + 1;
            }
          }
          line.write(buf, start, n - start);
          if (line.size() > RunnerProtocol.MAX_LINE) {
            inbox.add(new Bad("a line longer than " + RunnerProtocol.MAX_LINE + " bytes"));
            return;
          }
        }
        inbox.add(new Closed(line.size() > 0 ? "the connection ended inside a line: "
            + RunnerProtocol.quote(line.toString(StandardCharsets.UTF_8)) : "the connection ended"));
      } catch (IOException e) {
        inbox.add(new Closed("the connection failed: " + e.getMessage()));
      } finally {
        readerDone = true;
        startEnded();
      }
    }

    /**
     * True once the process is dead and whatever it wrote before has been read: the reader reached the
     * end, it never connected, or a child that inherited the socket keeps it open past {@link #EXIT_GRACE}.
     */
    boolean goneWithNothingLeft() {
      if (process.isAlive()) {
        return false;
      }
      if (conn == null || readerDone) {
        return inbox.isEmpty();
      }
      long now = System.nanoTime();
      if (deadSince == 0) {
        deadSince = now;
      }
      return now - deadSince > EXIT_GRACE.toNanos();
    }

    private void deliver(String line) {
      if (line.isBlank()) {
        return;
      }
      // its first line (ready, or what is wrong) ends its start-up: the next runner's turn
      startEnded();
      try {
        inbox.add(new Line(RunnerProtocol.parse(line)));
      } catch (RunnerProtocol.Violation v) {
        inbox.add(new Bad(v.getMessage()));
      }
    }

    void closeServer() {
      try {
        server.close();
      } catch (IOException e) {
        // already closed
      }
      try {
        Files.deleteIfExists(socket);
        if (!socket.getParent().equals(socketDir)) {
          // the short directory of a socket whose path in the worker's temp directory was too long
          Files.deleteIfExists(socket.getParent());
        }
      } catch (IOException e) {
        // a leftover socket file in the worker's own temp directory is harmless
      }
    }

    /** Tells the runner there are no more tasks (end of its input): its task loop ends and it exits. */
    void sayGoodbye() {
      retiring = true;
      closeServer();
      SocketChannel c = conn;
      if (c != null) {
        try {
          c.shutdownOutput();
        } catch (IOException e) {
          // gone already
        }
      }
    }

    void closeConnection() {
      closeServer();
      SocketChannel c = conn;
      if (c != null) {
        try {
          c.close();
        } catch (IOException e) {
          // gone already
        }
      }
    }

    /** Terminates the process tree (SIGTERM, then SIGKILL after the grace) and closes the connection. */
    void kill() throws InterruptedException {
      retiring = true;
      startEnded();
      process.terminate();
      if (!process.waitFor(TaskRun.TERM_GRACE)) {
        process.forceKill();
        process.waitFor(TaskRun.TERM_GRACE);
      }
      process.reapOrphans();
      closeConnection();
    }

    /** Waits for a runner told to exit; terminates it when it takes longer than {@link #EXIT_GRACE}. */
    void awaitExit() throws InterruptedException {
      if (!process.waitFor(EXIT_GRACE)) {
        log.warn("slot {}: the runner (pid {}) did not exit within {} ms of the end of its input; terminating it", slot,
            process.pid(), EXIT_GRACE.toMillis());
        kill();
      }
      closeConnection();
    }
  }

  @Override
  public Attempt start(Slot s, TaskMessage t, String paramsJson, Path paramsFile) throws IOException {
    Runner r;
    synchronized (this) {
      if (closed) {
        throw new IOException("the worker is stopping");
      }
      r = runner;
    }
    if (r != null && (r.retiring || !r.process.isAlive())) {
      try {
        r.awaitExit();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted while the previous runner exited");
      }
      r = null;
    }
    long t0 = System.nanoTime();
    boolean fresh = r == null;
    if (fresh) {
      boolean permit;
      try {
        permit = starts.tryAcquire(config.dispatch().runnerStartTurn().toMillis(), TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted while waiting to start the runner");
      }
      synchronized (spawning) {
        Runner now;
        synchronized (this) {
          now = runner;
        }
        if (now != null && !now.retiring && now.process.isAlive()) {
          // the starter spawned it while this slot waited for its turn
          if (permit) {
            starts.release();
          }
          r = now;
        } else {
          try {
            r = spawn(s, permit);
          } catch (IOException | RuntimeException e) {
            if (permit) {
              starts.release();
            }
            throw e;
          }
        }
      }
    }
    r.label = Integer.toString(t.index());
    // a runner's start-up output counts until its first task is sent: it explains a runner that never gets ready
    return new TaskAttempt(r, t, paramsFile, t0, r.ready ? r.process.stderrMark() : 0);
  }

  /**
   * Starts the slot's runner ahead of its first task, in turn with the other slots' (from the worker's
   * runner-starter thread, while the worker connects). It gets ready on its own; the first task waits
   * for that, and a runner that cannot start fails that task as if it had been started for it.
   */
  void prestart(Slot s) throws InterruptedException {
    boolean permit = starts.tryAcquire(config.dispatch().runnerStartTurn().toMillis(), TimeUnit.MILLISECONDS);
    synchronized (spawning) {
      synchronized (this) {
        if (closed || runner != null) {
          if (permit) {
            starts.release();
          }
          return;
        }
      }
      try {
        spawn(s, permit);
      } catch (IOException | RuntimeException e) {
        if (permit) {
          starts.release();
        }
        prestartFailed = true;
        log.warn("slot {}: cannot start the runner ahead of the first task ({}); the first task starts one", slot,
            e.getMessage());
      }
    }
  }

  /**
   * Whether the start-up begun by {@link #prestart} is over: the runner said its first line (ready, or
   * what is wrong), or it exited, or it could not be spawned, or the runner is closed.
   */
  boolean startUpOver() {
    Runner r;
    synchronized (this) {
      if (closed) {
        return true;
      }
      r = runner;
    }
    if (r == null) {
      return prestartFailed;
    }
    return r.startUpOver || !r.process.isAlive();
  }

  /** Spawns the slot's runner; a start permit the caller holds passes to the runner. */
  private Runner spawn(Slot s, boolean permit) throws IOException {
    generation++;
    Path socket = socketDir.resolve("runner-" + slot + "-" + generation + ".sock");
    if (socket.toString().length() > MAX_SOCKET_PATH) {
      socket = Files.createTempDirectory(Path.of("/tmp"), "trainq-").resolve("runner.sock");
    }
    Files.deleteIfExists(socket);
    ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    TaskRun process;
    Runner r;
    try {
      server.bind(UnixDomainSocketAddress.of(socket), 1);
      ProcessBuilder pb = new ProcessBuilder(config.command());
      pb.environment().clear();
      pb.environment().putAll(config.taskEnv());
      TaskEnv.putRunner(pb.environment(), config, s.id, s.devices, socket, pythonPath);
      pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
      if (config.workingDir() != null) {
        pb.directory(config.workingDir().toFile());
      }
      Runner[] holder = new Runner[1];
      process = TaskRun.start(pb, () -> holder[0] == null ? "-" : holder[0].label, pumps);
      r = new Runner(process, server, socket, permit);
      holder[0] = r;
    } catch (IOException | RuntimeException e) {
      server.close();
      Files.deleteIfExists(socket);
      throw e;
    }
    Runner started = r;
    pumps.execute(started::read);
    synchronized (this) {
      if (closed) {
        // closed while it was being spawned (the starter thread): it never serves. Its permit stays
        // the caller's, which hands it back on this exception.
        r.startPermit.set(false);
        try {
          r.kill();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        throw new IOException("the worker is stopping");
      }
      runner = r;
    }
    log.info("slot {}: started runner {} (pid {}{})", slot, generation, process.pid(),
        s.devices.isEmpty() ? "" : ", CUDA_VISIBLE_DEVICES=" + s.devices);
    return r;
  }

  /** Forgets a runner that is dead or being killed: the next task starts a fresh one. */
  private synchronized void discard(Runner r) {
    if (runner == r) {
      runner = null;
    }
  }

  /** One task handed to the runner. */
  private final class TaskAttempt implements Attempt {
    private final Runner r;
    private final TaskMessage t;
    private final Path paramsFile;
    private final long startNanos;
    private long sentNanos;
    private long stderrMark;

    TaskAttempt(Runner r, TaskMessage t, Path paramsFile, long startNanos, long stderrMark) {
      this.r = r;
      this.t = t;
      this.paramsFile = paramsFile;
      this.startNanos = startNanos;
      this.stderrMark = stderrMark;
      this.sentNanos = startNanos;
    }

    @Override
    public TaskRun process() {
      return r.process;
    }

    @Override
    public long startNanos() {
      return startNanos;
    }

    @Override
    public long spawnedNanos() {
      return sentNanos;
    }

    @Override
    public String stderrTail() throws InterruptedException {
      return r.process.stderrTailSince(stderrMark);
    }

    @Override
    public Result await(Duration timeout, Runnable underWay) throws InterruptedException {
      // The output label (set in start) stays until the next task; the answer waits until what the runner
      // flushed before it is logged, so that it is still this task's.
      Result notReady = null;
      if (!r.ready) {
        try {
          notReady = awaitReady();
        } finally {
          r.startEnded();
        }
      }
      if (notReady != null) {
        return notReady;
      }
      Inbound stale = r.inbox.poll();
      if (stale instanceof Closed) {
        return exited("before it was handed the task");
      }
      if (stale != null) {
        return violation(stale instanceof Line l ? "a message while no task was running: " + l.message()
            : stale instanceof Bad b ? b.problem() : null, stale);
      }
      stderrMark = r.process.stderrMark();
      sentNanos = System.nanoTime();
      send(RunnerProtocol.taskLine(t, paramsFile));
      underWay.run();
      return awaitAnswer(sentNanos + timeout.toNanos());
    }

    private void send(byte[] line) {
      SocketChannel c = r.conn;
      if (line.length <= DIRECT_WRITE_MAX) {
        // Nothing the runner has not read is in the socket: it answered the previous task by its index,
        // after reading its line (or said ready, before any). A line this short then fits the socket's
        // buffer and the write returns at once, without a hand-off to another thread.
        write(c, line);
      } else {
        // off the slot's thread: a runner that does not read cannot hold the slot past its timeout
        pumps.execute(() -> write(c, line));
      }
    }

    private void write(SocketChannel c, byte[] line) {
      try {
        ByteBuffer b = ByteBuffer.wrap(line);
        while (b.hasRemaining()) {
          c.write(b);
        }
      } catch (IOException e) {
        r.inbox.add(new Closed("cannot send the task: " + e.getMessage()));
      }
    }

    /** Waits for the runner's connection and its {@code ready}; a result when it failed to get there. */
    private Result awaitReady() throws InterruptedException {
      long deadline = r.spawnedNanos + config.job().runner().startTimeout().toNanos();
      boolean connected = false;
      while (true) {
        Inbound m = r.inbox.poll(POLL_MS, TimeUnit.MILLISECONDS);
        if (r.process.stoppedBy() != TaskRun.Stop.NONE) {
          return stopped();
        }
        if (m instanceof Connected) {
          connected = true;
          continue;
        }
        if (m instanceof Line l) {
          try {
            RunnerProtocol.checkReady(l.message());
          } catch (RunnerProtocol.Violation v) {
            return violation(v.getMessage(), m);
          }
          r.ready = true;
          log.info("slot {}: runner {} ready in {} ms", slot, r.process.pid(), (System.nanoTime() - r.spawnedNanos) / 1_000_000);
          return null;
        }
        if (m instanceof Bad b) {
          return violation(b.problem(), m);
        }
        if (m instanceof Closed || (m == null && r.goneWithNothingLeft())) {
          return exited(connected ? "before it said ready" : "before it connected to " + RunnerProtocol.SOCKET_ENV);
        }
        if (System.nanoTime() > deadline) {
          long ms = config.job().runner().startTimeout().toMillis();
          log.warn("slot {}: the runner (pid {}) did not {} within {} ms; killing it", slot, r.process.pid(),
              connected ? "say ready" : "connect", ms);
          discard(r);
          r.kill();
          return new Result(exitCode(), false, TaskRun.Stop.NONE, System.nanoTime() - startNanos,
              TaskEvent.Reason.RUNNER_NOT_READY, withStderr("the runner did not " + (connected ? "say ready" : "connect to "
                  + RunnerProtocol.SOCKET_ENV) + " within " + ms + " ms (spec.runner.startTimeout)"));
        }
      }
    }

    private Result awaitAnswer(long deadline) throws InterruptedException {
      while (true) {
        Inbound m = r.inbox.poll(POLL_MS, TimeUnit.MILLISECONDS);
        if (r.process.stoppedBy() != TaskRun.Stop.NONE) {
          return stopped();
        }
        if (m instanceof Line l) {
          RunnerProtocol.Answer a;
          try {
            a = RunnerProtocol.answer(l.message(), t);
          } catch (RunnerProtocol.Violation v) {
            return violation(v.getMessage(), m);
          }
          r.process.drainOutput();
          return answered(a);
        }
        if (m instanceof Bad b) {
          return violation(b.problem(), m);
        }
        if (m instanceof Closed || (m == null && r.goneWithNothingLeft())) {
          return exited("during the task");
        }
        if (System.nanoTime() > deadline) {
          discard(r);
          r.kill();
          return new Result(exitCode(), true, TaskRun.Stop.NONE, System.nanoTime() - startNanos, null, null);
        }
      }
    }

    private Result answered(RunnerProtocol.Answer a) {
      long duration = System.nanoTime() - startNanos;
      r.tasks++;
      int max = config.job().runner().maxTasksPerProcess();
      if (a.exiting()) {
        // it said it exits: no more tasks for it, the next starts a fresh one
        r.retiring = true;
      } else if (max > 0 && r.tasks >= max) {
        log.info("slot {}: runner {} ran {} task(s) (spec.runner.maxTasksPerProcess); replacing it", slot, r.process.pid(),
            r.tasks);
        r.sayGoodbye();
      }
      if (a.done()) {
        return new Result(0, false, TaskRun.Stop.NONE, duration, null, null);
      }
      return new Result(null, false, TaskRun.Stop.NONE, duration, TaskEvent.Reason.FAILED,
          a.error().isEmpty() ? "the runner reported the task failed, without an error" : a.error());
    }

    /** The worker stopped the runner (shutdown, job deleted): wait for the process tree to end. */
    private Result stopped() throws InterruptedException {
      discard(r);
      r.process.waitFor(TaskRun.TERM_GRACE.plus(TaskRun.TERM_GRACE));
      r.process.reapOrphans();
      r.closeConnection();
      return new Result(exitCode(), false, r.process.stoppedBy(), System.nanoTime() - startNanos, null, null);
    }

    /** The connection ended: the runner exited (or will); a runner that lives on without it is killed. */
    private Result exited(String when) throws InterruptedException {
      discard(r);
      if (!r.process.waitFor(EXIT_GRACE)) {
        r.kill();
        return new Result(exitCode(), false, TaskRun.Stop.NONE, System.nanoTime() - startNanos, TaskEvent.Reason.PROTOCOL_ERROR,
            withStderr("runner protocol error: the runner closed its connection " + when + " but did not exit; it was killed"));
      }
      r.closeConnection();
      int code = r.process.exitValue();
      log.warn("slot {}: the runner (pid {}) exited with code {} {}", slot, r.process.pid(), code, when);
      return new Result(code, false, TaskRun.Stop.NONE, System.nanoTime() - startNanos, TaskEvent.Reason.RUNNER_EXITED,
          withStderr("the runner exited with code " + code + " " + when));
    }

    private Result violation(String problem, Inbound m) throws InterruptedException {
      String what = problem != null ? problem : String.valueOf(m);
      log.warn("slot {}: runner protocol error: {}; killing the runner (pid {})", slot, what, r.process.pid());
      discard(r);
      r.kill();
      return new Result(exitCode(), false, TaskRun.Stop.NONE, System.nanoTime() - startNanos, TaskEvent.Reason.PROTOCOL_ERROR,
          "runner protocol error: the runner sent " + what);
    }

    private Integer exitCode() {
      return r.process.isAlive() ? null : r.process.exitValue();
    }

    private String withStderr(String message) throws InterruptedException {
      String tail = stderrTail();
      return tail.isEmpty() ? message : message + "; stderr: " + tail;
    }
  }

  /** Step one of closing: a runner that is idle is told there are no more tasks. */
  void beginClose() {
    Runner r;
    synchronized (this) {
      closed = true;
      r = runner;
    }
    if (r != null && r.connected()) {
      r.sayGoodbye();
    }
  }

  /** Step two: waits for the runner to exit, terminating it when it does not. */
  @Override
  public void close() {
    Runner r;
    synchronized (this) {
      closed = true;
      r = runner;
      runner = null;
    }
    if (r == null) {
      return;
    }
    try {
      if (r.connected()) {
        r.sayGoodbye();
        r.awaitExit();
      } else {
        r.kill();
      }
      log.info("slot {}: runner (pid {}) stopped", slot, r.process.pid());
    } catch (InterruptedException e) {
      r.process.forceKill();
      Thread.currentThread().interrupt();
    }
  }
}
