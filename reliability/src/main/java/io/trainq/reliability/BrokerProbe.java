package io.trainq.reliability;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.rabbitmq.client.Address;
import com.rabbitmq.client.BuiltinExchangeType;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.GetResponse;
import com.rabbitmq.client.LongString;
import io.trainq.protocol.JobTopology;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;

/** Reads the broker's side of a run: a witness queue for its dead letters, and its queues at the end. */
public final class BrokerProbe {
  private final List<Address> addresses;
  private final String user;
  private final String password;
  private final List<String> management;

  public BrokerProbe(List<Address> addresses, String user, String password, List<String> management) {
    this.addresses = addresses;
    this.user = user;
    this.password = password;
    this.management = management;
  }

  Connection connect(String name) throws Exception {
    ConnectionFactory f = new ConnectionFactory();
    f.setUsername(user);
    f.setPassword(password);
    f.setConnectionTimeout(5000);
    f.setAutomaticRecoveryEnabled(false);
    Exception last = null;
    // the nemesis may have a node down; another node answers
    for (int i = 0; i < 30; i++) {
      try {
        return f.newConnection(addresses, name);
      } catch (IOException e) {
        last = e;
        Thread.sleep(1000);
      }
    }
    throw last;
  }

  /**
   * Waits for the run's state file (it names the job's uid, hence its routing key; not
   * {@code previousUid}, an earlier run's), then binds a
   * quorum queue to the dead-letter exchange with that key, so every dead letter of the run is kept
   * even where the run deletes its own dead-letter queue at the end. Returns the job key.
   */
  public String witness(Path stateFile, String namespace, String name, String queue, String previousUid, Duration timeout)
      throws Exception {
    String uid = awaitUid(stateFile, previousUid, timeout);
    String key = new JobTopology(namespace, name, uid).key();
    try (Connection c = connect("trainq-reliability witness"); Channel ch = c.createChannel()) {
      // the same declaration the run makes: idempotent whichever comes first
      ch.exchangeDeclare(JobTopology.DEAD_LETTER_EXCHANGE, BuiltinExchangeType.TOPIC, true);
      // a queue left by an interrupted suite holds another run's dead letters and binding
      ch.queueDelete(queue);
      ch.queueDeclare(queue, true, false, false, Map.of("x-queue-type", "quorum"));
      ch.queueBind(queue, JobTopology.DEAD_LETTER_EXCHANGE, key);
    }
    return key;
  }

  /** The uid of the run whose state file this is, once written (an earlier run's, {@code previousUid}, does not count). */
  static String awaitUid(Path stateFile, String previousUid, Duration timeout) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    String uid = null;
    while (uid == null) {
      if (Files.exists(stateFile)) {
        try {
          uid = Histories.uidOf(Histories.JSON.readTree(stateFile.toFile()));
          // the earlier run's state stays until the new run (started with --fresh) replaces it
          if (uid != null && uid.equals(previousUid)) {
            uid = null;
          }
        } catch (IOException e) {
          // written by rename, but be patient with a partial read anyway
        }
      }
      if (uid == null) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("no state file " + stateFile + " within " + timeout.toSeconds() + " s");
        }
        Thread.sleep(50);
      }
    }
    return uid;
  }

  /** Waits until the job's task queue exists (the run declares it after writing its state). */
  void awaitQueue(String queue, Duration timeout) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    try (Connection c = connect("trainq-reliability wait")) {
      while (true) {
        try (Channel ch = c.createChannel()) {
          ch.queueDeclarePassive(queue);
          return;
        } catch (IOException e) {
          if (System.nanoTime() > deadline) {
            throw new IllegalStateException("no queue " + queue + " within " + timeout.toSeconds() + " s");
          }
          Thread.sleep(100);
        }
      }
    }
  }

  /**
   * Reads every message of the job's queues (found by name through the management API) and of the
   * witness queue without acknowledging them (they go back when the channel closes), and writes
   * depths, held messages and dead letters as JSON. Those queues and the witness queue are deleted
   * afterwards.
   */
  public void snapshot(Path stateFile, String namespace, String name, String witnessQueue, Path out) throws Exception {
    String uid = Histories.uidOf(Histories.JSON.readTree(stateFile.toFile()));
    String prefix = "tq." + new JobTopology(namespace, name, uid).key() + ".";
    ObjectNode root = Histories.JSON.createObjectNode();
    ObjectNode depths = root.putObject("depths");
    ArrayNode held = root.putArray("held");
    ArrayNode dead = root.putArray("deadLetters");
    try (Connection c = connect("trainq-reliability snapshot")) {
      List<String> queues = queueNames(prefix);
      for (String q : queues) {
        // the events queue holds events, not tasks (left behind only by a run that was stopped)
        if (!q.endsWith(".events")) {
          depths.put(q, read(c, q, held, uid));
        }
      }
      // the suite's jobs are throwaway: what they leave (a poison job's dead letters, an
      // interrupted run's queues) goes once read, so the shared broker does not collect them
      try (Channel ch = c.createChannel()) {
        for (String q : queues) {
          ch.queueDelete(q);
        }
      }
      if (witnessQueue != null) {
        read(c, witnessQueue, dead, uid);
        try (Channel ch = c.createChannel()) {
          ch.queueDelete(witnessQueue);
        }
      }
    }
    Histories.writeJson(out, root);
  }

  /**
   * Reads a queue's messages without acknowledging them. A message that is not one of the run's tasks
   * (not a task of its uid, or dead-lettered as malformed) is marked {@code rejected}: it speaks for
   * no task, whatever index its body names.
   */
  private static long read(Connection c, String queue, ArrayNode into, String uid) throws Exception {
    long n = 0;
    try (Channel ch = c.createChannel()) {
      ch.basicQos(0);
      GetResponse r;
      while ((r = ch.basicGet(queue, false)) != null) {
        n++;
        ObjectNode m = into.addObject();
        m.put("queue", queue);
        String ofUid = null;
        try {
          JsonNode body = Histories.JSON.readTree(r.getBody());
          m.put("index", body.path("index").asInt(-1));
          m.put("attempt", body.path("attempt").asInt(0));
          ofUid = body.path("jobUid").asText(null);
        } catch (IOException e) {
          m.put("index", -1);
        }
        Map<String, Object> h = r.getProps().getHeaders();
        String reason = h == null ? null : reason(h);
        m.put("reason", reason);
        m.put("rejected", !uid.equals(ofUid) || "malformed".equals(reason));
        if (n >= 100_000) {
          break;
        }
      }
    } catch (IOException e) {
      // a queue the run deleted meanwhile holds nothing
    }
    return n;
  }

  /** As the job's fold reads it: the worker's reason header, else the broker's death in the task queue. */
  static String reason(Map<String, Object> headers) {
    Object own = headers.get("x-trainq-reason");
    if (own != null) {
      return own.toString();
    }
    String broker = null;
    if (headers.get("x-death") instanceof List<?> deaths) {
      for (Object d : deaths) {
        if (d instanceof Map<?, ?> death && String.valueOf(death.get("queue")).endsWith(".tasks")) {
          broker = String.valueOf(death.get("reason"));
          break;
        }
      }
    }
    Object first = headers.get("x-first-death-reason");
    if (broker == null && first != null) {
      broker = first instanceof LongString ls ? ls.toString() : first.toString();
    }
    if (broker == null) {
      return null;
    }
    return switch (broker) {
      case "rejected" -> "failed";
      default -> broker.replace('_', '-');
    };
  }

  private List<String> queueNames(String prefix) throws Exception {
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();
    String auth = "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
    Exception last = null;
    for (int round = 0; round < 10; round++) {
      for (String base : management) {
        try {
          HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/api/queues/%2F?columns=name"))
              .header("Authorization", auth).timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
          if (r.statusCode() == 200) {
            List<String> names = new ArrayList<>();
            for (JsonNode q : Histories.JSON.readTree(r.body())) {
              String n = q.path("name").asText();
              if (n.startsWith(prefix)) {
                names.add(n);
              }
            }
            return names.stream().sorted().toList();
          }
          last = new IOException(base + ": HTTP " + r.statusCode());
        } catch (IOException e) {
          last = e;
        }
      }
      Thread.sleep(1000);
    }
    throw last;
  }
}
