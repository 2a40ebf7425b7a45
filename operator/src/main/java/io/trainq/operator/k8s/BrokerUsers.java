package io.trainq.operator.k8s;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.trainq.protocol.JobTopology;
import io.trainq.protocol.RabbitSettings;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A broker user of a job's own for its worker pods, made and removed through the RabbitMQ management
 * API with the operator's (administrator) connection. It may consume and inspect the job's own queues
 * only, publish only to the three topic exchanges the worker uses with the job's own routing keys
 * (the job's key for events and dead letters, its retry queues' names for retries; never the default
 * exchange, which could reach any queue), and declare, bind or delete nothing. A task process, which can read its worker's environment, thus holds credentials worth the
 * job's own queues and nothing else.
 */
final class BrokerUsers {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final SecureRandom RANDOM = new SecureRandom();
  private static final Duration TIMEOUT = Duration.ofSeconds(10);

  private BrokerUsers() {}

  /** The user's name: unique per job instance (the job key holds the uid). */
  static String userName(JobTopology t) {
    return "trainq-worker." + t.key();
  }

  /** A new password: 32 random bytes, URL-safe base64. */
  static String newPassword() {
    byte[] b = new byte[32];
    RANDOM.nextBytes(b);
    return Base64.getUrlEncoder().withoutPadding().encodeToString(b);
  }

  /**
   * The management API's base URL: {@code explicit} when given, else the first node's host on 15672
   * (http), or 15671 (https) when the AMQP connection is TLS: the ports of the RabbitMQ Cluster
   * Operator's Service.
   */
  static URI managementUrl(RabbitSettings admin, String explicit) {
    if (explicit != null && !explicit.isBlank()) {
      String u = explicit.trim();
      return URI.create(u.endsWith("/") ? u : u + "/");
    }
    String host = admin.addresses().get(0).getHost();
    boolean tls = admin.tls() != null;
    return URI.create((tls ? "https" : "http") + "://" + (host.contains(":") ? "[" + host + "]" : host) + ":"
        + (tls ? 15671 : 15672) + "/");
  }

  /** The management API of a job's broker: spec.rabbitmq.managementUrl, or the operator's for its own connection. */
  static URI managementUrl(io.trainq.api.TrainingJob job, io.trainq.operator.OperatorConfig config, RabbitSettings admin) {
    var rabbitmq = job.getSpec().getRabbitmq();
    return managementUrl(admin, rabbitmq != null ? rabbitmq.getManagementUrl() : config.managementUrl());
  }

  /** configure, write and read, as the management API takes them: regular expressions over resource names. */
  static Map<String, String> permissions(JobTopology t) {
    String key = literal(t.key());
    Map<String, String> p = new LinkedHashMap<>();
    p.put("configure", "^$");
    p.put("write", "^(" + literal(JobTopology.EVENTS_EXCHANGE) + "|" + literal(JobTopology.DEAD_LETTER_EXCHANGE) + "|"
        + literal(JobTopology.RETRY_EXCHANGE) + ")$");
    p.put("read", "^tq\\." + key + "\\.(tasks|dead|retry\\.[0-9]+)$");
    return p;
  }

  /**
   * Routing keys the user may publish with on a topic exchange: the job's key on the events and
   * dead-letter exchanges, the names of its retry queues on the retry exchange.
   */
  static Map<String, String> topicPermission(JobTopology t, String exchange) {
    Map<String, String> p = new LinkedHashMap<>();
    p.put("exchange", exchange);
    p.put("write", JobTopology.RETRY_EXCHANGE.equals(exchange)
        ? "^tq\\." + literal(t.key()) + "\\.retry\\.[0-9]+$"
        : "^" + literal(t.key()) + "$");
    p.put("read", "^$");
    return p;
  }

  /** Creates or updates the job's user with {@code password} and its permissions; idempotent. */
  static void ensure(RabbitSettings admin, URI api, JobTopology t, String password) throws IOException, InterruptedException {
    String user = enc(userName(t));
    String vhost = enc(admin.vhost());
    send(admin, api, "PUT", "api/users/" + user, Map.of("password", password, "tags", ""));
    send(admin, api, "PUT", "api/permissions/" + vhost + "/" + user, permissions(t));
    for (String x : List.of(JobTopology.EVENTS_EXCHANGE, JobTopology.DEAD_LETTER_EXCHANGE, JobTopology.RETRY_EXCHANGE)) {
      send(admin, api, "PUT", "api/topic-permissions/" + vhost + "/" + user, topicPermission(t, x));
    }
  }

  /** Removes the job's user (its connections are closed by the broker); a user already gone is fine. */
  static void delete(RabbitSettings admin, URI api, JobTopology t) throws IOException, InterruptedException {
    send(admin, api, "DELETE", "api/users/" + enc(userName(t)), null);
  }

  private static void send(RabbitSettings admin, URI api, String method, String path, Object body)
      throws IOException, InterruptedException {
    // HTTP/1.1: the management listener resets requests with a body that ask to upgrade to h2c
    HttpClient.Builder b = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(TIMEOUT);
    if ("https".equals(api.getScheme()) && admin.tls() != null) {
      b.sslContext(admin.tls().sslContext());
    }
    URI uri = api.resolve(path);
    String auth = Base64.getEncoder().encodeToString((admin.username() + ":" + admin.password()).getBytes(StandardCharsets.UTF_8));
    HttpRequest.Builder r = HttpRequest.newBuilder(uri).timeout(TIMEOUT).header("Authorization", "Basic " + auth)
        .header("Content-Type", "application/json");
    r.method(method, body == null ? HttpRequest.BodyPublishers.noBody()
        : HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)));
    HttpResponse<String> resp;
    try {
      resp = b.build().send(r.build(), HttpResponse.BodyHandlers.ofString());
    } catch (IOException e) {
      throw new IOException("RabbitMQ management API at " + api + ": " + method + " " + path + " failed: "
          + e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage())
          + " (is the management API there? spec.rabbitmq.managementUrl or TRAINQ_RABBITMQ_MANAGEMENT_URL sets it)", e);
    }
    int code = resp.statusCode();
    if (code / 100 == 2 || ("DELETE".equals(method) && code == 404)) {
      return;
    }
    String hint = code == 401 ? " (the operator's broker user was refused: check its password)"
        : code == 403 ? " (the operator's broker user needs the administrator tag to manage users)" : "";
    String text = resp.body() == null ? "" : resp.body().replace('\n', ' ');
    throw new IOException("RabbitMQ management API at " + api + ": " + method + " " + path + " answered " + code
        + hint + ": " + (text.length() > 200 ? text.substring(0, 200) + "…" : text));
  }

  /** A regular expression matching {@code s} literally (PCRE: a backslash before an ASCII character that is not a letter or digit makes it literal). */
  static String literal(String s) {
    StringBuilder b = new StringBuilder();
    for (char c : s.toCharArray()) {
      if (c < 128 && !Character.isLetterOrDigit(c)) {
        b.append('\\');
      }
      b.append(c);
    }
    return b.toString();
  }

  private static String enc(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
  }
}
