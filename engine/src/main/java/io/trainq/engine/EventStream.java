package io.trainq.engine;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import io.trainq.protocol.Acks;
import io.trainq.protocol.MalformedMessageException;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Consumes the events queue — workers' events and dead-lettered tasks of every job — and hands them,
 * decoded and in batches, to a {@link Handler}. A batch is acknowledged only when the handler's
 * future completes, that is when what it folded is stored; a failed or timed-out batch is handed over
 * again (the fold is idempotent), never acknowledged. A crash therefore loses nothing: what was not
 * acknowledged is delivered again.
 *
 * <p>The queue has a single active consumer, so of several operator replicas (or a replica and its
 * successor) only one folds at a time. Unreadable messages are logged and acknowledged, so one bad
 * message cannot stall the stream.
 */
public final class EventStream implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(EventStream.class);

  /** Stores what a batch changed; its future completes once that is durable. */
  @FunctionalInterface
  public interface Handler {
    CompletionStage<?> store(List<JobEvent> batch);
  }

  /**
   * How the stream consumes.
   *
   * @param queue the events queue
   * @param bindingKeys routing keys bound from {@code trainq.events} and {@code trainq.deadletter}:
   *     {@code #} for every job, {@code <namespace>.#} for one namespace
   * @param prefetch unacknowledged events at once (bounds memory and the work redone after a crash)
   * @param maxBatch most events per handler call
   * @param maxDelay how long a batch waits for more events after its first
   * @param storeTimeout how long a batch may wait for its store before it is handed over again
   * @param retryDelay pause before a failed batch is handed over again
   */
  public record Options(String queue, List<String> bindingKeys, int prefetch, int maxBatch, Duration maxDelay,
      Duration storeTimeout, Duration retryDelay) {
    public Options {
      Objects.requireNonNull(queue, "queue");
      bindingKeys = List.copyOf(bindingKeys);
      if (bindingKeys.isEmpty()) {
        throw new IllegalArgumentException("bindingKeys must not be empty");
      }
      if (prefetch < 1 || maxBatch < 1) {
        throw new IllegalArgumentException("prefetch and maxBatch must be >= 1");
      }
    }

    /** The operator's queue, every job, 2000 in flight, batches of up to 500 gathered for 20 ms. */
    public static Options defaults() {
      return new Options(TopologyDeclarer.EVENTS_QUEUE, List.of("#"), 2000, 500, Duration.ofMillis(20),
          Duration.ofSeconds(30), Duration.ofSeconds(1));
    }

    public Options withQueue(String q) {
      return new Options(q, bindingKeys, prefetch, maxBatch, maxDelay, storeTimeout, retryDelay);
    }

    public Options withBindingKeys(List<String> keys) {
      return new Options(queue, keys, prefetch, maxBatch, maxDelay, storeTimeout, retryDelay);
    }

    public Options withStoreTimeout(Duration t) {
      return new Options(queue, bindingKeys, prefetch, maxBatch, maxDelay, t, retryDelay);
    }
  }

  /** A queue of the stream exists with other arguments; the stream did not start. */
  public static final class MismatchException extends IOException {
    public MismatchException(String message) {
      super(message);
    }
  }

  private record Item(long tag, List<JobEvent> events) {}

  private final Options options;
  private final Handler handler;
  private final Channel channel;
  private final BlockingQueue<Item> received = new LinkedBlockingQueue<>();
  /** Owns every acknowledgement on the channel. */
  private final ScheduledExecutorService acks;
  private final Thread dispatcher;
  private final AtomicLong acknowledged = new AtomicLong();
  private final AtomicLong malformed = new AtomicLong();
  private final AtomicLong multipleAcks = new AtomicLong();
  private final AtomicLong unacknowledged = new AtomicLong();
  /** Delivered and not yet acknowledged: added by the consumer, removed by the acks thread. */
  private final java.util.concurrent.ConcurrentSkipListSet<Long> held = new java.util.concurrent.ConcurrentSkipListSet<>();
  private volatile boolean running = true;
  private volatile String consumerTag;

  private EventStream(Channel channel, Options options, Handler handler, String name) {
    this.channel = channel;
    this.options = options;
    this.handler = handler;
    this.acks = Executors.newSingleThreadScheduledExecutor(r -> daemon(r, name + "-ack"));
    this.dispatcher = daemon(this::dispatchLoop, name + "-dispatch");
  }

  /**
   * Declares the events queue and its bindings and starts consuming.
   *
   * @param name names the consumer and threads (e.g. the operator's pod name)
   * @throws MismatchException when the queue exists with other arguments
   */
  public static EventStream start(Connection connection, Options options, Handler handler, String name) throws IOException {
    TopologyDeclarer.Result r = new TopologyDeclarer(connection).declareEventsQueue(options.queue(), options.bindingKeys());
    if (!r.ok()) {
      throw new MismatchException("cannot use events queue " + r.object() + ": " + r.detail());
    }
    Channel ch = connection.createChannel();
    ch.basicQos(options.prefetch());
    EventStream s = new EventStream(ch, options, handler, "trainq-events-" + name);
    s.dispatcher.start();
    s.consumerTag = ch.basicConsume(options.queue(), false, "trainq-" + name, s.new Consumer(ch));
    return s;
  }

  private final class Consumer extends DefaultConsumer {
    Consumer(Channel ch) {
      super(ch);
    }

    @Override
    public void handleDelivery(String tag, Envelope env, AMQP.BasicProperties props, byte[] body) {
      unacknowledged.incrementAndGet();
      held.add(env.getDeliveryTag());
      try {
        received.add(new Item(env.getDeliveryTag(), JobEvent.decodeAll(env.getRoutingKey(), props, body)));
      } catch (MalformedMessageException e) {
        malformed.incrementAndGet();
        log.warn("dropping an unreadable message from {} (routing key {}, id {}): {}", env.getExchange(),
            env.getRoutingKey(), props == null ? null : props.getMessageId(), e.getMessage());
        ack(List.of(env.getDeliveryTag()));
      }
    }
  }

  private void dispatchLoop() {
    while (running) {
      try {
        Item first = received.poll(200, TimeUnit.MILLISECONDS);
        if (first == null) {
          continue;
        }
        List<Item> batch = new ArrayList<>();
        batch.add(first);
        received.drainTo(batch, options.maxBatch() - 1);
        long deadline = System.nanoTime() + options.maxDelay().toNanos();
        while (batch.size() < options.maxBatch()) {
          long left = deadline - System.nanoTime();
          Item next = left > 0 ? received.poll(left, TimeUnit.NANOSECONDS) : null;
          if (next == null) {
            break;
          }
          batch.add(next);
          received.drainTo(batch, options.maxBatch() - batch.size());
        }
        submit(batch);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      } catch (RuntimeException e) {
        log.error("event dispatch failed", e);
      }
    }
  }

  private void submit(List<Item> batch) {
    if (!running) {
      return;
    }
    List<JobEvent> events = new ArrayList<>(batch.size());
    batch.forEach(i -> events.addAll(i.events()));
    CompletableFuture<?> stored;
    try {
      stored = handler.store(events).toCompletableFuture();
    } catch (RuntimeException e) {
      stored = CompletableFuture.failedFuture(e);
    }
    stored.orTimeout(options.storeTimeout().toMillis(), TimeUnit.MILLISECONDS).whenComplete((ok, err) -> {
      if (err == null) {
        List<Long> tags = new ArrayList<>(batch.size());
        batch.forEach(i -> tags.add(i.tag()));
        ack(tags);
      } else if (running) {
        Throwable cause = err instanceof java.util.concurrent.CompletionException && err.getCause() != null ? err.getCause() : err;
        log.warn("{} events not stored ({}); handing them over again in {} ms", batch.size(),
            cause instanceof TimeoutException ? "timed out" : cause.toString(), options.retryDelay().toMillis());
        acks.schedule(() -> submit(batch), options.retryDelay().toMillis(), TimeUnit.MILLISECONDS);
      }
    });
  }

  /**
   * Acknowledges a batch on the acks thread. The part of it that is the oldest the channel holds goes
   * in one {@code multiple=true} ack (a quorum queue settles it in one log command instead of one
   * per event); the rest, behind a batch still being stored, one by one.
   */
  private void ack(List<Long> tags) {
    if (acks.isShutdown()) {
      return;
    }
    acks.execute(() -> {
      List<Long> sorted = new ArrayList<>(tags);
      sorted.sort(null);
      int prefix = Acks.leadingRun(held, sorted);
      held.removeAll(sorted);
      if (prefix > 1) {
        send(sorted.get(prefix - 1), true, prefix);
      } else {
        prefix = 0;
      }
      for (long tag : sorted.subList(prefix, sorted.size())) {
        send(tag, false, 1);
      }
    });
  }

  private void send(long tag, boolean multiple, int count) {
    try {
      // After a connection recovery, tags of the old channel are ignored by the client, and a
      // multiple ack reaches only the new channel's deliveries up to the tag, all of them in held.
      channel.basicAck(tag, multiple);
      acknowledged.addAndGet(count);
      unacknowledged.addAndGet(-count);
      if (multiple) {
        multipleAcks.incrementAndGet();
      }
    } catch (IOException | RuntimeException e) {
      log.warn("cannot acknowledge event {}{}: {}", multiple ? "up to " : "", tag, e.toString());
    }
  }

  /** Events acknowledged so far. */
  public long acknowledged() {
    return acknowledged.get();
  }

  /** Acks that acknowledged several events at once ({@code multiple=true}). */
  public long multipleAcks() {
    return multipleAcks.get();
  }

  /** Events delivered and not acknowledged yet. */
  public long unacknowledged() {
    return unacknowledged.get();
  }

  /** Unreadable messages dropped so far. */
  public long malformed() {
    return malformed.get();
  }

  public boolean isOpen() {
    return running && channel.isOpen();
  }

  /** Stops consuming; what is not acknowledged goes back to the queue for the next consumer. */
  @Override
  public void close() {
    running = false;
    try {
      if (consumerTag != null && channel.isOpen()) {
        channel.basicCancel(consumerTag);
      }
    } catch (IOException | RuntimeException e) {
      log.debug("cancel failed: {}", e.toString());
    }
    dispatcher.interrupt();
    acks.shutdown();
    try {
      acks.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    try {
      if (channel.isOpen()) {
        channel.close();
      }
    } catch (IOException | TimeoutException | RuntimeException e) {
      log.debug("close failed: {}", e.toString());
    }
  }

  private static Thread daemon(Runnable r, String name) {
    Thread t = new Thread(r, name);
    t.setDaemon(true);
    return t;
  }
}
