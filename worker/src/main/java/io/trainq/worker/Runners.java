package io.trainq.worker;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Semaphore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The slots' attempt runners, as the job's spec.runner says: one {@link ProcessRunner} for all slots, or a
 * {@link PersistentRunner} per slot, started with the worker, one start-up per CPU at a time. Also puts the
 * Python helper (trainq_task.py, shipped in the worker's jar) where the tasks' PYTHONPATH finds it.
 */
final class Runners implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Runners.class);
  private static final long START_UP_POLL_MS = 5;
  static final String PYTHON_HELPER = "trainq_task.py";

  private final WorkerConfig config;
  private final ExecutorService pumps;
  private final Path dir;
  private final String pythonPath;
  private final ProcessRunner processes;
  private final ConcurrentMap<Integer, PersistentRunner> persistent = new ConcurrentHashMap<>();
  /**
   * Runner start-ups under way at once: one per CPU. Started together, every slot's runner shares the
   * CPUs and all get ready late together; in turn, the first is ready (and its task runs) after one
   * start-up. A slot waits at most the dispatch's runnerStartTurn for its turn: start-ups that wait on
   * something other than the CPUs (a GPU, storage) are delayed by that much at most.
   */
  private final Semaphore starts = new Semaphore(Math.max(1, Runtime.getRuntime().availableProcessors()), true);

  Runners(WorkerConfig config, ExecutorService pumps, Path dir) {
    this.config = config;
    this.pumps = pumps;
    this.dir = dir;
    this.pythonPath = installPythonHelper(dir);
    this.processes = new ProcessRunner(config, pumps, pythonPath);
  }

  AttemptRunner forSlot(Slot slot) {
    if (!config.job().runner().persistent()) {
      return processes;
    }
    return persistent.computeIfAbsent(slot.id, id -> new PersistentRunner(config, pumps, dir, pythonPath, id, starts));
  }

  /**
   * Persistent runners only: starts every slot's runner ahead of its first task, in turns, from a
   * thread of its own (the worker connects meanwhile); a runner that cannot start fails its first task.
   */
  void prestart(List<Slot> slots) {
    if (!config.job().runner().persistent()) {
      return;
    }
    // every slot's runner object exists before close() can run: none is spawned after it
    List<PersistentRunner> all = slots.stream().map(s -> (PersistentRunner) forSlot(s)).toList();
    Thread starter = new Thread(() -> {
      try {
        for (int i = 0; i < slots.size(); i++) {
          all.get(i).prestart(slots.get(i));
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, "runner-starter");
    starter.setDaemon(true);
    starter.start();
  }

  /**
   * Persistent runners only: waits until every slot's runner started by {@link #prestart} is ready (or
   * failed to start), at most {@code max}. The worker consumes after this: a slot then takes its first
   * delivery when it can run it, and tasks stay in the queue, for other workers, while runners start.
   *
   * @return how many runners were still starting when the wait ended
   */
  int awaitStartUps(java.time.Duration max) throws InterruptedException {
    if (!config.job().runner().persistent()) {
      return 0;
    }
    long deadline = System.nanoTime() + max.toNanos();
    while (true) {
      int starting = (int) persistent.values().stream().filter(r -> !r.startUpOver()).count();
      if (starting == 0 || System.nanoTime() >= deadline) {
        return starting;
      }
      Thread.sleep(START_UP_POLL_MS);
    }
  }

  /** Stops the slots' runners: every idle one is told to exit at once, then each is waited for. */
  @Override
  public void close() {
    List<PersistentRunner> all = new ArrayList<>(persistent.values());
    all.forEach(PersistentRunner::beginClose);
    all.forEach(PersistentRunner::close);
  }

  /** Copies the helper out of the jar into {@code dir}/python; returns that directory, or null when it cannot. */
  static String installPythonHelper(Path dir) {
    try (InputStream in = Runners.class.getResourceAsStream(PYTHON_HELPER)) {
      if (in == null) {
        log.warn("{} is not in the worker's jar; tasks will not find it on PYTHONPATH", PYTHON_HELPER);
        return null;
      }
      Path py = Files.createDirectories(dir.resolve("python"));
      Files.copy(in, py.resolve(PYTHON_HELPER), StandardCopyOption.REPLACE_EXISTING);
      return py.toString();
    } catch (IOException e) {
      log.warn("cannot install {} for the tasks ({}); they will not find it on PYTHONPATH", PYTHON_HELPER, e.getMessage());
      return null;
    }
  }
}
