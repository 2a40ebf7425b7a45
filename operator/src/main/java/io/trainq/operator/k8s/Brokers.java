package io.trainq.operator.k8s;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import io.trainq.engine.EventStream;
import io.trainq.engine.TopologyDeclarer;
import io.trainq.protocol.ConfirmingPublisher;
import io.trainq.protocol.Connections;
import io.trainq.protocol.RabbitSettings;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The operator's broker connections: one long-lived, recovering connection per distinct broker
 * (the operator's default one and any a job names in spec.rabbitmq), each with a small pool of
 * confirming publishers and the events stream that folds its jobs' events.
 */
final class Brokers implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Brokers.class);
  private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(3);

  private final String identity;
  private final EventStream.Options eventOptions;
  private final EventStream.Handler handler;
  private final Map<String, Broker> brokers = new ConcurrentHashMap<>();

  Brokers(String identity, EventStream.Options eventOptions, EventStream.Handler handler) {
    this.identity = identity;
    this.eventOptions = eventOptions;
    this.handler = handler;
  }

  /**
   * One broker: a connection for declarations, inspections and the events stream, its declarer, and
   * a second connection that publishes. A resource alarm blocks a connection that publishes, and a
   * blocked connection is not read at all, so a declaration or a consumer's ack on it would wait for
   * the alarm too; apart, only publishing waits.
   */
  static final class Broker {
    final RabbitSettings settings;
    final Connection connection;
    private final Connection publishing;
    final TopologyDeclarer declarer;
    private final LinkedBlockingQueue<ConfirmingPublisher> idle = new LinkedBlockingQueue<>();
    private volatile EventStream events;
    private volatile String eventsProblem;

    Broker(RabbitSettings settings, Connection connection, Connection publishing) {
      this.settings = settings;
      this.connection = connection;
      this.publishing = publishing;
      this.declarer = new TopologyDeclarer(connection);
    }

    /** A publisher for the caller alone until {@link #release}. */
    ConfirmingPublisher borrow() throws IOException {
      ConfirmingPublisher p;
      while ((p = idle.poll()) != null) {
        if (p.channel().isOpen()) {
          return p;
        }
      }
      return new ConfirmingPublisher(publishing.createChannel());
    }

    void release(ConfirmingPublisher p) {
      if (p.channel().isOpen() && p.inFlight() == 0 && idle.size() < 8) {
        idle.add(p);
      } else {
        p.close();
      }
    }

    /** An empty message to nowhere (the default exchange, no such queue), sent now and then. */
    private static final String PROBE_KEY = "trainq.alarm-probe";
    private static final long PROBE_EVERY_NANOS = TimeUnit.SECONDS.toNanos(5);
    private Channel probe;
    private long probedAtNanos;

    /**
     * Why the broker blocks publishing (a memory or disk alarm), or null. The broker tells only a
     * connection that publishes, so one that has nothing to publish sends an empty, unroutable message
     * every few seconds: a blocked job is then reported while its workers run, not only when it next
     * publishes tasks.
     */
    synchronized String blockedReason() {
      String reason = Connections.blockedReason(publishing);
      if (reason == null && System.nanoTime() - probedAtNanos > PROBE_EVERY_NANOS) {
        probedAtNanos = System.nanoTime();
        try {
          if (probe == null || !probe.isOpen()) {
            probe = publishing.createChannel();
          }
          probe.basicPublish("", PROBE_KEY, false, null, new byte[0]);
        } catch (IOException | RuntimeException e) {
          log.debug("alarm probe on {}: {}", settings, e.toString());
        }
      }
      return reason;
    }

    /** Why the events stream does not run, or null when it does. */
    String eventsProblem() {
      return eventsProblem;
    }

    EventStream events() {
      return events;
    }

    void close() {
      EventStream e = events;
      if (e != null) {
        e.close();
      }
      idle.forEach(ConfirmingPublisher::close);
      for (Connection c : List.of(publishing, connection)) {
        try {
          c.close(5000);
        } catch (IOException | RuntimeException ex) {
          log.debug("closing {}: {}", settings, ex.toString());
        }
      }
    }
  }

  /**
   * The broker for these settings, connecting (and starting its events stream) on first use.
   *
   * @throws IOException when the broker cannot be reached within a few seconds
   */
  Broker get(RabbitSettings settings) throws IOException, InterruptedException {
    String key = key(settings);
    Broker b = brokers.get(key);
    if (b == null) {
      synchronized (this) {
        b = brokers.get(key);
        if (b == null) {
          String job = org.slf4j.MDC.get("namespace") == null ? "" : " (for TrainingJob " + org.slf4j.MDC.get("namespace") + "/"
              + org.slf4j.MDC.get("name") + ")";
          QuietExceptionHandler errors = new QuietExceptionHandler("at " + settings.addressList() + job);
          Connection c = Connections.connect(settings, f -> f.setExceptionHandler(errors), "trainq-operator " + identity,
              CONNECT_TIMEOUT);
          Connection p;
          try {
            p = Connections.connect(settings, f -> f.setExceptionHandler(errors), "trainq-operator " + identity + " publisher",
                CONNECT_TIMEOUT);
          } catch (IOException | RuntimeException e) {
            c.abort();
            throw e;
          }
          b = new Broker(settings, c, p);
          brokers.put(key, b);
          log.info("connected to RabbitMQ at {}", settings.addressList());
        }
      }
    }
    ensureEvents(b);
    return b;
  }

  private void ensureEvents(Broker b) {
    if (b.events != null) {
      return;
    }
    synchronized (b) {
      if (b.events != null) {
        return;
      }
      try {
        b.events = EventStream.start(b.connection, eventOptions, handler, identity);
        b.eventsProblem = null;
        log.info("consuming events from {} on {}", eventOptions.queue(), b.settings.addressList());
      } catch (IOException e) {
        // the client's channel errors carry their text in the cause, not the message
        String problem = e.getMessage() != null ? e.getMessage() : String.valueOf(e.getCause() != null ? e.getCause() : e);
        if (!problem.equals(b.eventsProblem)) {
          log.error("cannot consume events: {}", problem);
        }
        b.eventsProblem = problem;
      }
    }
  }

  /** Every broker's events stream, for metrics. */
  List<EventStream> eventStreams() {
    List<EventStream> out = new ArrayList<>();
    brokers.values().forEach(b -> {
      if (b.events != null) {
        out.add(b.events);
      }
    });
    return out;
  }

  @Override
  public void close() {
    brokers.values().forEach(Broker::close);
    brokers.clear();
  }

  static String key(RabbitSettings s) {
    try {
      byte[] d = MessageDigest.getInstance("SHA-256").digest(s.password().getBytes(StandardCharsets.UTF_8));
      return s.addressList() + "|" + s.username() + "|" + s.vhost() + "|" + HexFormat.of().formatHex(d, 0, 8);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
