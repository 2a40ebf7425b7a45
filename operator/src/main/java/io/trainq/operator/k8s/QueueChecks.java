package io.trainq.operator.k8s;

import io.trainq.api.TrainingJob;
import io.trainq.engine.EventStream;
import io.trainq.engine.JobProgress;
import io.trainq.engine.QueueAudit;
import io.trainq.engine.TaskPublisher;
import io.trainq.engine.TopologyDeclarer;
import io.trainq.operator.OperatorConfig;
import io.trainq.protocol.ConfirmingPublisher;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** What the job's queues hold, compared with its accounting: lost tasks, and leftovers of a finished job. */
final class QueueChecks {
  private static final Logger log = LoggerFactory.getLogger(QueueChecks.class);

  private final OperatorConfig config;
  private final EventRecorder events;
  private final OperatorMetrics metrics;

  QueueChecks(OperatorConfig config, EventRecorder events, OperatorMetrics metrics) {
    this.config = config;
    this.events = events;
    this.metrics = metrics;
  }

  /**
   * Reads the job's queues (the task queue's depth also sizes the pool) and, when unfinished tasks are
   * nowhere on the broker — the task queue deleted, or deleted and declared again, or purged — declares
   * the queues again and republishes the missing tasks ({@link QueueAudit}).
   */
  void audit(TrainingJob job, JobRuntime rt, Brokers.Broker broker, JobProgress progress, long heldBound,
      long nowMs) throws IOException, InterruptedException, ConfirmingPublisher.PublishException {
    TopologyDeclarer d = broker.declarer;
    EventStream stream = broker.events();
    // Events folded after this reconciliation's snapshot are not acknowledged before its status is
    // stored, so they are among the unacknowledged ones: the deficit never counts them as lost.
    QueueAudit.Observation o = d.observe(rt.topology, rt.settings, config.eventsQueue(),
        stream == null ? 0 : stream.unacknowledged(), heldBound);
    rt.queued = o.ready();
    QueueAudit.Verdict v = rt.audit.check(progress, o, nowMs);
    if (v.kind() == QueueAudit.Verdict.Kind.STRANDED) {
      TaskPublisher.Result r = republish(rt, broker, v);
      events.record(job, EventRecorder.Reason.TasksRepublished, "republished " + r.confirmed()
          + " task(s) that were running when " + rt.topology.taskQueue() + " was lost and stopped with it");
      if (!r.complete()) {
        throw r.failure();
      }
      return;
    }
    if (v.kind() == QueueAudit.Verdict.Kind.SUSPECT) {
      log.info("{} unfinished task(s) are not on the broker by its counts; checking again before republishing", v.deficit());
      return;
    }
    if (v.kind() != QueueAudit.Verdict.Kind.LOST) {
      rt.tasksLostPending = false;
      return;
    }
    String what = o.taskQueueExists() ? "was emptied (deleted and declared again, or purged)" : "was deleted";
    rt.tasksLostPending = true;
    rt.tasksLost = "task queue " + rt.topology.taskQueue() + " " + what + " with " + progress.remaining() + " unfinished task(s); "
        + v.republish().cardinality() + " not running were republished at " + Instant.ofEpochMilli(nowMs);
    events.record(job, EventRecorder.Reason.TasksLost, "task queue " + rt.topology.taskQueue() + " " + what + " with "
        + progress.remaining() + " unfinished task(s); republishing the " + v.republish().cardinality() + " not running");
    log.warn("task queue {} {}: republishing {} task(s)", rt.topology.taskQueue(), what, v.republish().cardinality());
    TopologyDeclarer.Result declared = d.declare(rt.topology, rt.settings);
    if (!declared.ok()) {
      rt.topologyReady = false;
      throw new IOException(declared.object() + ": " + declared.detail());
    }
    TaskPublisher.Result r = republish(rt, broker, v);
    if (!r.complete()) {
      // the next audit finds what is still missing
      throw r.failure();
    }
    rt.tasksLostPending = false;
    rt.queued += r.confirmed();
    events.record(job, EventRecorder.Reason.TasksRepublished, "republished " + r.confirmed() + " task(s) lost with "
        + rt.topology.taskQueue());
  }

  /** Publishes the verdict's tasks again on the broker's publishing connection. */
  private TaskPublisher.Result republish(JobRuntime rt, Brokers.Broker broker, QueueAudit.Verdict v)
      throws IOException, InterruptedException {
    ConfirmingPublisher p = broker.borrow();
    TaskPublisher.Result r;
    try {
      r = new TaskPublisher(p, config.publishWindow()).republish(rt.topology, rt.plan, v.republish(), Duration.ofSeconds(30));
    } finally {
      broker.release(p);
    }
    metrics.published(r.confirmed());
    return r;
  }

  /**
   * Once a job is finished, whatever is left in its task and retry queues is none of its tasks (each
   * was counted once already): say so, since those messages are deleted with the job's queues.
   */
  void reportStrayMessages(TrainingJob job, JobRuntime rt, Brokers.Broker broker) {
    try {
      long left = broker.declarer.messagesIn(rt.topology, rt.settings);
      rt.strayChecked = true;
      if (left > 0) {
        events.warnOnce(rt, job, EventRecorder.Reason.StrayMessages, left + " message(s) remain in " + rt.topology.taskQueue()
            + " and its retry queues although every task is finished: none of them is a task of this job; they are "
            + "deleted with the job's queues");
      }
    } catch (IOException e) {
      log.debug("cannot count what is left in the job's queues: {}", e.toString());
    }
  }
}
