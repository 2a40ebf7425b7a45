/**
 * A TrainingJob's logic without Kubernetes, shared by the operator and {@code trainq run}:
 *
 * <ul>
 *   <li>{@link io.trainq.operator.job.TaskPlan} — the tasks of a {@code spec.tasks} (count, items or grid), lazily;
 *   <li>{@link io.trainq.operator.job.TopologyDeclarer} — the job's exchanges, queues and bindings on the broker;
 *   <li>{@link io.trainq.operator.job.TaskPublisher} — publishes tasks from a cursor with confirms, many in flight;
 *   <li>{@link io.trainq.operator.job.EventStream} — consumes the events queue, hands batches to a handler and
 *       acknowledges them once the handler says their effect is stored;
 *   <li>{@link io.trainq.operator.job.JobStatusFold} — folds events into exact, idempotent counts
 *       ({@link io.trainq.operator.job.JobProgress});
 *   <li>{@link io.trainq.operator.job.Intervals} — index sets in the Indexed Job format ("0-41,43");
 *   <li>{@link io.trainq.operator.job.Conditions} — conditions and phase, one pure function each.
 * </ul>
 */
package io.trainq.operator.job;
