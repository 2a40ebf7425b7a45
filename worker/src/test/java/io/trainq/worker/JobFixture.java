package io.trainq.worker;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.BuiltinExchangeType;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import com.rabbitmq.client.LongString;
import io.trainq.protocol.JobSettings;
import io.trainq.protocol.JobTopology;
import io.trainq.protocol.MalformedMessageException;
import io.trainq.protocol.Messages;
import io.trainq.protocol.TaskEvent;
import io.trainq.protocol.TaskMessage;
import io.trainq.protocol.WorkerEnv;
import io.trainq.testkit.RabbitBroker;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.function.Predicate;
import java.util.stream.Collectors;

/**
 * A job's broker objects, declared exactly as the operator declares them (the shared exchanges, the
 * dead-letter queue bound to trainq.deadletter with the job key, the retry queues bound to trainq.retry, the task queue
 * with {@link JobTopology#taskQueueArguments}), plus a quorum queue of the job's events bound to
 * trainq.events with the job key, standing in for the operator's events queue.
 */
final class JobFixture implements AutoCloseable {
  /** The job's task count as the workers are told: indexes 0-999 are its tasks. */
  static final int TASK_COUNT = 1000;
  private int eventMessages;
  final RabbitBroker broker;
  final JobTopology topology;
  final JobSettings settings;
  final String eventsQueue;
  private final Connection connection;
  private final Channel channel;
  private final List<TaskEvent> events = new ArrayList<>();
  private final List<DeadLetter> deadLetters = new ArrayList<>();

  /** A message of the dead-letter queue. */
  record DeadLetter(AMQP.BasicProperties props, byte[] body) {
    String header(String name) {
      Object v = props.getHeaders() == null ? null : props.getHeaders().get(name);
      return v == null ? null : v instanceof LongString ls ? ls.toString() : v.toString();
    }

    TaskMessage task() throws MalformedMessageException {
      return Messages.decodeTask(body);
    }
  }

  JobFixture(RabbitBroker broker, JobSettings settings) throws IOException {
    this.broker = broker;
    this.settings = settings;
    this.topology = new JobTopology("it", RabbitBroker.uniqueName("job"), UUID.randomUUID().toString());
    this.eventsQueue = "tq-it." + topology.key() + ".events";
    this.connection = broker.newConnection("worker-it-fixture");
    this.channel = connection.createChannel();
    channel.confirmSelect();
    declare();
  }

  private void declare() throws IOException {
    channel.exchangeDeclare(JobTopology.EVENTS_EXCHANGE, BuiltinExchangeType.TOPIC, true);
    channel.exchangeDeclare(JobTopology.DEAD_LETTER_EXCHANGE, BuiltinExchangeType.TOPIC, true);
    channel.exchangeDeclare(JobTopology.RETRY_EXCHANGE, BuiltinExchangeType.TOPIC, true);
    channel.queueDeclare(topology.deadLetterQueue(), true, false, false, JobTopology.deadLetterQueueArguments());
    channel.queueBind(topology.deadLetterQueue(), JobTopology.DEAD_LETTER_EXCHANGE, topology.key());
    for (Duration d : JobTopology.retryDelays(settings)) {
      channel.queueDeclare(topology.retryQueue(d), true, false, false, topology.retryQueueArguments(d));
      channel.queueBind(topology.retryQueue(d), JobTopology.RETRY_EXCHANGE, topology.retryQueue(d));
    }
    channel.queueDeclare(topology.taskQueue(), true, false, false, topology.taskQueueArguments(settings));
    Map<String, Object> q = new HashMap<>();
    q.put("x-queue-type", "quorum");
    channel.queueDeclare(eventsQueue, true, false, false, q);
    channel.queueBind(eventsQueue, JobTopology.EVENTS_EXCHANGE, topology.key());
  }

  /** Settings with a quick backoff for tests. */
  static JobSettings settings(int maxAttempts, Duration taskTimeout) {
    return new JobSettings(maxAttempts, Duration.ofMillis(50), Duration.ofMillis(200), taskTimeout, null, 10);
  }

  Channel channel() {
    return channel;
  }

  void publishTasks(int count) throws Exception {
    for (int i = 0; i < count; i++) {
      publishTask(i, JsonNodeFactory.instance.objectNode().put("index", i).put("lr", 0.1));
    }
    channel.waitForConfirmsOrDie(30_000);
  }

  void publishTask(int index, ObjectNode params) throws IOException {
    TaskMessage t = TaskMessage.first(topology.uid(), index, params);
    channel.basicPublish("", topology.taskQueue(), true, Messages.taskProperties(t), Messages.encodeTask(t));
  }

  void publishRaw(AMQP.BasicProperties props, byte[] body) throws Exception {
    channel.basicPublish("", topology.taskQueue(), true, props, body);
    channel.waitForConfirmsOrDie(30_000);
  }

  /** The worker's environment as the operator sets it (job, broker), with test-friendly extras. */
  Map<String, String> workerEnv(int slots) {
    Map<String, String> env = new HashMap<>(WorkerEnv.forJob(topology, settings, TASK_COUNT));
    env.put("TRAINQ_RABBITMQ_ADDRESSES", broker.addressList());
    env.put("TRAINQ_RABBITMQ_USERNAME", RabbitBroker.USERNAME);
    env.put("TRAINQ_RABBITMQ_PASSWORD", RabbitBroker.PASSWORD);
    env.put("TRAINQ_RABBITMQ_VHOST", RabbitBroker.VHOST);
    env.put(WorkerEnv.SLOTS, Integer.toString(slots));
    env.put(WorkerEnv.HTTP_PORT, "0");
    env.put(WorkerEnv.IDLE_TIMEOUT_MS, "0");
    env.put(WorkerEnv.STATUS_INTERVAL_MS, "2000");
    // every attempt's STARTED at once: the tests watch for it (the delayed default has tests of its own)
    env.put(WorkerEnv.STARTED_DELAY_MS, "0");
    env.put(WorkerEnv.SHUTDOWN_GRACE_MS, "10000");
    env.put(WorkerConfig.CONNECT_TIMEOUT_MS, "10000");
    return env;
  }

  /** Messages read from the events queue so far (a group commit carries several events in one). */
  synchronized int eventMessages() {
    return eventMessages;
  }

  /** Every event so far (new ones are read from the events queue). */
  synchronized List<TaskEvent> events() throws IOException {
    GetResponse r;
    while ((r = channel.basicGet(eventsQueue, true)) != null) {
      eventMessages++;
      try {
        events.addAll(Messages.decodeEventMessage(r.getProps(), r.getBody()));
      } catch (MalformedMessageException e) {
        throw new AssertionError("the worker published an unreadable event: " + new String(r.getBody()), e);
      }
    }
    return List.copyOf(events);
  }

  /** Waits until the events satisfy {@code done}; fails with the events seen. */
  List<TaskEvent> awaitEvents(Predicate<List<TaskEvent>> done, Duration timeout, WorkerProcess... workers) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      List<TaskEvent> e = events();
      if (done.test(e)) {
        return e;
      }
      if (System.nanoTime() > deadline) {
        throw new AssertionError("events not as expected within " + timeout.toSeconds() + " s; " + summary(e)
            + WorkerProcess.logs(workers));
      }
      Thread.sleep(100);
    }
  }

  /** Waits until {@code n} indexes have a SUCCEEDED event. */
  List<TaskEvent> awaitSucceeded(int n, Duration timeout, WorkerProcess... workers) throws Exception {
    return awaitEvents(e -> indexes(e, TaskEvent.Type.SUCCEEDED).size() >= n, timeout, workers);
  }

  /** Every dead letter so far. */
  synchronized List<DeadLetter> deadLetters() throws IOException {
    GetResponse r;
    while ((r = channel.basicGet(topology.deadLetterQueue(), true)) != null) {
      deadLetters.add(new DeadLetter(r.getProps(), r.getBody()));
    }
    return List.copyOf(deadLetters);
  }

  List<DeadLetter> awaitDeadLetters(int n, Duration timeout, WorkerProcess... workers) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      List<DeadLetter> d = deadLetters();
      if (d.size() >= n) {
        return d;
      }
      if (System.nanoTime() > deadline) {
        throw new AssertionError(d.size() + " of " + n + " dead letters within " + timeout.toSeconds() + " s; "
            + summary(events()) + WorkerProcess.logs(workers));
      }
      Thread.sleep(100);
    }
  }

  /** Ready messages in the task queue and every retry queue. */
  long readyEverywhere() throws IOException {
    long n = channel.queueDeclarePassive(topology.taskQueue()).getMessageCount();
    for (Duration d : JobTopology.retryDelays(settings)) {
      n += channel.queueDeclarePassive(topology.retryQueue(d)).getMessageCount();
    }
    return n;
  }

  /** 0 .. n-1, to compare with {@link #indexes}. */
  static Set<Integer> range(int n) {
    return java.util.stream.IntStream.range(0, n).boxed().collect(java.util.stream.Collectors.toCollection(java.util.TreeSet::new));
  }

  static Set<Integer> indexes(List<TaskEvent> events, TaskEvent.Type type) {
    return events.stream().filter(e -> e.type() == type).map(TaskEvent::index).collect(Collectors.toCollection(TreeSet::new));
  }

  static List<TaskEvent> ofType(List<TaskEvent> events, TaskEvent.Type type) {
    return events.stream().filter(e -> e.type() == type).toList();
  }

  static String summary(List<TaskEvent> events) {
    Map<TaskEvent.Type, Long> counts = events.stream().collect(Collectors.groupingBy(TaskEvent::type, Collectors.counting()));
    return "events by type " + counts + ", succeeded indexes " + indexes(events, TaskEvent.Type.SUCCEEDED);
  }

  @Override
  public void close() {
    try {
      for (String q : queues()) {
        channel.queueDelete(q);
      }
    } catch (IOException | RuntimeException e) {
      // a test that deleted its queue itself
    }
    try {
      connection.close();
    } catch (IOException | RuntimeException e) {
      // best effort
    }
  }

  List<String> queues() {
    List<String> q = new ArrayList<>(List.of(topology.taskQueue(), topology.deadLetterQueue(), eventsQueue));
    for (Duration d : JobTopology.retryDelays(settings)) {
      q.add(topology.retryQueue(d));
    }
    return q;
  }
}
