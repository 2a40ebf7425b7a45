package io.trainq.protocol;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.BlockedListener;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.PossibleAuthenticationFailureException;
import com.rabbitmq.client.Recoverable;
import com.rabbitmq.client.RecoveryListener;
import com.rabbitmq.client.ShutdownSignalException;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Opens the one long-lived connection a process keeps, retrying the first connect while the broker is
 * unreachable (recovery handles later losses). A refused login or virtual host fails at once.
 */
public final class Connections {
  private static final Logger log = LoggerFactory.getLogger(Connections.class);
  /** Why the broker blocks each connection this class opened (a resource alarm), for those it blocks. */
  private static final Map<Connection, String> BLOCKED = Collections.synchronizedMap(new WeakHashMap<>());
  /** How the log says a connection is blocked ("... {name}: {reason} (a resource alarm..."); {@code trainq run} relays it. */
  public static final String BLOCKED_LOG = "RabbitMQ blocks connection ";
  public static final String BLOCKED_LOG_END = " (a resource alarm";
  public static final String UNBLOCKED_LOG = "RabbitMQ unblocked connection ";

  private Connections() {}

  /**
   * Why the broker blocks {@code c} ({@code connection.blocked}: a memory or disk alarm on a node of
   * the cluster), or null when it does not. While blocked, publishes wait: nothing is lost, nothing
   * moves on until the alarm clears.
   */
  public static String blockedReason(Connection c) {
    return BLOCKED.get(c);
  }

  /** Keeps {@link #blockedReason} current and says when a connection is blocked and unblocked. */
  private static void watchBlocked(Connection c, String name) {
    c.addBlockedListener(new BlockedListener() {
      @Override
      public void handleBlocked(String reason) {
        BLOCKED.put(c, reason);
        log.warn(BLOCKED_LOG + "{}: {}" + BLOCKED_LOG_END + ": publishing waits until it clears; nothing is lost)", name, reason);
      }

      @Override
      public void handleUnblocked() {
        if (BLOCKED.remove(c) != null) {
          log.info(UNBLOCKED_LOG + "{}: publishing goes on", name);
        }
      }
    });
    if (c instanceof Recoverable r) {
      // a new connection starts unblocked; the broker says so again if the alarm still stands
      r.addRecoveryListener(new RecoveryListener() {
        @Override
        public void handleRecovery(Recoverable recoverable) {
          BLOCKED.remove(c);
        }

        @Override
        public void handleRecoveryStarted(Recoverable recoverable) { }
      });
    }
  }

  /**
   * Connects to any node of the address list, retrying with backoff until {@code firstConnectTimeout}
   * while the broker is unreachable (refused, timed out, not resolvable).
   *
   * @throws BrokerRefusedException at once when the broker refuses the user or the virtual host
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
        Connection c = f.newConnection(addrs, connectionName);
        watchBlocked(c, connectionName);
        return c;
      } catch (IOException | TimeoutException e) {
        // The client tries every address and throws the last failure: with one node down and the
        // others refusing the login, a later try (in another order) reports the refusal.
        String refusal = refusal(e, s);
        if (refusal == null) {
          refusal = tlsProblem(e, s);
        }
        if (refusal != null) {
          throw new BrokerRefusedException(refusal, e);
        }
        last = e;
      }
      if (System.nanoTime() + sleepMs * 1_000_000L > deadline) {
        break;
      }
      if (tries == 1 || tries % 10 == 0) {
        long leftS = Math.max(0, (deadline - System.nanoTime()) / 1_000_000_000L);
        log.warn("cannot connect to RabbitMQ at {} as user '{}' yet ({}); retrying for another {} s",
            s.addressList(), s.username(), rootMessage(last), leftS);
      }
      Thread.sleep(sleepMs);
      sleepMs = Math.min(sleepMs * 2, 2000);
    }
    throw new IOException("cannot reach RabbitMQ at " + s.addressList() + " as user '" + s.username()
        + "' within " + firstConnectTimeout.toSeconds() + " s: " + rootMessage(last), last);
  }

  /**
   * The error to report when the failure will not go away by itself, null otherwise: a refused login
   * (ACCESS_REFUSED, or the socket closed during authentication, as brokers without the
   * authentication_failure_close capability do) or a refused virtual host (NOT_ALLOWED). It names the
   * addresses, user and vhost, never the password.
   */
  static String refusal(Throwable e, RabbitSettings s) {
    Integer code = null;
    if (e instanceof PossibleAuthenticationFailureException) {
      code = AMQP.ACCESS_REFUSED;
    }
    for (Throwable c = e; c != null && code == null; c = c.getCause() == c ? null : c.getCause()) {
      if (c instanceof ShutdownSignalException sse && sse.getReason() instanceof AMQP.Connection.Close close
          && (close.getReplyCode() == AMQP.ACCESS_REFUSED || close.getReplyCode() == AMQP.NOT_ALLOWED)) {
        code = close.getReplyCode();
      }
    }
    if (code == null) {
      return null;
    }
    String where = "RabbitMQ at " + s.addressList();
    return code == AMQP.NOT_ALLOWED
        ? where + " refused vhost '" + s.vhost() + "' for user '" + s.username() + "': " + brokerWords(e)
            + " (check that the vhost exists and that the user has permissions on it)"
        : where + " refused the login of user '" + s.username() + "' (vhost '" + s.vhost() + "'): " + brokerWords(e)
            + " (check the user name and password)";
  }

  /**
   * The error to report for a TLS failure that retrying cannot mend, null for any other: the broker's
   * certificate not signed by a trusted CA or not naming the host, a port that does not speak TLS,
   * the broker refusing the client certificate. Names the addresses, never a key.
   */
  static String tlsProblem(Throwable e, RabbitSettings s) {
    if (s.tls() == null) {
      return null;
    }
    boolean tlsFailure = false;
    StringBuilder words = new StringBuilder();
    for (Throwable c = e; c != null; c = c.getCause() == c ? null : c.getCause()) {
      if (c instanceof javax.net.ssl.SSLException || c instanceof java.security.cert.CertificateException
          || c instanceof java.security.cert.CertPathValidatorException) {
        tlsFailure = true;
      }
      words.append(' ').append(c.getMessage());
    }
    if (!tlsFailure) {
      return null;
    }
    String all = words.toString();
    String where = "RabbitMQ at " + s.addressList() + " over TLS: ";
    if (all.contains("PKIX path") || all.contains("unable to find valid certification path")) {
      return where + "the broker's certificate is not signed by a CA trusted here (give the CA that signed it: "
          + RabbitTls.CA_FILE + ", or the key ca.crt of spec.rabbitmq.tls.secretRef): " + rootMessage(e);
    }
    if (all.contains("No subject alternative") || all.contains("No name matching")) {
      return where + "the broker's certificate does not name the host connected to (host names are verified;"
          + " connect by a name the certificate holds): " + rootMessage(e);
    }
    if (all.contains("Unsupported or unrecognized SSL message") || all.contains("plaintext connection")) {
      return where + "the port does not speak TLS (use the broker's amqps port, 5671 by default, or amqp://): " + rootMessage(e);
    }
    if (all.contains("bad_certificate") || all.contains("certificate_required") || all.contains("unknown_ca")
        || all.contains("certificate_unknown")) {
      return where + "the broker refused the client certificate (" + RabbitTls.CERT_FILE + ", or tls.crt): " + rootMessage(e);
    }
    return null;
  }

  /** The broker's own reply text ("NOT_ALLOWED - vhost x not found"), else the client's message. */
  private static String brokerWords(Throwable e) {
    for (Throwable c = e; c != null; c = c.getCause() == c ? null : c.getCause()) {
      if (c instanceof ShutdownSignalException sse && sse.getReason() instanceof AMQP.Connection.Close close) {
        return close.getReplyText();
      }
    }
    return e instanceof PossibleAuthenticationFailureException ? e.getMessage() : rootMessage(e);
  }

  static String rootMessage(Throwable t) {
    Throwable c = t;
    while (c != null && c.getCause() != null && c.getCause() != c) {
      c = c.getCause();
    }
    return c == null ? "unknown error" : c.getClass().getSimpleName() + ": " + c.getMessage();
  }
}
