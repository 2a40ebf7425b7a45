package io.trainq.testkit;

/**
 * A queue's message counts as the management API reports them (they lag the broker by
 * a second or two).
 *
 * @param ready messages waiting for a consumer
 * @param unacknowledged messages delivered and not yet acknowledged
 */
public record QueueDepth(long ready, long unacknowledged) {

  public long total() {
    return ready + unacknowledged;
  }
}
