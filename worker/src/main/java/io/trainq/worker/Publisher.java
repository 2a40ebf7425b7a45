package io.trainq.worker;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ShutdownSignalException;
import io.trainq.protocol.ConfirmingPublisher;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The worker's one publishing channel (events, retries, dead letters), in confirm mode with
 * {@code mandatory}. Connection losses are healed by the client's recovery; a channel the broker
 * closed for an error of its own is replaced here. {@link #publishConfirmed} sends again until the
 * broker confirms: every message has a deterministic id, so a repeat is recognisable downstream.
 */
final class Publisher implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Publisher.class);
  /** How long one publish may wait for its confirm before it is sent again. */
  static final Duration CONFIRM_TIMEOUT = Duration.ofSeconds(30);
  private static final long MAX_BACKOFF_MS = 5000;

  private final Connection connection;
  private final Metrics metrics;
  private ConfirmingPublisher current;
  private final Object wake = new Object();

  Publisher(Connection connection, Metrics metrics) throws IOException {
    this.connection = connection;
    this.metrics = metrics;
    this.current = new ConfirmingPublisher(connection.createChannel());
  }

  /** A message to publish. */
  record Message(String exchange, String routingKey, AMQP.BasicProperties props, byte[] body, String what) {}

  /** Publishes without waiting; the future completes with the broker's confirm. */
  CompletableFuture<Void> publish(Message m) {
    ConfirmingPublisher p;
    try {
      p = publisher();
    } catch (IOException | RuntimeException e) {
      return CompletableFuture.failedFuture(new ConfirmingPublisher.PublishException("no channel: " + e.getMessage(), e));
    }
    return p.publish(m.exchange(), m.routingKey(), m.props(), m.body());
  }

  /**
   * Publishes until the broker confirms, backing off between tries.
   *
   * @param giveUp checked between tries: true when the confirm no longer matters (the delivery it was for is gone)
   * @return true once confirmed, false if given up
   */
  boolean publishConfirmed(Message m, BooleanSupplier giveUp) throws InterruptedException {
    return awaitOrRepublish(publish(m), m, giveUp);
  }

  /** Waits for an earlier publish's confirm, and publishes again while it is not confirmed. */
  boolean awaitOrRepublish(CompletableFuture<Void> first, Message m, BooleanSupplier giveUp) throws InterruptedException {
    CompletableFuture<Void> f = first;
    long backoff = 100;
    for (int tries = 1; ; tries++) {
      try {
        ConfirmingPublisher.await(f, CONFIRM_TIMEOUT);
        return true;
      } catch (ConfirmingPublisher.PublishException e) {
        if (giveUp.getAsBoolean()) {
          return false;
        }
        if (tries == 1 || tries % 10 == 0) {
          log.warn("{} not confirmed ({}); publishing again (try {})", m.what(), e.getMessage(), tries + 1);
        }
      }
      synchronized (wake) {
        // a recovered connection cuts the wait short
        wake.wait(backoff);
      }
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      if (giveUp.getAsBoolean()) {
        return false;
      }
      metrics.publishRetries.increment();
      f = publish(m);
    }
  }

  /** The connection is back: publishes waiting to be sent again go now. */
  void recovered() {
    synchronized (wake) {
      wake.notifyAll();
    }
  }

  private synchronized ConfirmingPublisher publisher() throws IOException {
    if (!current.channel().isOpen()) {
      ShutdownSignalException why = current.channel().getCloseReason();
      // a connection loss is the client's to recover; a channel error (a missing exchange) is ours
      if (why != null && !why.isHardError() && connection.isOpen()) {
        log.warn("the publishing channel was closed by the broker ({}); opening another", why.getMessage());
        current.close();
        current = new ConfirmingPublisher(connection.createChannel());
      }
    }
    return current;
  }

  @Override
  public synchronized void close() {
    current.close();
  }
}
