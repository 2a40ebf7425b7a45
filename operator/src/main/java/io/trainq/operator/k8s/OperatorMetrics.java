package io.trainq.operator.k8s;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.javaoperatorsdk.operator.api.monitoring.Metrics;
import io.trainq.api.TrainingJobStatus;
import io.trainq.engine.EventStream;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryUsage;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * The operator's Prometheus metrics, in the text exposition format (names as the chart's Grafana
 * dashboard reads them). Also JOSDK's {@link Metrics}, for the reconciliation counts.
 */
public final class OperatorMetrics implements Metrics {
  private final AtomicLong reconcileSuccess = new AtomicLong();
  private final AtomicLong reconcileError = new AtomicLong();
  private final AtomicLong published = new AtomicLong();
  private final AtomicLong statusPatches = new AtomicLong();
  private final Map<String, JobGauges> jobs = new ConcurrentHashMap<>();
  private volatile boolean leader;
  private volatile Supplier<List<EventStream>> streams = List::of;
  private volatile JobRegistry registry;

  private record JobGauges(String namespace, String name, int total, int succeeded, int deadLettered, int running,
      int desired, int ready, Double utilization) {}

  void attach(JobRegistry registry, Supplier<List<EventStream>> streams) {
    this.registry = registry;
    this.streams = streams;
  }

  public void leader(boolean isLeader) {
    this.leader = isLeader;
  }

  void published(int n) {
    published.addAndGet(n);
  }

  void statusPatched() {
    statusPatches.incrementAndGet();
  }

  void reconcileFailed() {
    reconcileError.incrementAndGet();
  }

  void jobStatus(JobRuntime rt, TrainingJobStatus st) {
    Double util = null;
    if (st.getGpuUtilization() != null) {
      util = Integer.parseInt(st.getGpuUtilization().replace("%", "")) / 100.0;
    }
    var c = st.getCounts();
    jobs.put(rt.uid, new JobGauges(rt.id.getNamespace().orElse(""), rt.id.getName(), c.getTotal(), c.getSucceeded(),
        c.getDeadLettered(), c.getRunning(), st.getWorkersDesired(), st.getWorkersReady(), util));
  }

  void forget(String uid) {
    jobs.remove(uid);
  }

  @Override
  public void finishedReconciliation(HasMetadata resource, Map<String, Object> metadata) {
    reconcileSuccess.incrementAndGet();
  }

  /** The exposition text. */
  public String scrape() {
    StringBuilder sb = new StringBuilder();
    type(sb, "trainq_operator_leader", "gauge", "1 on the replica that holds the lease and reconciles.");
    sb.append("trainq_operator_leader ").append(leader ? 1 : 0).append('\n');
    type(sb, "trainq_reconciliations_total", "counter", "Reconciliations of TrainingJobs by result.");
    sb.append("trainq_reconciliations_total{result=\"success\"} ").append(reconcileSuccess.get()).append('\n');
    sb.append("trainq_reconciliations_total{result=\"error\"} ").append(reconcileError.get()).append('\n');
    type(sb, "trainq_tasks_published_total", "counter", "Tasks published with a broker confirm.");
    sb.append("trainq_tasks_published_total ").append(published.get()).append('\n');
    type(sb, "trainq_status_patches_total", "counter", "TrainingJob status patches stored.");
    sb.append("trainq_status_patches_total ").append(statusPatches.get()).append('\n');
    long acked = 0;
    long unacked = 0;
    long malformed = 0;
    for (EventStream s : streams.get()) {
      acked += s.acknowledged();
      unacked += s.unacknowledged();
      malformed += s.malformed();
    }
    type(sb, "trainq_events_acknowledged_total", "counter", "Events and dead letters acknowledged after their status was stored.");
    sb.append("trainq_events_acknowledged_total ").append(acked).append('\n');
    type(sb, "trainq_events_unacknowledged", "gauge", "Events received and not yet stored.");
    sb.append("trainq_events_unacknowledged ").append(unacked).append('\n');
    type(sb, "trainq_events_malformed_total", "counter", "Unreadable messages dropped from the events queue.");
    sb.append("trainq_events_malformed_total ").append(malformed).append('\n');

    type(sb, "trainq_job_tasks", "gauge", "Tasks of a TrainingJob by state.");
    for (JobGauges g : jobs.values()) {
      int queued = Math.max(0, g.total - g.succeeded - g.deadLettered - g.running);
      job(sb, "trainq_job_tasks", g, "state", "succeeded", g.succeeded);
      job(sb, "trainq_job_tasks", g, "state", "dead_lettered", g.deadLettered);
      job(sb, "trainq_job_tasks", g, "state", "running", g.running);
      job(sb, "trainq_job_tasks", g, "state", "queued", queued);
    }
    type(sb, "trainq_job_workers", "gauge", "Worker pods of a TrainingJob: desired and ready.");
    for (JobGauges g : jobs.values()) {
      job(sb, "trainq_job_workers", g, "state", "desired", g.desired);
      job(sb, "trainq_job_workers", g, "state", "ready", g.ready);
    }
    type(sb, "trainq_job_gpu_utilization", "gauge", "Busy over allocated GPU-seconds of a TrainingJob (0-1).");
    for (JobGauges g : jobs.values()) {
      if (g.utilization != null) {
        sb.append("trainq_job_gpu_utilization{namespace=\"").append(esc(g.namespace)).append("\",job_name=\"").append(esc(g.name))
            .append("\"} ").append(String.format(Locale.ROOT, "%.4f", g.utilization)).append('\n');
      }
    }
    JobRegistry r = registry;
    if (r != null) {
      type(sb, "trainq_task_events_total", "counter", "Task outcomes folded into the status (each counted once).");
      for (JobRuntime rt : r.all()) {
        String ns = rt.id.getNamespace().orElse("");
        rt.outcomes.forEach((outcome, n) -> sb.append("trainq_task_events_total{namespace=\"").append(esc(ns))
            .append("\",job_name=\"").append(esc(rt.id.getName())).append("\",outcome=\"").append(outcome).append("\"} ")
            .append(n.get()).append('\n'));
      }
      type(sb, "trainq_events_rejected_total", "counter",
          "Worker events dropped because they cannot be about the job (another job's uid, an index, attempt, duration or GPU-seconds out of range).");
      for (JobRuntime rt : r.all()) {
        String ns = rt.id.getNamespace().orElse("");
        rt.rejectedEvents.forEach((reason, n) -> sb.append("trainq_events_rejected_total{namespace=\"").append(esc(ns))
            .append("\",job_name=\"").append(esc(rt.id.getName())).append("\",reason=\"").append(reason).append("\"} ")
            .append(n.get()).append('\n'));
      }
      type(sb, "trainq_task_duration_seconds", "histogram", "Wall time of finished task attempts.");
      for (JobRuntime rt : r.all()) {
        String labels = "namespace=\"" + esc(rt.id.getNamespace().orElse("")) + "\",job_name=\"" + esc(rt.id.getName()) + "\"";
        JobRuntime.DurationHistogram h = rt.durations;
        long cumulative = 0;
        for (int i = 0; i < JobRuntime.DurationHistogram.BOUNDS.length; i++) {
          cumulative += h.counts[i].get();
          sb.append("trainq_task_duration_seconds_bucket{").append(labels).append(",le=\"")
              .append(JobRuntime.DurationHistogram.BOUNDS[i]).append("\"} ").append(cumulative).append('\n');
        }
        cumulative += h.counts[JobRuntime.DurationHistogram.BOUNDS.length].get();
        sb.append("trainq_task_duration_seconds_bucket{").append(labels).append(",le=\"+Inf\"} ").append(cumulative).append('\n');
        sb.append("trainq_task_duration_seconds_sum{").append(labels).append("} ")
            .append(String.format(Locale.ROOT, "%.3f", h.sum)).append('\n');
        sb.append("trainq_task_duration_seconds_count{").append(labels).append("} ").append(cumulative).append('\n');
      }
    }
    MemoryUsage heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
    MemoryUsage nonHeap = ManagementFactory.getMemoryMXBean().getNonHeapMemoryUsage();
    type(sb, "jvm_memory_used_bytes", "gauge", "JVM memory in use.");
    sb.append("jvm_memory_used_bytes{area=\"heap\"} ").append(heap.getUsed()).append('\n');
    sb.append("jvm_memory_used_bytes{area=\"nonheap\"} ").append(nonHeap.getUsed()).append('\n');
    return sb.toString();
  }

  private static void type(StringBuilder sb, String name, String type, String help) {
    sb.append("# HELP ").append(name).append(' ').append(help).append('\n');
    sb.append("# TYPE ").append(name).append(' ').append(type).append('\n');
  }

  private static void job(StringBuilder sb, String metric, JobGauges g, String label, String value, long n) {
    sb.append(metric).append("{namespace=\"").append(esc(g.namespace)).append("\",job_name=\"").append(esc(g.name))
        .append("\",").append(label).append("=\"").append(value).append("\"} ").append(n).append('\n');
  }

  private static String esc(String s) {
    return s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
  }
}
