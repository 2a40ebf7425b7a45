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
import io.trainq.protocol.Acks;
import io.trainq.protocol.RabbitSettings;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The consuming side: one channel with manual acks, and on it one consumer with prefetch = slots
 * (+ extra) and, while attempts are short, the lookahead: a second consumer whose prefetch is the
 * deliveries held beyond the slots ({@link Lookahead}). The callback only hands the delivery to the
 * dispatcher (it runs on the connection's thread, see {@link InlineExecutor}). Acks and nacks come
 * from the slot thread that ran the delivery, or from the settling thread for a group of them
 * ({@link #ackAll}).
 *
 * <p>Both consumers are on one channel so that what the worker holds goes back to the queue at once
 * when it dies: with a channel each, the first channel to close returns its deliveries while the other
 * can still take them, and returns them again when it closes, which counts twice toward the delivery
 * limit. One channel also numbers every delivery in one sequence, so that a {@code multiple} ack
 * covers the oldest ones whichever consumer brought them. The lookahead consumer is never recovered
 * with the connection ({@link RabbitSettings#TRANSIENT_CONSUMER_PREFIX}): the client replays one
 * prefetch per channel, and it is the main consumer's; the control loop starts the lookahead again
 * while it is wanted.
 *
 * <p>A group is acked with one {@code multiple=true} ack where it can be: when its deliveries are
 * the oldest the channel still holds, with none of another in between (a quorum queue then settles
 * them in one log command instead of one each, which is most of the broker's cost of an ack). The
 * channel would ack every older delivery with it, so every ack and nack is sent under one lock
 * ({@link #settling}) together with the bookkeeping of what the channel holds ({@link #held}); the
 * rest of a group is acked one by one.
 *
 * <p>Each delivery carries the channel's generation; a reconnect (or a channel the broker closed)
 * starts a new one, and a delivery of an older generation is "lost": the broker requeued it when the
 * old channel went, so it must not be acked or nacked (the client would drop such a stale tag anyway).
 *
 * <p><b>Probation.</b> A consumer that starts (the worker's start, or a channel opened again) holds
 * one delivery at a time while what it gets are redeliveries. A redelivery is what a consumer held
 * when it died, and the broker counts one delivery against every message returned so, the one that
 * killed its worker and the ones beside it alike: a task that kills its worker every time would take
 * the tasks started beside it to the delivery limit with it, since the returned messages come back
 * together. Holding one, each runs alone. Probation ends at the first fresh delivery, or once a
 * redelivered attempt has run {@code probation} (the control loop's call: long tasks must not keep a
 * pod's other GPUs idle), and the consumer then holds its full prefetch.
 */
final class TaskConsumer {
  private static final Logger log = LoggerFactory.getLogger(TaskConsumer.class);

  private final Connection connection;
  private final String queue;
  private final int prefetch;
  /** The lookahead consumer's prefetch; 0: none. */
  private final int lookahead;
  private final Dispatcher dispatcher;
  private final Metrics metrics;
  private final Consumer<Signal> signals;
  private final java.time.Duration probation;
  /** Holding one delivery at a time until a fresh one comes; see the class comment. */
  private volatile boolean onProbation;
  private final AtomicLong generation = new AtomicLong();
  private volatile Channel channel;
  private volatile String consumerTag;
  private volatile CountDownLatch cancelOk = new CountDownLatch(1);
  private volatile boolean consuming;
  /** The lookahead consumer's tag while it consumes, else null. */
  private volatile String lookaheadTag;
  private volatile CountDownLatch lookaheadCancelOk = new CountDownLatch(1);
  private final AtomicLong lookaheads = new AtomicLong();
  /**
   * What the current channel holds: tags delivered and neither acked nor nacked. Added to by the
   * connection's thread without a lock (a callback must never wait); removed from under
   * {@link #settling}.
   */
  private record Held(Channel channel, long generation, ConcurrentSkipListSet<Long> tags) {
    Held(Channel channel, long generation) {
      this(channel, generation, new ConcurrentSkipListSet<>());
    }
  }

  private volatile Held held;
  /** Orders every ack and nack with the bookkeeping in {@link #held}; never taken by the connection's thread. */
  private final Object settling = new Object();
  private final java.util.concurrent.ExecutorService refusals = java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
    Thread t = new Thread(r, "refusals");
    t.setDaemon(true);
    return t;
  });

  TaskConsumer(Connection connection, String queue, int prefetch, Dispatcher dispatcher, Metrics metrics,
      Consumer<Signal> signals) {
    this(connection, queue, prefetch, 0, dispatcher, metrics, signals, java.time.Duration.ZERO);
  }

  /**
   * @param lookahead the lookahead consumer's prefetch (0: none)
   * @param probation ZERO: never on probation
   */
  TaskConsumer(Connection connection, String queue, int prefetch, int lookahead, Dispatcher dispatcher, Metrics metrics,
      Consumer<Signal> signals, java.time.Duration probation) {
    this.probation = probation;
    this.connection = connection;
    this.queue = queue;
    this.prefetch = prefetch;
    this.lookahead = lookahead;
    this.dispatcher = dispatcher;
    this.metrics = metrics;
    this.signals = signals;
  }

  /** Opens a channel and starts consuming (again, after a channel the broker closed). */
  synchronized void start() throws IOException {
    Channel ch = connection.createChannel();
    boolean probe = !probation.isZero() && prefetch > 1;
    // per-consumer prefetch (quorum queues refuse global QoS), applied to consumers made after it
    ch.basicQos(probe ? 1 : prefetch, false);
    if (ch instanceof Recoverable r) {
      r.addRecoveryListener(new RecoveryListener() {
        @Override
        public void handleRecoveryStarted(Recoverable recoverable) {
          generation.incrementAndGet();
        }

        @Override
        public void handleRecovery(Recoverable recoverable) {
          // the broker requeued what the channel held; the client numbers the new deliveries on from
          // the old ones' highest tag and drops acks of older tags. The lookahead was not recovered.
          lookaheadTag = null;
          held = new Held(ch, generation.incrementAndGet());
          metrics.recoveries.increment();
          signals.accept(Signal.RECOVERED);
        }
      });
    }
    ch.addShutdownListener(this::channelClosed);
    long g = generation.incrementAndGet();
    lookaheadTag = null; // it consumed on the channel this one replaces
    channel = ch;
    held = new Held(ch, g);
    onProbation = probe;
    Callbacks cb = new Callbacks(ch);
    cancelOk = cb.cancelOk;
    consumerTag = ch.basicConsume(queue, false, cb);
    consuming = true;
  }

  boolean onProbation() {
    return onProbation;
  }

  /**
   * Starts the lookahead consumer on the task channel, unless it consumes already or the main
   * consumer does not (a channel in trouble, probation); true when it consumes after this call.
   */
  synchronized boolean startLookahead() throws IOException {
    Channel ch = channel;
    if (lookaheadTag != null) {
      return true;
    }
    if (lookahead == 0 || !consuming || onProbation || ch == null || !ch.isOpen()) {
      return false;
    }
    String tag = RabbitSettings.TRANSIENT_CONSUMER_PREFIX + "lookahead-" + lookaheads.incrementAndGet();
    Callbacks cb = new Callbacks(ch);
    ch.basicQos(lookahead, false);
    try {
      ch.basicConsume(queue, false, tag, cb);
      lookaheadCancelOk = cb.cancelOk;
      lookaheadTag = tag;
    } finally {
      // a recovered channel gets the last prefetch set on it, for the main consumer
      ch.basicQos(prefetch, false);
    }
    return true;
  }

  /**
   * Stops the lookahead consumer; what it holds stays held, for the next free slot. Waits until every
   * delivery that came before the broker's cancel-ok was handed to the dispatcher.
   */
  synchronized void cancelLookahead(long timeoutMs) {
    String tag = lookaheadTag;
    Channel ch = channel;
    if (tag == null) {
      return;
    }
    lookaheadTag = null;
    if (ch == null || !ch.isOpen()) {
      return;
    }
    try {
      ch.basicCancel(tag);
      if (!lookaheadCancelOk.await(timeoutMs, TimeUnit.MILLISECONDS)) {
        log.warn("no cancel-ok for the lookahead consumer within {} ms", timeoutMs);
      }
    } catch (IOException | AlreadyClosedException e) {
      log.warn("cancelling the lookahead consumer failed ({}); closing the channel will end it", e.getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  boolean lookaheadConsuming() {
    Channel ch = channel;
    return lookaheadTag != null && ch != null && ch.isOpen();
  }

  /**
   * Ends probation: a new consumer with the full prefetch on the same channel (what the old one holds
   * stays held there), then the old one is cancelled. On a channel in trouble nothing happens here:
   * the control loop opens it again, on probation again.
   */
  synchronized void endProbation(String why) {
    if (!onProbation) {
      return;
    }
    onProbation = false;
    Channel ch = channel;
    String old = consumerTag;
    if (!consuming || ch == null || !ch.isOpen() || old == null) {
      return;
    }
    try {
      ch.basicQos(prefetch, false);
      Callbacks cb = new Callbacks(ch);
      String tag = ch.basicConsume(queue, false, cb);
      cancelOk = cb.cancelOk;
      consumerTag = tag;
      ch.basicCancel(old);
      metrics.probationsEnded.increment();
      log.info("probation over ({}): holding up to {} deliveries", why, prefetch);
    } catch (IOException | AlreadyClosedException e) {
      log.warn("ending probation failed ({}); the task channel is opened again", e.getMessage());
    }
  }

  /** Consumes again after the broker cancelled the consumer, on the same channel if it is open (its unacked deliveries stay held). */
  synchronized void resubscribe() throws IOException {
    Channel ch = channel;
    if (ch == null || !ch.isOpen()) {
      start();
      return;
    }
    Callbacks cb = new Callbacks(ch);
    cancelOk = cb.cancelOk;
    consumerTag = ch.basicConsume(queue, false, cb);
    consuming = true;
  }

  private void channelClosed(ShutdownSignalException cause) {
    generation.incrementAndGet();
    lookaheadTag = null;
    if (!cause.isHardError() && !cause.isInitiatedByApplication()) {
      // a channel error (such as the broker's consumer timeout) is not recovered by the client
      log.warn("the broker closed the task channel: {}", cause.getMessage());
      consuming = false;
      signals.accept(Signal.CHANNEL_CLOSED);
    }
  }

  /** True when the delivery can no longer be settled: it went back to the queue with its channel. */
  boolean lost(Delivery d) {
    Channel ch = channel;
    return d.generation() != generation.get() || ch == null || !ch.isOpen();
  }

  /** Acks a delivery still held and not yet settled; true if this call sent the ack. */
  boolean ack(Delivery d) {
    synchronized (settling) {
      Held h = held;
      if (lost(d, h)) {
        log.warn("cannot ack delivery {}: its channel is gone and the broker requeued it", d.tag());
        return false;
      }
      if (!d.settle()) {
        return false;
      }
      h.tags().remove(d.tag());
      return send(h, d.tag(), false);
    }
  }

  /**
   * Acks a group of deliveries; returns those this call acked (the others were lost with their
   * channel or already settled). The oldest ones the channel holds go in one {@code multiple} ack.
   */
  List<Delivery> ackAll(List<Delivery> ds) {
    List<Delivery> group = new ArrayList<>(ds);
    group.sort(Comparator.comparingLong(Delivery::tag));
    List<Delivery> acked = new ArrayList<>(group.size());
    synchronized (settling) {
      // the channel read first: a multiple ack must go to the deliveries' own channel, never to one
      // that replaced it and reuses their tags
      Held h = held;
      List<Delivery> settled = new ArrayList<>(group.size());
      for (Delivery d : group) {
        if (lost(d, h)) {
          log.warn("cannot ack delivery {}: its channel is gone and the broker requeued it", d.tag());
        } else if (d.settle()) {
          settled.add(d);
        }
      }
      int prefix = Acks.leadingRun(h.tags(), settled.stream().map(Delivery::tag).toList());
      settled.forEach(d -> h.tags().remove(d.tag()));
      if (prefix > 1 && send(h, settled.get(prefix - 1).tag(), true)) {
        acked.addAll(settled.subList(0, prefix));
        metrics.multipleAcks.increment();
      } else {
        prefix = prefix > 1 ? settled.size() : 0; // a failed multiple ack: the channel is gone
      }
      for (Delivery d : settled.subList(prefix, settled.size())) {
        if (send(h, d.tag(), false)) {
          acked.add(d);
        }
      }
    }
    return acked;
  }

  /** Sends the ack; the caller holds {@link #settling}. */
  private boolean send(Held h, long tag, boolean multiple) {
    try {
      h.channel().basicAck(tag, multiple);
      return true;
    } catch (IOException | AlreadyClosedException e) {
      log.warn("ack of delivery {} failed ({}); the broker requeues it with the channel", tag, e.getMessage());
      return false;
    }
  }

  private boolean lost(Delivery d, Held h) {
    return h == null || d.generation() != h.generation() || lost(d);
  }

  void nack(Delivery d, boolean requeue) {
    synchronized (settling) {
      Held h = held;
      if (lost(d, h) || !d.settle()) {
        return;
      }
      h.tags().remove(d.tag());
      try {
        h.channel().basicNack(d.tag(), false, requeue);
      } catch (IOException | AlreadyClosedException e) {
        log.warn("nack of delivery {} failed ({}); the broker requeues it with the channel", d.tag(), e.getMessage());
      }
    }
  }

  /**
   * Stops both consumers and waits until every delivery that came before the broker's cancel-oks was
   * handed to the dispatcher.
   */
  void cancel(long timeoutMs) {
    cancelLookahead(timeoutMs);
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
    /** This consumer's own: one that probation replaced must not release a wait for its successor. */
    final CountDownLatch cancelOk = new CountDownLatch(1);

    Callbacks(Channel ch) {
      super(ch);
    }

    @Override
    public void handleDelivery(String tag, Envelope env, AMQP.BasicProperties props, byte[] body) {
      Delivery d = new Delivery(env.getDeliveryTag(), env.isRedeliver(), props, body, generation.get(), System.nanoTime());
      Held h = held;
      if (h != null && h.generation() == d.generation()) {
        h.tags().add(d.tag());
      }
      if (!dispatcher.submit(d)) {
        // arrived after the worker began to stop: straight back to the queue, never started (from
        // another thread: this one reads the socket and must not wait to write to it)
        refusals.execute(() -> nack(d, true));
      }
      if (onProbation && !d.redelivered() && d.deliveryCount() == 0) {
        signals.accept(Signal.PROBATION_OVER);
      }
    }

    @Override
    public void handleCancelOk(String tag) {
      cancelOk.countDown();
    }

    @Override
    public void handleCancel(String tag) {
      if (tag.equals(lookaheadTag)) {
        lookaheadTag = null; // the control loop starts it again while it is wanted
        cancelOk.countDown();
        return;
      }
      if (!tag.equals(consumerTag)) {
        cancelOk.countDown(); // a consumer probation replaced: its successor consumes on
        return;
      }
      consuming = false;
      cancelOk.countDown();
      signals.accept(Signal.CANCELLED_BY_BROKER);
    }
  }
}
