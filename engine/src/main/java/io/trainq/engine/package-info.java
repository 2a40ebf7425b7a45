/**
 * A TrainingJob's logic without Kubernetes, shared by the operator and {@code trainq run}:
 *
 * <ul>
 *   <li>{@link io.trainq.engine.TaskPlan} — the tasks of a {@code spec.tasks} (count, items or grid), lazily;
 *   <li>{@link io.trainq.engine.TopologyDeclarer} — the job's exchanges, queues and bindings on the broker;
 *   <li>{@link io.trainq.engine.TaskPublisher} — publishes tasks from a cursor with confirms, many in flight;
 *   <li>{@link io.trainq.engine.EventStream} — consumes the events queue, hands batches to a handler and
 *       acknowledges them once the handler says their effect is stored;
 *   <li>{@link io.trainq.engine.JobStatusFold} — folds events into exact, idempotent counts
 *       ({@link io.trainq.engine.JobProgress});
 *   <li>{@link io.trainq.engine.Intervals} — index sets in the Indexed Job format ("0-41,43");
 *   <li>{@link io.trainq.engine.Conditions} — conditions and phase, one pure function each.
 * </ul>
 */
package io.trainq.engine;
