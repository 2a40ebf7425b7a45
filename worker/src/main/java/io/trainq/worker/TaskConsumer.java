package io.trainq.worker;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.AlreadyClosedException;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import com.rabbitmq.client.Recoverable;
import com.rabbitmq.client.RecoveryListener;
import com.rabbitmq.client.ShutdownSignalException;
import java.io.IOException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The consuming side: one channel with prefetch = slots (+ extra), one consumer with manual acks.
 * The callback only hands the delivery to the dispatcher (it runs on the connection's thread, see
 * {@link InlineExecutor}). Acks and nacks are single
 * ({@code multiple=false}) and come from the slot thread that ran the delivery; the client
 * serialises each frame on the channel, and single acks from several threads are safe.
 *
 * <p>Each delivery carries the channel's generation; a reconnect (or a channel the broker closed)
 * starts a new one, and a delivery of an older generation is "lost": the broker requeued it when the
 * old channel went, so it must not be acked or nacked (the client would drop such a stale tag anyway).
 */
final class TaskConsumer {
  private static final Logger log = LoggerFactory.getLogger(TaskConsumer.class);

  private final Connection connection;
  private final String queue;
  private final int prefetch;
  private final Dispatcher dispatcher;
  private final Metrics metrics;
  private final Consumer<Signal> signals;
  private final AtomicLong generation = new AtomicLong();
  private volatile Channel channel;
  private volatile String consumerTag;
  private volatile CountDownLatch cancelOk = new CountDownLatch(1);
  private volatile boolean consuming;
  private final java.util.concurrent.ExecutorService refusals = java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
    Thread t = new Thread(r, "refusals");
    t.setDaemon(true);
    return t;
  });

  TaskConsumer(Connection connection, String queue, int prefetch, Dispatcher dispatcher, Metrics metrics,
      Consumer<Signal> signals) {
    this.connection = connection;
    this.queue = queue;
    this.prefetch = prefetch;
    this.dispatcher = dispatcher;
    this.metrics = metrics;
    this.signals = signals;
  }

  /** Opens a channel and starts consuming (again, after a channel the broker closed). */
  synchronized void start() throws IOException {
    Channel ch = connection.createChannel();
    // per-consumer prefetch: quorum queues refuse global QoS
    ch.basicQos(prefetch, false);
    if (ch instanceof Recoverable r) {
      r.addRecoveryListener(new RecoveryListener() {
        @Override
        public void handleRecoveryStarted(Recoverable recoverable) {
          generation.incrementAndGet();
        }

        @Override
        public void handleRecovery(Recoverable recoverable) {
          generation.incrementAndGet();
          metrics.recoveries.increment();
          signals.accept(Signal.RECOVERED);
        }
      });
    }
    ch.addShutdownListener(this::channelClosed);
    generation.incrementAndGet();
    cancelOk = new CountDownLatch(1);
    channel = ch;
    consumerTag = ch.basicConsume(queue, false, new Callbacks(ch));
    consuming = true;
  }

  /** Consumes again after the broker cancelled the consumer, on the same channel if it is open (its unacked deliveries stay held). */
  synchronized void resubscribe() throws IOException {
    Channel ch = channel;
    if (ch == null || !ch.isOpen()) {
      start();
      return;
    }
    cancelOk = new CountDownLatch(1);
    consumerTag = ch.basicConsume(queue, false, new Callbacks(ch));
    consuming = true;
  }

  private void channelClosed(ShutdownSignalException cause) {
    generation.incrementAndGet();
    if (!cause.isHardError() && !cause.isInitiatedByApplication()) {
      // a channel error (such as the broker's consumer timeout) is not recovered by the client
      log.warn("the broker closed the task channel: {}", cause.getMessage());
      consuming = false;
      signals.accept(Signal.CHANNEL_CLOSED);
    }
  }

  /** True when the delivery can no longer be settled: it went back to the queue with its channel. */
  boolean lost(Delivery d) {
    if (d.source() != null && d.source() != this) {
      return d.source().lost(d);
    }
    Channel ch = channel;
    return d.generation() != generation.get() || ch == null || !ch.isOpen();
  }

  /** Acks a delivery still held and not yet settled; true if this call sent the ack. */
  boolean ack(Delivery d) {
    if (d.source() != null && d.source() != this) {
      return d.source().ack(d);
    }
    if (lost(d)) {
      log.warn("cannot ack delivery {}: its channel is gone and the broker requeued it", d.tag());
      return false;
    }
    if (!d.settle()) {
      return false;
    }
    try {
      channel.basicAck(d.tag(), false);
      return true;
    } catch (IOException | AlreadyClosedException e) {
      log.warn("ack of delivery {} failed ({}); the broker requeues it with the channel", d.tag(), e.getMessage());
      return false;
    }
  }

  void nack(Delivery d, boolean requeue) {
    if (d.source() != null && d.source() != this) {
      d.source().nack(d, requeue);
      return;
    }
    if (lost(d) || !d.settle()) {
      return;
    }
    try {
      channel.basicNack(d.tag(), false, requeue);
    } catch (IOException | AlreadyClosedException e) {
      log.warn("nack of delivery {} failed ({}); the broker requeues it with the channel", d.tag(), e.getMessage());
    }
  }

  /**
   * Stops the consumer and waits until every delivery that came before the broker's cancel-ok was
   * handed to the dispatcher.
   */
  void cancel(long timeoutMs) {
    Channel ch = channel;
    String tag = consumerTag;
    if (!consuming || ch == null || tag == null) {
      return;
    }
    consuming = false;
    try {
      ch.basicCancel(tag);
      if (!cancelOk.await(timeoutMs, TimeUnit.MILLISECONDS)) {
        log.warn("no cancel-ok from the broker within {} ms", timeoutMs);
      }
    } catch (IOException | AlreadyClosedException e) {
      log.warn("cancelling the consumer failed ({}); closing the channel will end it", e.getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  boolean consuming() {
    Channel ch = channel;
    return consuming && ch != null && ch.isOpen();
  }

  void close() {
    Channel ch = channel;
    if (ch != null && ch.isOpen()) {
      try {
        ch.close();
      } catch (IOException | java.util.concurrent.TimeoutException | RuntimeException e) {
        // closing returns every unacked delivery to the queue, which is what is left to do
      }
    }
  }

  private final class Callbacks extends DefaultConsumer {
    Callbacks(Channel ch) {
      super(ch);
    }

    @Override
    public void handleDelivery(String tag, Envelope env, AMQP.BasicProperties props, byte[] body) {
      Delivery d = new Delivery(env.getDeliveryTag(), env.isRedeliver(), props, body, generation.get(), System.nanoTime(),
          TaskConsumer.this);
      if (!dispatcher.submit(d)) {
        // arrived after the worker began to stop: straight back to the queue, never started (from
        // another thread: this one reads the socket and must not wait to write to it)
        refusals.execute(() -> nack(d, true));
      }
    }

    @Override
    public void handleCancelOk(String tag) {
      cancelOk.countDown();
    }

    @Override
    public void handleCancel(String tag) {
      consuming = false;
      cancelOk.countDown();
      signals.accept(Signal.CANCELLED_BY_BROKER);
    }
  }
}
