package io.trainq.worker;

/** What the worker's control loop reacts to. */
enum Signal {
  /** SIGTERM or SIGINT: stop consuming, let running tasks finish within the grace, requeue the rest. */
  SHUTDOWN,
  /** The broker cancelled the consumer (the queue was deleted, or another reason to look into). */
  CANCELLED_BY_BROKER,
  /** The broker closed the task channel with a channel error; the client does not recover those. */
  CHANNEL_CLOSED,
  /** The client recovered the connection and its channels. */
  RECOVERED,
  /** The consumer on probation got a fresh delivery: it may hold its full prefetch. */
  PROBATION_OVER,
  /** The first attempt finished: the lookahead may start now rather than at the control loop's next tick. */
  FIRST_FINISHED
}
