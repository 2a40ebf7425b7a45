package io.trainq.testkit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Optional;

/**
 * The RabbitMQ management HTTP API of an instance. Each call goes to the first node that
 * answers, so it keeps working while fault tests have nodes down.
 */
final class ManagementApi {

  private static final ObjectMapper JSON = new ObjectMapper();

  private final List<Integer> ports;
  private final String authorization;
  private final HttpClient http = HttpClient.newBuilder()
      .connectTimeout(Duration.ofSeconds(2))
      .build();

  ManagementApi(List<Integer> ports, String username, String password) {
    this.ports = List.copyOf(ports);
    this.authorization = "Basic " + Base64.getEncoder()
        .encodeToString((username + ":" + password).getBytes(StandardCharsets.UTF_8));
  }

  /** {@code GET /api/queues/%2F/<queue>}; empty when the queue does not exist. */
  Optional<JsonNode> queue(String queue) {
    return get("/api/queues/%2F/" + encode(queue));
  }

  /** {@code GET /api/queues/%2F/<queue>/bindings}: one object per binding, with {@code source} and {@code routing_key}. */
  JsonNode queueBindings(String queue) {
    return get("/api/queues/%2F/" + encode(queue) + "/bindings")
        .orElseThrow(() -> new IllegalStateException("no queue " + queue));
  }

  /** {@code GET /api/queues/%2F?columns=name}: the names of the default vhost's queues. */
  List<String> queueNames() {
    List<String> names = new ArrayList<>();
    get("/api/queues/%2F?columns=name").orElseThrow(() -> new IllegalStateException("no vhost /"))
        .forEach(q -> names.add(q.path("name").asText()));
    return names;
  }

  /** {@code GET /api/connections}: one object per client connection, with {@code user_provided_name}, {@code ssl}, {@code peer_cert_subject}. */
  JsonNode connections() {
    return get("/api/connections").orElseThrow(() -> new IllegalStateException("GET /api/connections: not found"));
  }

  /** {@code GET /api/nodes}: one object per cluster member, with {@code name} and {@code running}. */
  JsonNode nodes() {
    return get("/api/nodes").orElseThrow(() -> new IllegalStateException("GET /api/nodes: not found"));
  }

  /** {@code DELETE /api/connections/<name>}: the broker closes the connection; false when there is none by that name. */
  boolean closeConnection(String name) {
    List<String> failures = new ArrayList<>();
    for (int port : ports) {
      HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/api/connections/" + encode(name)))
          .header("Authorization", authorization)
          .header("X-Reason", "closed by a test")
          .timeout(Duration.ofSeconds(10))
          .DELETE()
          .build();
      try {
        HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() == 404) {
          return false;
        }
        if (response.statusCode() / 100 == 2) {
          return true;
        }
        failures.add(port + ": HTTP " + response.statusCode() + " " + response.body());
      } catch (IOException e) {
        failures.add(port + ": " + e);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted during DELETE of connection " + name, e);
      }
    }
    throw new IllegalStateException("DELETE of connection " + name + " failed on every node: " + failures);
  }

  private Optional<JsonNode> get(String path) {
    List<String> failures = new ArrayList<>();
    for (int port : ports) {
      HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
          .header("Authorization", authorization)
          .timeout(Duration.ofSeconds(10))
          .GET()
          .build();
      try {
        HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() == 404) {
          return Optional.empty();
        }
        if (response.statusCode() == 200) {
          return Optional.of(JSON.readTree(response.body()));
        }
        // A node that is shutting down or booting answers 5xx; another node may answer.
        failures.add(port + ": HTTP " + response.statusCode() + " " + response.body());
      } catch (IOException e) {
        failures.add(port + ": " + e);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted during GET " + path, e);
      }
    }
    throw new IllegalStateException("GET " + path + " failed on every node: " + failures);
  }

  private static String encode(String segment) {
    return URLEncoder.encode(segment, StandardCharsets.UTF_8).replace("+", "%20");
  }
}
