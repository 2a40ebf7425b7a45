package io.trainq.operator.k8s;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.javaoperatorsdk.operator.api.monitoring.Metrics;
import io.javaoperatorsdk.operator.api.reconciler.RetryInfo;
import io.javaoperatorsdk.operator.monitoring.micrometer.MicrometerMetrics;
import io.javaoperatorsdk.operator.processing.Controller;
import io.javaoperatorsdk.operator.processing.event.Event;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.trainq.api.TrainingJobStatus;
import io.trainq.engine.EventStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import java.util.function.ToLongFunction;
import java.util.stream.Stream;

/**
 * The operator's metrics in a Micrometer Prometheus registry (names as the chart's Grafana dashboard
 * reads them), plus JOSDK's own through its Micrometer support ({@code operator_sdk_*}). Also JOSDK's
 * {@link Metrics}: it counts reconciliations and hands every callback on to JOSDK's implementation.
 */
public final class OperatorMetrics implements Metrics {
  /** Bounds of trainq_task_duration_seconds, from 10 ms to a day. */
  static final Duration[] DURATION_BUCKETS = Stream.of(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0,
      3600.0, 7200.0, 14400.0, 43200.0, 86400.0).map(s -> Duration.ofMillis((long) (s * 1000))).toArray(Duration[]::new);

  private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final Metrics josdk = MicrometerMetrics.withoutPerResourceMetrics(registry);
  private final Counter reconcileSuccess;
  private final Counter reconcileError;
  private final Counter published;
  private final Counter statusPatches;
  private final MultiGauge jobTasks;
  private final MultiGauge jobWorkers;
  private final MultiGauge jobUtilization;
  private final Map<String, JobGauges> jobs = new ConcurrentHashMap<>();
  /** Each job's labels, by uid, to remove its meters when it goes. */
  private final Map<String, Tags> jobTags = new ConcurrentHashMap<>();
  private volatile boolean leader;
  private volatile Supplier<List<EventStream>> streams = List::of;

  private record JobGauges(String namespace, String name, int total, int succeeded, int deadLettered, int running,
      int desired, int ready, Double utilization) {}

  public OperatorMetrics() {
    Gauge.builder("trainq.operator.leader", this, m -> m.leader ? 1 : 0)
        .description("1 on the replica that holds the lease and reconciles.").register(registry);
    reconcileSuccess = Counter.builder("trainq.reconciliations").tag("result", "success")
        .description("Reconciliations of TrainingJobs by result.").register(registry);
    reconcileError = Counter.builder("trainq.reconciliations").tag("result", "error")
        .description("Reconciliations of TrainingJobs by result.").register(registry);
    published = Counter.builder("trainq.tasks.published").description("Tasks published with a broker confirm.").register(registry);
    statusPatches = Counter.builder("trainq.status.patches").description("TrainingJob status patches stored.").register(registry);
    streamCounter("trainq.events.acknowledged", "Events and dead letters acknowledged after their status was stored.",
        EventStream::acknowledged);
    streamCounter("trainq.events.malformed", "Unreadable messages dropped from the events queue.", EventStream::malformed);
    Gauge.builder("trainq.events.unacknowledged", this, m -> sum(m.streams.get(), EventStream::unacknowledged))
        .description("Events received and not yet stored.").register(registry);
    jobTasks = MultiGauge.builder("trainq.job.tasks").description("Tasks of a TrainingJob by state.").register(registry);
    jobWorkers = MultiGauge.builder("trainq.job.workers").description("Worker pods of a TrainingJob: desired and ready.")
        .register(registry);
    jobUtilization = MultiGauge.builder("trainq.job.gpu.utilization")
        .description("Busy over allocated GPU-seconds of a TrainingJob (0-1).").register(registry);
    new JvmMemoryMetrics().bindTo(registry);
  }

  private void streamCounter(String name, String help, ToLongFunction<EventStream> f) {
    FunctionCounter.builder(name, this, m -> sum(m.streams.get(), f)).description(help).register(registry);
  }

  private static double sum(List<EventStream> streams, ToLongFunction<EventStream> f) {
    long n = 0;
    for (EventStream s : streams) {
      n += f.applyAsLong(s);
    }
    return n;
  }

  void attach(Supplier<List<EventStream>> streams) {
    this.streams = streams;
  }

  public void leader(boolean isLeader) {
    this.leader = isLeader;
  }

  void published(int n) {
    published.increment(n);
  }

  void statusPatched() {
    statusPatches.increment();
  }

  void reconcileFailed() {
    reconcileError.increment();
  }

  /** The meters of one job: its folded outcomes, task durations and dropped events, labelled with the job. */
  JobMeters forJob(String namespace, String name, String uid) {
    Tags job = Tags.of("namespace", namespace == null ? "" : namespace, "job_name", name);
    jobTags.put(uid, job);
    // a timer, not a distribution summary: a summary's fixed buckets round values up to whole units
    Timer durations = Timer.builder("trainq.task.duration").tags(job).serviceLevelObjectives(DURATION_BUCKETS)
        .description("Wall time of finished task attempts.").register(registry);
    return new JobMeters() {
      @Override
      public void outcome(String outcome) {
        Counter.builder("trainq.task.events").tags(job).tag("outcome", outcome)
            .description("Task outcomes folded into the status (each counted once).").register(registry).increment();
      }

      @Override
      public void rejected(String reason) {
        Counter.builder("trainq.events.rejected").tags(job).tag("reason", reason)
            .description("Worker events dropped because they cannot be about the job (another job's uid, an index, attempt, "
                + "duration or GPU-seconds out of range).").register(registry).increment();
      }

      @Override
      public void duration(double seconds) {
        durations.record(Duration.ofNanos((long) (seconds * 1e9)));
      }
    };
  }

  void jobStatus(JobRuntime rt, TrainingJobStatus st) {
    Double util = null;
    if (st.getGpuUtilization() != null) {
      util = Integer.parseInt(st.getGpuUtilization().replace("%", "")) / 100.0;
    }
    var c = st.getCounts();
    jobs.put(rt.uid, new JobGauges(rt.id.getNamespace().orElse(""), rt.id.getName(), c.getTotal(), c.getSucceeded(),
        c.getDeadLettered(), c.getRunning(), st.getWorkersDesired(), st.getWorkersReady(), util));
    refreshJobGauges();
  }

  /** A job gone: its gauges and meters go too. */
  void forget(String uid) {
    jobs.remove(uid);
    refreshJobGauges();
    Tags job = jobTags.remove(uid);
    if (job != null) {
      for (String name : List.of("trainq.task.events", "trainq.events.rejected", "trainq.task.duration")) {
        for (Meter m : registry.find(name).tags(job).meters()) {
          registry.remove(m);
        }
      }
    }
  }

  private synchronized void refreshJobGauges() {
    List<MultiGauge.Row<?>> tasks = new ArrayList<>();
    List<MultiGauge.Row<?>> workers = new ArrayList<>();
    List<MultiGauge.Row<?>> utilization = new ArrayList<>();
    for (JobGauges g : jobs.values()) {
      Tags job = Tags.of("namespace", g.namespace, "job_name", g.name);
      int queued = Math.max(0, g.total - g.succeeded - g.deadLettered - g.running);
      tasks.add(MultiGauge.Row.of(job.and("state", "succeeded"), g.succeeded));
      tasks.add(MultiGauge.Row.of(job.and("state", "dead_lettered"), g.deadLettered));
      tasks.add(MultiGauge.Row.of(job.and("state", "running"), g.running));
      tasks.add(MultiGauge.Row.of(job.and("state", "queued"), queued));
      workers.add(MultiGauge.Row.of(job.and("state", "desired"), g.desired));
      workers.add(MultiGauge.Row.of(job.and("state", "ready"), g.ready));
      if (g.utilization != null) {
        utilization.add(MultiGauge.Row.of(job, g.utilization));
      }
    }
    jobTasks.register(tasks, true);
    jobWorkers.register(workers, true);
    jobUtilization.register(utilization, true);
  }

  /** The Prometheus text exposition of every meter. */
  public String scrape() {
    return registry.scrape();
  }

  // --- JOSDK's callbacks: counted here where the dashboard reads them, and handed on to JOSDK's meters

  @Override
  public void finishedReconciliation(HasMetadata resource, Map<String, Object> metadata) {
    reconcileSuccess.increment();
    josdk.finishedReconciliation(resource, metadata);
  }

  @Override
  public void controllerRegistered(Controller<? extends HasMetadata> controller) {
    josdk.controllerRegistered(controller);
  }

  @Override
  public void receivedEvent(Event event, Map<String, Object> metadata) {
    josdk.receivedEvent(event, metadata);
  }

  @Override
  public void reconcileCustomResource(HasMetadata resource, RetryInfo retryInfo, Map<String, Object> metadata) {
    josdk.reconcileCustomResource(resource, retryInfo, metadata);
  }

  @Override
  public void failedReconciliation(HasMetadata resource, Exception exception, Map<String, Object> metadata) {
    josdk.failedReconciliation(resource, exception, metadata);
  }

  @Override
  public void reconciliationExecutionStarted(HasMetadata resource, Map<String, Object> metadata) {
    josdk.reconciliationExecutionStarted(resource, metadata);
  }

  @Override
  public void reconciliationExecutionFinished(HasMetadata resource, Map<String, Object> metadata) {
    josdk.reconciliationExecutionFinished(resource, metadata);
  }

  @Override
  public void cleanupDoneFor(ResourceID resourceID, Map<String, Object> metadata) {
    josdk.cleanupDoneFor(resourceID, metadata);
  }

  @Override
  public <T> T timeControllerExecution(ControllerExecution<T> execution) throws Exception {
    return josdk.timeControllerExecution(execution);
  }

  @Override
  public <T extends Map<?, ?>> T monitorSizeOf(T map, String name) {
    return josdk.monitorSizeOf(map, name);
  }
}
