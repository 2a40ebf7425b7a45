package io.trainq.worker;

import com.rabbitmq.client.AMQP;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A task message as the consumer received it, settled (acked or nacked) at most once.
 *
 * @param generation the consume channel's generation when it arrived: after a reconnect the broker
 *     has requeued everything delivered before, and such a delivery can no longer be acked
 */
record Delivery(long tag, boolean redelivered, AMQP.BasicProperties props, byte[] body, long generation, long receivedNanos,
    AtomicBoolean settled) {

  Delivery(long tag, boolean redelivered, AMQP.BasicProperties props, byte[] body, long generation, long receivedNanos) {
    this(tag, redelivered, props, body, generation, receivedNanos, new AtomicBoolean());
  }

  /** Marks the delivery settled; false if it already was (a second ack or nack would close the channel). */
  boolean settle() {
    return settled.compareAndSet(false, true);
  }

  /** How many times the broker handed this message out before (quorum queues count returns). */
  long deliveryCount() {
    Map<String, Object> h = props == null ? null : props.getHeaders();
    Object c = h == null ? null : h.get("x-delivery-count");
    return c instanceof Number n ? n.longValue() : (redelivered ? 1 : 0);
  }

  String messageId() {
    return props == null ? null : props.getMessageId();
  }
}
