package io.trainq.testkit;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

/** Publishing and consuming the way the tests need it: confirmed, acknowledged, counted. */
final class Amqp {

  private Amqp() {}

  /**
   * Publishes {@code count} persistent messages, ids {@code prefix-0 .. prefix-(count-1)},
   * mandatory, and waits until the broker confirms every one of them.
   */
  static List<String> publishConfirmed(Connection connection, String queue, String prefix, int count)
      throws IOException, InterruptedException, TimeoutException {
    List<String> ids = new ArrayList<>(count);
    AtomicInteger returned = new AtomicInteger();
    try (Channel channel = connection.createChannel()) {
      channel.addReturnListener(r -> returned.incrementAndGet());
      channel.confirmSelect();
      for (int i = 0; i < count; i++) {
        String id = prefix + "-" + i;
        AMQP.BasicProperties props = new AMQP.BasicProperties.Builder()
            .deliveryMode(2)
            .messageId(id)
            .contentType("text/plain")
            .build();
        channel.basicPublish("", queue, true, props, id.getBytes(UTF_8));
        ids.add(id);
      }
      // Throws when any message is nacked or the wait times out.
      channel.waitForConfirmsOrDie(TimeUnit.SECONDS.toMillis(60));
    }
    if (returned.get() > 0) {
      throw new IllegalStateException(returned.get() + " messages came back unroutable from " + queue);
    }
    return ids;
  }

  /**
   * Consumes with manual single acks until {@code expected} deliveries arrived (or the
   * timeout passed), then waits {@code settle} for surplus deliveries, and returns the
   * message ids in delivery order, duplicates included.
   */
  static List<String> consumeAndAck(Connection connection, String queue, int expected, Duration timeout,
      Duration settle) throws IOException, TimeoutException, InterruptedException {
    List<String> ids = Collections.synchronizedList(new ArrayList<>());
    try (Channel channel = connection.createChannel()) {
      channel.basicQos(50);
      String tag = channel.basicConsume(queue, false, (consumerTag, delivery) -> {
        ids.add(delivery.getProperties().getMessageId());
        // Acked on the channel's own dispatch thread, one by one.
        channel.basicAck(delivery.getEnvelope().getDeliveryTag(), false);
      }, consumerTag -> { });
      await(() -> ids.size() >= expected, timeout);
      Thread.sleep(settle.toMillis());
      channel.basicCancel(tag);
    }
    synchronized (ids) {
      return List.copyOf(ids);
    }
  }

  /** Polls {@code condition} every 50 ms until it holds or {@code timeout} passes. */
  static boolean await(BooleanSupplier condition, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        return false;
      }
      Thread.sleep(50);
    }
    return true;
  }
}
