package io.trainq.testkit;

import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.rabbitmq.client.Address;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A RabbitMQ instance started by {@code scripts/rabbitmq.sh} on loopback: RabbitMQ 4.0 or
 * 3.10, a single node or a 3-node cluster, with the fixed port plan of
 * {@code docs/testing-brokers.md}.
 *
 * <p>Getting one checks that it runs and fails the test (never skips it) when it does not,
 * naming the command that starts it. Tests do not start brokers themselves unless
 * {@code TRAINQ_TEST_START_BROKERS=true}. Node indexes are 0-based positions in
 * {@link #nodeNames()}.
 */
public final class RabbitBroker {

  /** System property naming the RabbitMQ version under test ({@code 4.0} or {@code 3.10}). */
  public static final String VERSION_PROPERTY = "trainq.rabbitmq.version";
  /** Environment variable read when {@link #VERSION_PROPERTY} is not set. */
  public static final String VERSION_ENV = "TRAINQ_RABBITMQ_VERSION";
  /** When {@code true}, a broker that is not running is started with the script. */
  public static final String START_BROKERS_ENV = "TRAINQ_TEST_START_BROKERS";
  public static final String DEFAULT_VERSION = "4.0";
  public static final String USERNAME = "trainq";
  public static final String PASSWORD = "trainq";
  public static final String VHOST = "/";

  private static final Logger log = LoggerFactory.getLogger(RabbitBroker.class);
  private static final Duration NODE_OPERATION_TIMEOUT = Duration.ofMinutes(4);
  private static final Duration START_TIMEOUT = Duration.ofMinutes(10);

  /** Base AMQP port and node name prefix per instance (version, nodes). */
  private static final Map<String, Plan> PLANS = Map.of(
      "4.0/1", new Plan(5672, "tq40s"),
      "4.0/3", new Plan(5701, "tq40c"),
      "3.10/1", new Plan(5682, "tq310s"),
      "3.10/3", new Plan(5711, "tq310c"));

  private record Plan(int basePort, String namePrefix) {}

  private final String version;
  private final List<String> nodeNames;
  private final List<Integer> amqpPorts;
  private final ManagementApi management;
  private volatile BrokerScript script;

  private RabbitBroker(String version, int nodes) {
    Plan plan = PLANS.get(version + "/" + nodes);
    if (plan == null) {
      throw new IllegalArgumentException("no RabbitMQ instance for version " + version + " with " + nodes
          + " nodes; versions: 4.0, 3.10; nodes: 1, 3");
    }
    this.version = version;
    this.nodeNames = IntStream.rangeClosed(1, nodes).mapToObj(i -> plan.namePrefix() + i + "@localhost").toList();
    this.amqpPorts = IntStream.range(0, nodes).mapToObj(i -> plan.basePort() + i).toList();
    this.management = new ManagementApi(amqpPorts.stream().map(p -> p + 10000).toList(), USERNAME, PASSWORD);
  }

  /** The single node of the version under test. */
  public static RabbitBroker single() {
    return of(versionUnderTest(), 1);
  }

  /** The 3-node cluster of the version under test, with every node running in it. */
  public static RabbitBroker cluster() {
    return of(versionUnderTest(), 3);
  }

  /** A given instance; fails the calling test when it is not running. */
  public static RabbitBroker of(String version, int nodes) {
    RabbitBroker broker = new RabbitBroker(version, nodes);
    broker.requireRunning();
    return broker;
  }

  /** {@code -Dtrainq.rabbitmq.version}, else {@code TRAINQ_RABBITMQ_VERSION}, else 4.0. */
  public static String versionUnderTest() {
    String version = System.getProperty(VERSION_PROPERTY);
    if (version == null || version.isBlank()) {
      version = System.getenv(VERSION_ENV);
    }
    return version == null || version.isBlank() ? DEFAULT_VERSION : version.trim();
  }

  /** A random name, unique per call, so tests never share queues: {@code prefix-1a2b3c4d5e6f}. */
  public static String uniqueName(String prefix) {
    return prefix + "-" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
  }

  // --- addresses ----------------------------------------------------------------------

  public String version() {
    return version;
  }

  public int size() {
    return nodeNames.size();
  }

  /** Node names in port order, such as {@code tq40c1@localhost}. */
  public List<String> nodeNames() {
    return nodeNames;
  }

  public String nodeName(int index) {
    return nodeNames.get(index);
  }

  public int amqpPort(int index) {
    return amqpPorts.get(index);
  }

  public int amqpPort(String node) {
    return amqpPorts.get(indexOf(node));
  }

  public int managementPort(int index) {
    return amqpPorts.get(index) + 10000;
  }

  /** The node's amqps port (its AMQP port + 100), whose certificate names localhost and 127.0.0.1, not 127.0.0.2. */
  public int tlsPort(int index) {
    return amqpPort(index) + 100;
  }

  /** The node's management API over https (its AMQP port + 10100), with the same certificate as {@link #tlsPort}. */
  public int managementTlsPort(int index) {
    return amqpPort(index) + 10100;
  }

  /**
   * A file of the instance's throwaway TLS material, made by {@code scripts/rabbitmq.sh}: {@code ca.crt}
   * (the CA that signed the nodes' and the client's certificates), {@code client.crt}, {@code client.key}
   * (PKCS#8 PEM, CN trainq-test-client).
   */
  public java.nio.file.Path tlsFile(String name) {
    String state = System.getenv("TRAINQ_STATE");
    java.nio.file.Path root = state == null || state.isBlank()
        ? java.nio.file.Path.of(System.getProperty("user.home"), ".cache", "trainq", "state") : java.nio.file.Path.of(state);
    java.nio.file.Path file = root.resolve("rabbitmq").resolve(version + "-" + size()).resolve("tls").resolve(name);
    if (!java.nio.file.Files.isReadable(file)) {
      fail("no " + file + ": scripts/rabbitmq.sh start --version " + version + " --nodes " + size() + " makes it");
    }
    return file;
  }

  /**
   * The broker's view of the client connection named {@code clientName} (its {@code ssl},
   * {@code peer_cert_subject}, {@code user}, ...), waiting up to 15 s for it to be listed.
   */
  public JsonNode connectionNamed(String clientName) {
    long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
    while (true) {
      for (JsonNode c : management.connections()) {
        if (clientName.equals(c.path("user_provided_name").asText())) {
          return c;
        }
      }
      if (System.nanoTime() > deadline) {
        fail("the broker lists no connection named " + clientName);
      }
      try {
        Thread.sleep(200);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
    }
  }

  /** Every node's AMQP address, for {@code ConnectionFactory.newConnection(Address[])}. */
  public Address[] addresses() {
    return amqpPorts.stream().map(p -> new Address("127.0.0.1", p)).toArray(Address[]::new);
  }

  /** Every node as {@code 127.0.0.1:5701,127.0.0.1:5702,...}, as {@code Address.parseAddresses} reads it. */
  public String addressList() {
    return amqpPorts.stream().map(p -> "127.0.0.1:" + p).collect(Collectors.joining(","));
  }

  /** {@code amqp://trainq:trainq@127.0.0.1:PORT/%2F} of node {@code index}. */
  public String uri(int index) {
    return "amqp://" + USERNAME + ":" + PASSWORD + "@127.0.0.1:" + amqpPort(index) + "/%2F";
  }

  public List<String> uris() {
    return IntStream.range(0, size()).mapToObj(this::uri).toList();
  }

  /**
   * A factory for the first node with the credentials, vhost and automatic recovery set;
   * pass {@link #addresses()} to {@code newConnection} to use every node.
   */
  public ConnectionFactory newConnectionFactory() {
    ConnectionFactory factory = new ConnectionFactory();
    factory.setHost("127.0.0.1");
    factory.setPort(amqpPorts.get(0));
    factory.setUsername(USERNAME);
    factory.setPassword(PASSWORD);
    factory.setVirtualHost(VHOST);
    factory.setAutomaticRecoveryEnabled(true);
    factory.setTopologyRecoveryEnabled(true);
    // Fault tests kill nodes; recover within a second rather than the default five.
    factory.setNetworkRecoveryInterval(1000);
    factory.setConnectionTimeout(5000);
    return factory;
  }

  /** Like {@link #newConnectionFactory()}, for one node only. */
  public ConnectionFactory newConnectionFactory(String node) {
    ConnectionFactory factory = newConnectionFactory();
    factory.setPort(amqpPort(node));
    return factory;
  }

  /** A recovering connection over every node, named for the management UI. */
  public Connection newConnection(String clientName) {
    try {
      return newConnectionFactory().newConnection(addresses(), clientName);
    } catch (IOException | TimeoutException e) {
      throw new IllegalStateException("cannot connect to " + this + ": " + e, e);
    }
  }

  /** A recovering connection to one node only. */
  public Connection newConnection(String clientName, String node) {
    try {
      return newConnectionFactory(node).newConnection(clientName);
    } catch (IOException | TimeoutException e) {
      throw new IllegalStateException("cannot connect to " + node + ": " + e, e);
    }
  }

  // --- queues -------------------------------------------------------------------------

  /**
   * The node that leads quorum queue {@code queue}, from the management API ({@code leader},
   * or {@code node} where there is no {@code leader} field). After a failover it may name
   * the old leader for a moment; see {@link #awaitQuorumLeader}.
   */
  public String quorumLeader(String queue) {
    JsonNode q = management.queue(queue)
        .orElseThrow(() -> new IllegalStateException("no queue " + queue + " on " + this));
    String leader = q.path("leader").asText("");
    if (leader.isEmpty()) {
      leader = q.path("node").asText("");
    }
    if (leader.isEmpty()) {
      throw new IllegalStateException("queue " + queue + " has no leader (yet): " + q);
    }
    return leader;
  }

  /** Waits until {@link #quorumLeader} names a node that {@code accept} takes, and returns it. */
  public String awaitQuorumLeader(String queue, Predicate<String> accept, Duration timeout) {
    return poll(() -> quorumLeader(queue), accept, timeout, "quorum queue " + queue + " has no acceptable leader");
  }

  /**
   * Ready and unacknowledged counts from the management API. They lag the broker: a quorum
   * queue reports its counts every few seconds, and a new queue has none for the first
   * seconds (then this throws). Prefer {@link #readyCount} for exact numbers, or
   * {@link #awaitQueueDepth} to wait for the management view.
   */
  public QueueDepth queueDepth(String queue) {
    JsonNode q = management.queue(queue)
        .orElseThrow(() -> new IllegalStateException("no queue " + queue + " on " + this));
    JsonNode ready = q.path("messages_ready");
    JsonNode unacked = q.path("messages_unacknowledged");
    if (!ready.isNumber() || !unacked.isNumber()) {
      throw new IllegalStateException("the management API has no message counts for " + queue + " yet");
    }
    return new QueueDepth(ready.asLong(), unacked.asLong());
  }

  /** Waits until the management API reports {@code expected} for the queue; returns the last depth seen. */
  public QueueDepth awaitQueueDepth(String queue, QueueDepth expected, Duration timeout) {
    return poll(() -> queueDepth(queue), expected::equals, timeout, "queue " + queue + " did not reach " + expected);
  }

  /**
   * Asks {@code read} every 250 ms until {@code accept} takes its answer (a read that throws counts
   * as a miss). On timeout, an IllegalStateException with the last answer and the last error.
   */
  private static <T> T poll(java.util.concurrent.Callable<T> read, Predicate<T> accept, Duration timeout, String what) {
    java.util.concurrent.atomic.AtomicReference<T> last = new java.util.concurrent.atomic.AtomicReference<>();
    try {
      return org.awaitility.Awaitility.await(what).atMost(timeout).pollInterval(Duration.ofMillis(250)).pollDelay(Duration.ZERO)
          .ignoreExceptions().until(() -> {
            T v = read.call();
            last.set(v);
            return v;
          }, accept::test);
    } catch (org.awaitility.core.ConditionTimeoutException e) {
      throw new IllegalStateException(what + " within " + timeout.toSeconds() + " s; last seen: " + last.get(), e);
    }
  }

  /** A binding of a queue: the exchange it is bound to and its binding key. */
  public record Binding(String source, String routingKey) {}

  /** The queue's bindings from the management API, without the default exchange's implicit one. */
  public List<Binding> bindings(String queue) {
    List<Binding> out = new ArrayList<>();
    for (JsonNode b : management.queueBindings(queue)) {
      if (!b.path("source").asText().isEmpty()) {
        out.add(new Binding(b.path("source").asText(), b.path("routing_key").asText()));
      }
    }
    return out;
  }

  /** The names of the queues that start with {@code prefix}, from the management API. */
  public List<String> queues(String prefix) {
    return management.queueNames().stream().filter(n -> n.startsWith(prefix)).sorted().toList();
  }

  /** Ready messages now, from a passive declare (no management lag). */
  public long readyCount(String queue) {
    return withChannel(channel -> channel.queueDeclarePassive(queue).getMessageCount());
  }

  /** Consumers now, from a passive declare. */
  public long consumerCount(String queue) {
    return withChannel(channel -> channel.queueDeclarePassive(queue).getConsumerCount());
  }

  /** A consumer of a queue as the management API lists it: its tag, the channel it consumes on and its prefetch. */
  public record QueueConsumer(String tag, String channel, int prefetch) {}

  /** The queue's consumers from the management API (which lags the broker by its statistics interval). */
  public List<QueueConsumer> consumers(String queue) {
    JsonNode q = management.queue(queue).orElseThrow(() -> new IllegalStateException("no queue " + queue + " on " + this));
    List<QueueConsumer> out = new ArrayList<>();
    for (JsonNode c : q.path("consumer_details")) {
      out.add(new QueueConsumer(c.path("consumer_tag").asText(), c.path("channel_details").path("name").asText(),
          c.path("prefetch_count").asInt()));
    }
    return out;
  }

  /** Waits until the queue's consumers, as the management API lists them, satisfy {@code accept}; returns them. */
  public List<QueueConsumer> awaitConsumers(String queue, Predicate<List<QueueConsumer>> accept, Duration timeout) {
    return poll(() -> consumers(queue), accept, timeout, "the consumers of " + queue + " did not match");
  }

  /**
   * Has the broker close the client connection named {@code clientName} (as an operator closing it in
   * the management UI would), its server-side name found as {@link #connectionNamed} finds it.
   */
  public void closeConnection(String clientName) {
    String name = connectionNamed(clientName).path("name").asText();
    if (!management.closeConnection(name)) {
      fail("the broker no longer lists connection " + name + " (" + clientName + ")");
    }
  }

  /** Deletes the queue if it exists. */
  public void deleteQueue(String queue) {
    withChannel(channel -> channel.queueDelete(queue));
  }

  // --- nodes --------------------------------------------------------------------------

  /** True when the node accepts TCP connections on its AMQP port. */
  public boolean isReachable(String node) {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress("127.0.0.1", amqpPort(node)), 1000);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  /** Nodes the management API reports as running members of the cluster. */
  public List<String> runningNodes() {
    List<String> running = new ArrayList<>();
    for (JsonNode n : management.nodes()) {
      if (n.path("running").asBoolean(false)) {
        running.add(n.path("name").asText());
      }
    }
    return running;
  }

  /** SIGKILLs the node's Erlang VM (an abrupt crash: no connection closes, no leader handover). */
  public void killNode(String node) {
    indexOf(node);
    log.info("killing {}", node);
    script().runOrThrow(NODE_OPERATION_TIMEOUT, "kill-node", "--node", node);
  }

  /** Stops the node gracefully ({@code rabbitmqctl stop}). */
  public void stopNode(String node) {
    indexOf(node);
    log.info("stopping {}", node);
    script().runOrThrow(NODE_OPERATION_TIMEOUT, "stop-node", "--node", node);
  }

  /** Starts the node again and returns once it runs and has rejoined its cluster. */
  public void startNode(String node) {
    indexOf(node);
    log.info("starting {}", node);
    script().runOrThrow(NODE_OPERATION_TIMEOUT, "start-node", "--node", node);
    if (!isReachable(node)) {
      throw new IllegalStateException(node + " was started but does not accept AMQP connections");
    }
  }

  /**
   * Raises a memory alarm on the first node (its watermark set far below what it uses), which makes
   * the broker block every publishing connection of the cluster; closing the result restores the
   * watermark the node had, and the alarm clears.
   */
  public AutoCloseable memoryAlarm() {
    String node = nodeName(0);
    String before = ctl(node, "rabbitmqctl", "eval", "vm_memory_monitor:get_vm_memory_high_watermark().").trim();
    if (!before.matches("[0-9.]+")) {
      throw new IllegalStateException(node + ": cannot read its memory watermark (got '" + before + "')");
    }
    log.info("raising a memory alarm on {} (watermark {} -> 0.00001)", node, before);
    ctl(node, "rabbitmqctl", "set_vm_memory_high_watermark", "0.00001");
    return () -> {
      log.info("clearing the memory alarm on {} (watermark {})", node, before);
      ctl(node, "rabbitmqctl", "set_vm_memory_high_watermark", before);
    };
  }

  /**
   * Starts every node that is down and waits until the cluster reports all of them
   * running. For {@code @AfterEach}/{@code @AfterAll}, so a failed fault test leaves a
   * healthy cluster behind.
   */
  public void ensureAllNodesRunning() {
    for (String node : nodeNames) {
      if (!isReachable(node)) {
        startNode(node);
      }
    }
    poll(this::runningNodes, running -> running.containsAll(nodeNames), NODE_OPERATION_TIMEOUT,
        this + ": not every node runs after the restart");
  }

  /**
   * Runs a RabbitMQ CLI tool against a node and returns its output: {@code tool} is
   * {@code rabbitmqctl}, {@code rabbitmq-queues}, {@code rabbitmq-diagnostics} or
   * {@code rabbitmq-plugins}.
   */
  public String ctl(String node, String tool, String... args) {
    indexOf(node);
    List<String> command = new ArrayList<>(List.of("ctl", "--node", node, "--tool", tool, "--"));
    command.addAll(List.of(args));
    return script().runOrThrow(NODE_OPERATION_TIMEOUT, command.toArray(String[]::new));
  }

  @Override
  public String toString() {
    return "RabbitMQ " + version + " (" + size() + (size() == 1 ? " node" : " nodes") + ") on 127.0.0.1:"
        + (size() == 1 ? amqpPorts.get(0) : amqpPorts.get(0) + "-" + amqpPorts.get(size() - 1));
  }

  // --- internals ----------------------------------------------------------------------

  private void requireRunning() {
    List<String> problems = problems();
    if (problems.isEmpty()) {
      return;
    }
    String start = "scripts/rabbitmq.sh start --version " + version + " --nodes " + size();
    if ("true".equalsIgnoreCase(System.getenv(START_BROKERS_ENV))) {
      log.info("{} is not running ({}); starting it because {}=true", this, problems, START_BROKERS_ENV);
      BrokerScript.Result result = script().run(START_TIMEOUT, "start", "--version", version,
          "--nodes", Integer.toString(size()));
      problems = problems();
      if (result.exitCode() == 0 && problems.isEmpty()) {
        return;
      }
      fail(this + " did not start with " + start + " (exit " + result.exitCode() + "): " + problems
          + "\n" + result.output());
    }
    fail(this + " is not running: start it with " + start + " (problems: "
        + String.join("; ", problems) + ")");
  }

  /** What keeps this instance from serving tests; empty when every node runs in the cluster. */
  private List<String> problems() {
    List<String> problems = new ArrayList<>();
    ConnectionFactory factory = newConnectionFactory();
    factory.setAutomaticRecoveryEnabled(false);
    for (int i = 0; i < size(); i++) {
      factory.setPort(amqpPort(i));
      try (Connection ignored = factory.newConnection("trainq-testkit-probe")) {
        // connected and authenticated
      } catch (IOException | TimeoutException e) {
        problems.add(nodeName(i) + " at 127.0.0.1:" + amqpPort(i) + ": " + describe(e));
      }
    }
    if (problems.isEmpty() && size() > 1) {
      try {
        List<String> running = runningNodes();
        for (String node : nodeNames) {
          if (!running.contains(node)) {
            problems.add(node + " is not running in the cluster (running: " + running
                + "); scripts/rabbitmq.sh start-node --node " + node);
          }
        }
      } catch (RuntimeException e) {
        problems.add("management API: " + e.getMessage());
      }
    }
    return problems;
  }

  private static String describe(Throwable e) {
    String message = e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    return e.getCause() != null && e.getCause().getMessage() != null
        ? message + " (" + e.getCause().getMessage() + ")" : message;
  }

  private int indexOf(String node) {
    int index = nodeNames.indexOf(node);
    if (index < 0) {
      throw new IllegalArgumentException(node + " is not a node of " + this + "; nodes: " + nodeNames);
    }
    return index;
  }

  private BrokerScript script() {
    BrokerScript s = script;
    if (s == null) {
      s = BrokerScript.locate();
      script = s;
    }
    return s;
  }

  @FunctionalInterface
  private interface ChannelFunction<T> {
    T apply(Channel channel) throws IOException;
  }

  /**
   * Runs {@code action} on a fresh channel of a short-lived connection to any running node. A
   * connection that times out is tried again (three tries): on a loaded machine a broker that runs
   * can take longer than one connect timeout to answer.
   */
  private <T> T withChannel(ChannelFunction<T> action) {
    ConnectionFactory factory = newConnectionFactory();
    factory.setAutomaticRecoveryEnabled(false);
    factory.setConnectionTimeout(15_000);
    TimeoutException last = null;
    for (int attempt = 1; attempt <= 3; attempt++) {
      try (Connection connection = factory.newConnection(addresses(), "trainq-testkit-admin");
          Channel channel = connection.createChannel()) {
        return action.apply(channel);
      } catch (IOException e) {
        throw new UncheckedIOException(this + ": " + describe(e), e);
      } catch (TimeoutException e) {
        last = e;
      }
    }
    throw new IllegalStateException("cannot reach " + this + " (3 tries): " + last, last);
  }
}
