package io.trainq.protocol;

import com.rabbitmq.client.Address;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.impl.recovery.RecordedBinding;
import com.rabbitmq.client.impl.recovery.RecordedConsumer;
import com.rabbitmq.client.impl.recovery.RecordedEntity;
import com.rabbitmq.client.impl.recovery.RecordedExchange;
import com.rabbitmq.client.impl.recovery.RecordedQueue;
import com.rabbitmq.client.impl.recovery.TopologyRecoveryFilter;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * How to reach the broker: every node's address, credentials, virtual host, and TLS (null: plain
 * AMQP). Read from {@code TRAINQ_RABBITMQ_URI} (amqp:// or amqps://user:pass@host:port/vhost),
 * {@code TRAINQ_RABBITMQ_ADDRESSES} (host:port,host:port, overriding the URI's host),
 * {@code TRAINQ_RABBITMQ_USERNAME}, {@code TRAINQ_RABBITMQ_PASSWORD}, {@code TRAINQ_RABBITMQ_VHOST}
 * and {@link RabbitTls}'s variables. {@link #toString()} never shows the password.
 */
public record RabbitSettings(List<Address> addresses, String username, String password, String vhost, Duration heartbeat,
    RabbitTls tls) {

  public RabbitSettings {
    if (addresses == null || addresses.isEmpty()) {
      throw new IllegalArgumentException("RabbitMQ: no address given");
    }
    addresses = List.copyOf(addresses);
    Objects.requireNonNull(username, "username");
    Objects.requireNonNull(password, "password");
    vhost = vhost == null || vhost.isEmpty() ? "/" : vhost;
    heartbeat = heartbeat == null ? Duration.ofSeconds(30) : heartbeat;
  }

  /** Plain AMQP (no TLS). */
  public RabbitSettings(List<Address> addresses, String username, String password, String vhost, Duration heartbeat) {
    this(addresses, username, password, vhost, heartbeat, null);
  }

  /** The same settings with {@code tls} (null: plain AMQP). */
  public RabbitSettings withTls(RabbitTls tls) {
    return new RabbitSettings(addresses, username, password, vhost, heartbeat, tls);
  }

  /**
   * Parses amqp://user:pass@host:port/vhost (vhost percent-encoded; "/" is %2F). The host part may
   * list every node of a cluster, {@code host1:5672,host2:5672,host3:5672}, as multi-host URIs of
   * other clients do: connections then go to any node that answers. amqps:// is TLS with the JVM's
   * default trust store (port 5671 by default); {@link #fromEnv} adds a CA and client certificate.
   */
  public static RabbitSettings fromUri(String uri) {
    String text = uri.trim();
    int from = text.indexOf("://");
    if (from > 0) {
      int slash = text.indexOf('/', from + 3);
      String authority = slash < 0 ? text.substring(from + 3) : text.substring(from + 3, slash);
      int at = authority.lastIndexOf('@');
      String hosts = authority.substring(at + 1);
      if (hosts.contains(",")) {
        List<Address> all = parseAddresses(hosts);
        String first = all.get(0).getHost() + ":" + all.get(0).getPort();
        RabbitSettings one = fromUri(text.substring(0, from + 3 + at + 1) + first + (slash < 0 ? "" : text.substring(slash)));
        return new RabbitSettings(all, one.username(), one.password(), one.vhost(), one.heartbeat(), one.tls());
      }
    }
    try {
      URI u = new URI(text);
      boolean tls = "amqps".equals(u.getScheme());
      if (!tls && !"amqp".equals(u.getScheme())) {
        throw new IllegalArgumentException("RabbitMQ URI must start with amqp:// or amqps:// (got " + redact(uri) + ")");
      }
      String user = "guest";
      String pass = "guest";
      if (u.getRawUserInfo() != null) {
        String[] ui = u.getRawUserInfo().split(":", 2);
        user = decode(ui[0]);
        pass = ui.length > 1 ? decode(ui[1]) : "";
      }
      if (u.getHost() == null) {
        throw new IllegalArgumentException("RabbitMQ URI has no host: " + redact(uri));
      }
      int port = u.getPort() >= 0 ? u.getPort() : tls ? RabbitTls.DEFAULT_PORT : 5672;
      String path = u.getRawPath();
      String vhost = path == null || path.isEmpty() || path.equals("/") ? "/" : decode(path.substring(1));
      return new RabbitSettings(List.of(new Address(u.getHost(), port)), user, pass, vhost, null,
          tls ? RabbitTls.SYSTEM_TRUST : null);
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException("invalid RabbitMQ URI " + redact(uri) + ": " + e.getReason());
    }
  }

  /** Parses "host:port,host:port" (port defaults to 5672). */
  public static List<Address> parseAddresses(String list) {
    List<Address> out = new ArrayList<>();
    for (String part : list.split(",")) {
      String p = part.trim();
      if (p.isEmpty()) {
        continue;
      }
      int colon = p.lastIndexOf(':');
      try {
        out.add(colon < 0 ? new Address(p, 5672) : new Address(p.substring(0, colon), Integer.parseInt(p.substring(colon + 1))));
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("invalid RabbitMQ address '" + p + "': expected host:port");
      }
    }
    if (out.isEmpty()) {
      throw new IllegalArgumentException("no RabbitMQ address in '" + list + "'");
    }
    return out;
  }

  /**
   * Reads the TRAINQ_RABBITMQ_* variables of an environment, TLS included ({@link RabbitTls#fromEnv}).
   *
   * @throws IllegalArgumentException naming the variable that is missing or wrong
   */
  public static RabbitSettings fromEnv(Map<String, String> env) {
    String uri = env.get("TRAINQ_RABBITMQ_URI");
    String addresses = env.get("TRAINQ_RABBITMQ_ADDRESSES");
    if ((uri == null || uri.isBlank()) && (addresses == null || addresses.isBlank())) {
      throw new IllegalArgumentException("RabbitMQ not configured: set TRAINQ_RABBITMQ_URI (amqp://user:pass@host:5672/%2F) or TRAINQ_RABBITMQ_ADDRESSES");
    }
    RabbitSettings s = uri == null || uri.isBlank()
        ? new RabbitSettings(parseAddresses(addresses), "guest", "guest", "/", null)
        : fromUri(uri);
    List<Address> addrs = addresses == null || addresses.isBlank() ? s.addresses() : parseAddresses(addresses);
    String user = env.getOrDefault("TRAINQ_RABBITMQ_USERNAME", s.username());
    String pass = env.getOrDefault("TRAINQ_RABBITMQ_PASSWORD", s.password());
    String vhost = env.getOrDefault("TRAINQ_RABBITMQ_VHOST", s.vhost());
    return new RabbitSettings(addrs, user, pass, vhost, s.heartbeat(), RabbitTls.fromEnv(env, s.tls() != null));
  }

  /**
   * A connection factory with heartbeats and automatic connection and topology recovery; with TLS,
   * the broker's certificate is checked against the CA and its host name against the address.
   */
  public ConnectionFactory connectionFactory() {
    ConnectionFactory f = new ConnectionFactory();
    f.setUsername(username);
    f.setPassword(password);
    f.setVirtualHost(vhost);
    f.setRequestedHeartbeat((int) heartbeat.toSeconds());
    f.setAutomaticRecoveryEnabled(true);
    f.setTopologyRecoveryEnabled(true);
    f.setNetworkRecoveryInterval(1000);
    f.setConnectionTimeout(5000);
    f.setTopologyRecoveryFilter(OPEN_CHANNELS_ONLY);
    if (tls != null) {
      f.useSslProtocol(tls.sslContext());
      f.enableHostnameVerification();
    }
    return f;
  }

  /**
   * Recovery replays a declaration on the channel that made it; one the application has closed since
   * (a short-lived channel that declared a job's topology) cannot, and the client would log an ERROR
   * with a stack trace for each. What such channels declared is durable and declared again by trainq
   * itself where it matters (the operator and the runner on each check), so those are skipped. So are
   * consumers whose tag starts with {@link #TRANSIENT_CONSUMER_PREFIX}.
   */
  /**
   * Consumers whose tag starts with this are not recovered with the connection: their owner starts
   * them again when it wants them (the client replays one prefetch per channel, so a second consumer
   * with a prefetch of its own would come back with the first one's).
   */
  public static final String TRANSIENT_CONSUMER_PREFIX = "trainq-transient-";

  static final TopologyRecoveryFilter OPEN_CHANNELS_ONLY = new TopologyRecoveryFilter() {
    @Override
    public boolean filterExchange(RecordedExchange e) {
      return open(e);
    }

    @Override
    public boolean filterQueue(RecordedQueue q) {
      return open(q);
    }

    @Override
    public boolean filterBinding(RecordedBinding b) {
      return open(b);
    }

    @Override
    public boolean filterConsumer(RecordedConsumer c) {
      return open(c) && !c.getConsumerTag().startsWith(TRANSIENT_CONSUMER_PREFIX);
    }

    private boolean open(RecordedEntity e) {
      return e.getChannel() != null && e.getChannel().isOpen();
    }
  };

  public String addressList() {
    StringBuilder sb = new StringBuilder();
    for (Address a : addresses) {
      if (sb.length() > 0) {
        sb.append(',');
      }
      sb.append(a.getHost()).append(':').append(a.getPort());
    }
    return sb.toString();
  }

  /** The settings as environment variables, for a child process (the password included: the caller keeps it off logs). */
  public Map<String, String> toEnv() {
    Map<String, String> env = new java.util.LinkedHashMap<>(Map.of(
        "TRAINQ_RABBITMQ_ADDRESSES", addressList(),
        "TRAINQ_RABBITMQ_USERNAME", username,
        "TRAINQ_RABBITMQ_PASSWORD", password,
        "TRAINQ_RABBITMQ_VHOST", vhost));
    if (tls != null) {
      env.putAll(tls.toEnv());
    }
    return env;
  }

  @Override
  public String toString() {
    return (tls == null ? "amqp://" : "amqps://") + username + ":***@" + addressList() + "/" + URLEncoderVhost.encode(vhost);
  }

  static String redact(String uri) {
    return uri.replaceAll("([A-Za-z][A-Za-z0-9+.-]*://[^:/@]*):[^@]*@", "$1:***@");
  }

  private static String decode(String s) {
    return URLDecoder.decode(s, StandardCharsets.UTF_8);
  }

  private static final class URLEncoderVhost {
    static String encode(String v) {
      return java.net.URLEncoder.encode(v, StandardCharsets.UTF_8);
    }
  }
}
