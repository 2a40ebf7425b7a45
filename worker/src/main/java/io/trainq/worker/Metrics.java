package io.trainq.worker;

import java.util.Locale;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.IntSupplier;

/** The worker's counters, rendered in the Prometheus text format by hand (no metrics library in the image). */
final class Metrics {
  /** Task duration buckets, seconds: from no-op tasks to a day of training. */
  static final double[] DURATION_BUCKETS = {0.01, 0.1, 1, 10, 60, 300, 1800, 3600, 14400, 86400};
  /** Dispatch buckets, seconds: from the delivery's arrival to its process running. */
  static final double[] DISPATCH_BUCKETS = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 1};

  final LongAdder succeeded = new LongAdder();
  final LongAdder retried = new LongAdder();
  final LongAdder deadLettered = new LongAdder();
  final LongAdder requeued = new LongAdder();
  final LongAdder malformed = new LongAdder();
  /** Attempts whose delivery was lost with the connection (the broker requeued them). */
  final LongAdder lost = new LongAdder();
  final LongAdder redelivered = new LongAdder();
  final LongAdder publishRetries = new LongAdder();
  final LongAdder recoveries = new LongAdder();
  /** Group commit: outcome messages sent, and the SUCCEEDED events they carried. */
  final LongAdder outcomeMessages = new LongAdder();
  final LongAdder outcomeEvents = new LongAdder();
  final LongAdder startedEvents = new LongAdder();
  /** Acks that settled several deliveries at once ({@code multiple=true}). */
  final LongAdder multipleAcks = new LongAdder();
  final LongAdder probationsEnded = new LongAdder();
  /** 1 while the lookahead consumer holds deliveries beyond the slots. */
  volatile int lookahead;
  final Histogram duration = new Histogram(DURATION_BUCKETS);
  final Histogram dispatch = new Histogram(DISPATCH_BUCKETS);

  private final int slots;
  private final int prefetch;
  private final IntSupplier busy;
  private volatile boolean connected;
  private volatile String brokerVersion = "";
  private final String version;
  private final String job;
  private final String worker;

  Metrics(int slots, int prefetch, IntSupplier busy, String version, String job, String worker) {
    this.slots = slots;
    this.prefetch = prefetch;
    this.busy = busy;
    this.version = version;
    this.job = job;
    this.worker = worker;
  }

  void connected(boolean c) {
    connected = c;
  }

  void brokerVersion(String v) {
    brokerVersion = v == null ? "" : v;
  }

  /** Attempts that ran to an outcome of their own (succeeded, retried, dead-lettered after running). */
  long processed() {
    return duration.count();
  }

  int busy() {
    return busy.getAsInt();
  }

  int slots() {
    return slots;
  }

  String render() {
    StringBuilder sb = new StringBuilder(4096);
    sb.append("# HELP trainq_worker_info The worker's version, broker version, job and name.\n");
    sb.append("# TYPE trainq_worker_info gauge\n");
    sb.append("trainq_worker_info{version=\"").append(esc(version)).append("\",broker_version=\"").append(esc(brokerVersion))
        .append("\",job=\"").append(esc(job)).append("\",worker=\"").append(esc(worker)).append("\"} 1\n");
    gauge(sb, "trainq_worker_slots", "Slots (tasks that can run at once).", slots);
    gauge(sb, "trainq_worker_slots_busy", "Slots running a task now.", busy.getAsInt());
    gauge(sb, "trainq_worker_prefetch", "Prefetch of the task consumer.", prefetch);
    gauge(sb, "trainq_worker_connected", "1 while the broker connection is open.", connected ? 1 : 0);
    sb.append("# HELP trainq_worker_tasks_total Task attempts by how they ended.\n");
    sb.append("# TYPE trainq_worker_tasks_total counter\n");
    outcome(sb, "succeeded", succeeded);
    outcome(sb, "retried", retried);
    outcome(sb, "dead_lettered", deadLettered);
    outcome(sb, "requeued", requeued);
    outcome(sb, "malformed", malformed);
    outcome(sb, "lost", lost);
    counter(sb, "trainq_worker_redeliveries_total", "Deliveries the broker had handed out before (a worker died or requeued them).", redelivered.sum());
    counter(sb, "trainq_worker_publish_retries_total", "Publishes that were not confirmed and were sent again.", publishRetries.sum());
    counter(sb, "trainq_worker_connection_recoveries_total", "Times the broker connection was recovered.", recoveries.sum());
    counter(sb, "trainq_worker_outcome_messages_total", "Messages that carried successful outcomes (one per group commit).",
        outcomeMessages.sum());
    counter(sb, "trainq_worker_multiple_acks_total", "Acks that settled several group-committed deliveries at once (multiple=true).",
        multipleAcks.sum());
    counter(sb, "trainq_worker_probations_ended_total", "Times the consumer went from one delivery at a time (probation, "
        + "while it got redeliveries) to its full prefetch.", probationsEnded.sum());
    counter(sb, "trainq_worker_outcome_events_total", "SUCCEEDED events sent in those messages.", outcomeEvents.sum());
    counter(sb, "trainq_worker_started_events_total", "STARTED events sent (only for attempts still running after the delay).",
        startedEvents.sum());
    gauge(sb, "trainq_worker_lookahead", "1 while the worker holds deliveries beyond its slots (attempts are short).", lookahead);
    duration.render(sb, "trainq_worker_task_duration_seconds", "Wall time of task attempts that ran to an outcome.");
    dispatch.render(sb, "trainq_worker_dispatch_seconds", "From a delivery's arrival to its process running.");
    return sb.toString();
  }

  private static void outcome(StringBuilder sb, String outcome, LongAdder a) {
    sb.append("trainq_worker_tasks_total{outcome=\"").append(outcome).append("\"} ").append(a.sum()).append('\n');
  }

  private static void gauge(StringBuilder sb, String name, String help, long v) {
    sb.append("# HELP ").append(name).append(' ').append(help).append('\n');
    sb.append("# TYPE ").append(name).append(" gauge\n");
    sb.append(name).append(' ').append(v).append('\n');
  }

  private static void counter(StringBuilder sb, String name, String help, long v) {
    sb.append("# HELP ").append(name).append(' ').append(help).append('\n');
    sb.append("# TYPE ").append(name).append(" counter\n");
    sb.append(name).append(' ').append(v).append('\n');
  }

  static String esc(String s) {
    return s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
  }

  /** A fixed-bucket histogram, lock-free. */
  static final class Histogram {
    private final double[] bounds;
    private final AtomicLongArray counts;
    private final LongAdder count = new LongAdder();
    private final LongAdder sumNanos = new LongAdder();

    Histogram(double[] bounds) {
      this.bounds = bounds;
      this.counts = new AtomicLongArray(bounds.length);
    }

    void observeNanos(long nanos) {
      double s = nanos / 1e9;
      for (int i = 0; i < bounds.length; i++) {
        if (s <= bounds[i]) {
          counts.incrementAndGet(i);
          break;
        }
      }
      count.increment();
      sumNanos.add(nanos);
    }

    long count() {
      return count.sum();
    }

    double sumSeconds() {
      return sumNanos.sum() / 1e9;
    }

    void render(StringBuilder sb, String name, String help) {
      sb.append("# HELP ").append(name).append(' ').append(help).append('\n');
      sb.append("# TYPE ").append(name).append(" histogram\n");
      long cumulative = 0;
      for (int i = 0; i < bounds.length; i++) {
        cumulative += counts.get(i);
        sb.append(name).append("_bucket{le=\"").append(fmt(bounds[i])).append("\"} ").append(cumulative).append('\n');
      }
      long total = count.sum();
      sb.append(name).append("_bucket{le=\"+Inf\"} ").append(total).append('\n');
      sb.append(name).append("_sum ").append(String.format(Locale.ROOT, "%.6f", sumSeconds())).append('\n');
      sb.append(name).append("_count ").append(total).append('\n');
    }

    private static String fmt(double d) {
      return d == Math.rint(d) ? Long.toString((long) d) : Double.toString(d);
    }
  }
}
