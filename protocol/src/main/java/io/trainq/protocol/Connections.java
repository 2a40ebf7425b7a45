package io.trainq.protocol;

import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Opens the one long-lived connection a process keeps, retrying the first connect (recovery handles later losses). */
public final class Connections {
  private static final Logger log = LoggerFactory.getLogger(Connections.class);

  private Connections() {}

  /**
   * Connects to any node of the address list, retrying with backoff until {@code firstConnectTimeout}.
   *
   * @throws IOException naming every address and the last error once the deadline passes
   */
  public static Connection connect(RabbitSettings s, String connectionName, Duration firstConnectTimeout)
      throws IOException, InterruptedException {
    return connect(s, f -> { }, connectionName, firstConnectTimeout);
  }

  /**
   * Like {@link #connect(RabbitSettings, String, Duration)}, with a chance to adjust the factory
   * (its consumer dispatch executor, say) before connecting.
   */
  public static Connection connect(RabbitSettings s, java.util.function.Consumer<ConnectionFactory> customize,
      String connectionName, Duration firstConnectTimeout) throws IOException, InterruptedException {
    ConnectionFactory f = s.connectionFactory();
    customize.accept(f);
    long deadline = System.nanoTime() + firstConnectTimeout.toNanos();
    long sleepMs = 200;
    Exception last = null;
    int tries = 0;
    while (true) {
      tries++;
      try {
        var addrs = new ArrayList<>(s.addresses());
        // spread clients across nodes; recovery picks another node when this one goes
        Collections.shuffle(addrs);
        return f.newConnection(addrs, connectionName);
      } catch (IOException | TimeoutException e) {
        last = e;
      }
      if (System.nanoTime() + sleepMs * 1_000_000L > deadline) {
        break;
      }
      if (tries == 1 || tries % 10 == 0) {
        log.warn("RabbitMQ at {} not reachable yet ({}); retrying", s.addressList(), rootMessage(last));
      }
      Thread.sleep(sleepMs);
      sleepMs = Math.min(sleepMs * 2, 2000);
    }
    throw new IOException("cannot reach RabbitMQ at " + s.addressList() + " as user '" + s.username()
        + "' within " + firstConnectTimeout.toSeconds() + " s: " + rootMessage(last), last);
  }

  static String rootMessage(Throwable t) {
    Throwable c = t;
    while (c != null && c.getCause() != null && c.getCause() != c) {
      c = c.getCause();
    }
    return c == null ? "unknown error" : c.getClass().getSimpleName() + ": " + c.getMessage();
  }
}
