package io.trainq.operator.k8s;

import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.trainq.engine.EventStream;
import io.trainq.engine.JobEvent;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The events stream's handler: folds each job's events into its runtime at once and asks for a
 * reconciliation, which stores the status; the batch's future completes when every job's status
 * holding these events is stored. Events of jobs that no longer exist complete at once (dropped).
 */
final class FoldingHandler implements EventStream.Handler {
  private static final Logger log = LoggerFactory.getLogger(FoldingHandler.class);

  private final JobRegistry registry;
  private final long minIntervalNanos;
  private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "trainq-status-timer");
    t.setDaemon(true);
    return t;
  });
  private volatile Consumer<ResourceID> reconcile = id -> {};

  /**
   * @param statusInterval shortest time between two stores of one job's status caused by events: a
   *     busy job's events are stored in batches, so a hundred busy jobs do not flood the API server
   */
  FoldingHandler(JobRegistry registry, Duration statusInterval) {
    this.registry = registry;
    this.minIntervalNanos = statusInterval.toNanos();
  }

  void onFolded(Consumer<ResourceID> reconcile) {
    this.reconcile = reconcile;
  }

  @Override
  public CompletionStage<?> store(List<JobEvent> batch) {
    Map<String, List<JobEvent>> byJob = new LinkedHashMap<>();
    for (JobEvent e : batch) {
      byJob.computeIfAbsent(e.jobKey(), k -> new ArrayList<>()).add(e);
    }
    List<CompletableFuture<Void>> stored = new ArrayList<>();
    for (Map.Entry<String, List<JobEvent>> e : byJob.entrySet()) {
      Optional<JobRuntime> rt = registry.byKey(e.getKey());
      if (rt.isEmpty()) {
        log.debug("dropping {} events of job {}, which does not exist (any more)", e.getValue().size(), e.getKey());
        continue;
      }
      CompletableFuture<Void> f = rt.get().fold(e.getValue());
      if (!f.isDone()) {
        scheduleStore(rt.get());
      }
      stored.add(f);
    }
    return CompletableFuture.allOf(stored.toArray(new CompletableFuture[0]));
  }

  /** One reconciliation per job and interval: now if the last store is old enough, else when it is. */
  private void scheduleStore(JobRuntime rt) {
    if (!rt.storeScheduled.compareAndSet(false, true)) {
      return;
    }
    long wait = rt.lastStoreNanos + minIntervalNanos - System.nanoTime();
    Runnable go = () -> {
      rt.storeScheduled.set(false);
      reconcile.accept(rt.id);
    };
    if (wait <= 0) {
      go.run();
    } else {
      timer.schedule(go, wait, TimeUnit.NANOSECONDS);
    }
  }
}
