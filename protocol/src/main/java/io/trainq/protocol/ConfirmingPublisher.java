package io.trainq.protocol;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.ConfirmListener;
import com.rabbitmq.client.ReturnListener;
import com.rabbitmq.client.ShutdownSignalException;
import java.io.IOException;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentNavigableMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Publishes on its own channel in confirm mode with {@code mandatory}: each publish returns a future
 * completed by the broker's ack, and failed by a nack, an unroutable return, or the channel closing.
 * Many publishes may be in flight; callers that need one-at-a-time semantics wait on the future.
 */
public final class ConfirmingPublisher implements AutoCloseable {
  /** Header correlating a basic.return with its publish. */
  private static final String SEQ_HEADER = "x-trainq-publish-seq";

  private final Channel channel;
  private final ConcurrentNavigableMap<Long, CompletableFuture<Void>> outstanding = new ConcurrentSkipListMap<>();

  public ConfirmingPublisher(Channel channel) throws IOException {
    this.channel = channel;
    channel.confirmSelect();
    channel.addConfirmListener(new ConfirmListener() {
      @Override
      public void handleAck(long seq, boolean multiple) {
        settle(seq, multiple, null);
      }

      @Override
      public void handleNack(long seq, boolean multiple) {
        settle(seq, multiple, new PublishException("the broker refused the message (nack)"));
      }
    });
    channel.addReturnListener((ReturnListener) (code, text, exchange, routingKey, props, body) -> {
      Object seq = props.getHeaders() == null ? null : props.getHeaders().get(SEQ_HEADER);
      if (seq instanceof Number n) {
        CompletableFuture<Void> f = outstanding.remove(n.longValue());
        if (f != null) {
          f.completeExceptionally(new PublishException(
              "unroutable: no queue bound for exchange '" + exchange + "' routing key '" + routingKey + "' (" + text + ")"));
        }
      }
    });
    channel.addShutdownListener(this::failAll);
  }

  public Channel channel() {
    return channel;
  }

  /** Publishes a persistent message; the future completes when the broker has confirmed it. */
  public CompletableFuture<Void> publish(String exchange, String routingKey, AMQP.BasicProperties props, byte[] body) {
    CompletableFuture<Void> f = new CompletableFuture<>();
    synchronized (channel) {
      long seq = channel.getNextPublishSeqNo();
      Map<String, Object> headers = props.getHeaders() == null ? new HashMap<>() : new HashMap<>(props.getHeaders());
      headers.put(SEQ_HEADER, seq);
      outstanding.put(seq, f);
      try {
        channel.basicPublish(exchange, routingKey, true, props.builder().headers(headers).build(), body);
      } catch (IOException | RuntimeException e) {
        outstanding.remove(seq);
        f.completeExceptionally(new PublishException("publish failed: " + e.getMessage(), e));
      }
    }
    return f;
  }

  /** Publishes and waits for the confirm. */
  public void publishAndWait(String exchange, String routingKey, AMQP.BasicProperties props, byte[] body, Duration timeout)
      throws PublishException, InterruptedException {
    await(publish(exchange, routingKey, props, body), timeout);
  }

  public static void await(CompletableFuture<Void> f, Duration timeout) throws PublishException, InterruptedException {
    try {
      f.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (ExecutionException e) {
      throw e.getCause() instanceof PublishException p ? p : new PublishException(String.valueOf(e.getCause()), e.getCause());
    } catch (TimeoutException e) {
      throw new PublishException("no confirm from the broker within " + timeout.toMillis() + " ms");
    }
  }

  public int inFlight() {
    return outstanding.size();
  }

  private void settle(long seq, boolean multiple, PublishException error) {
    Map<Long, CompletableFuture<Void>> done = multiple ? outstanding.headMap(seq, true) : subMap(seq);
    for (Long k : done.keySet().toArray(new Long[0])) {
      CompletableFuture<Void> f = outstanding.remove(k);
      if (f != null) {
        if (error == null) {
          f.complete(null);
        } else {
          f.completeExceptionally(error);
        }
      }
    }
  }

  private Map<Long, CompletableFuture<Void>> subMap(long seq) {
    return outstanding.subMap(seq, true, seq, true);
  }

  private void failAll(ShutdownSignalException cause) {
    for (Long k : outstanding.keySet().toArray(new Long[0])) {
      CompletableFuture<Void> f = outstanding.remove(k);
      if (f != null) {
        f.completeExceptionally(new PublishException("channel closed before the confirm: " + cause.getMessage(), cause));
      }
    }
  }

  @Override
  public void close() {
    try {
      if (channel.isOpen()) {
        channel.close();
      }
    } catch (IOException | TimeoutException | RuntimeException ignored) {
      // closing is best effort; unconfirmed publishes were already failed by the shutdown listener
    }
  }

  /** A publish the broker did not confirm: it must be retried (publishes are idempotent by message id). */
  public static class PublishException extends Exception {
    public PublishException(String message) {
      super(message);
    }

    public PublishException(String message, Throwable cause) {
      super(message, cause);
    }
  }
}
