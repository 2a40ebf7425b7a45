package io.trainq.reliability;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import io.trainq.protocol.JobTopology;
import io.trainq.protocol.Messages;
import io.trainq.protocol.TaskEvent;
import io.trainq.protocol.TaskMessage;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * The forged-messages scenario's adversary: a client with the broker's credentials that puts on a
 * running job's queues what no worker would — garbage, other jobs' tasks, indexes and attempts out of
 * range, a 10 MiB body, a garbage body under a real task's message id, copies of a real task — and
 * events and dead letters that would corrupt the job's counts if the fold believed them.
 *
 * <p>Which task each forgery aims at is chosen so that a forgery that got through shows in the
 * histories: forged outcomes aim at tasks that always fail (a believed success would count such a
 * task twice), forged task messages that carry a real index aim at tasks that succeed (a believed
 * dead letter would be unexpected). What no check here can catch — a well-formed success for a real
 * attempt, published with the job's own credentials — is what per-job broker users are for.
 */
final class Forger {
  /** What was forged: the checker's expectations. */
  record Forged(int rejectedMessages, int forgedEvents, List<Integer> duplicated, List<Integer> poisonTargets,
      List<Integer> maskedTargets) {}

  private Forger() {}

  /**
   * The indexes the forgeries aim at, for a job of {@code tasks} tasks: outcome forgeries at the
   * eight tasks {@code tasks-10 .. tasks-3} (the scenario makes them always fail), task forgeries at
   * {@code tasks-20 .. tasks-18}, copies of task {@code tasks-15}.
   */
  static List<Integer> poisonTargets(int tasks) {
    return List.of(tasks - 10, tasks - 9, tasks - 8, tasks - 7, tasks - 6, tasks - 5, tasks - 4, tasks - 3);
  }

  /** Forges on {@code c} (a connection with the broker's credentials) against the run with {@code uid}. */
  static Forged forge(Connection c, String uid, String namespace, String name, int tasks, int maxAttempts) throws Exception {
    JobTopology t = new JobTopology(namespace, name, uid);
    String other = UUID.randomUUID().toString();
    List<Integer> poison = poisonTargets(tasks);
    int masked1 = tasks - 20;
    int masked2 = tasks - 19;
    int masked3 = tasks - 18;
    int copied = tasks - 15;
    int rejected = 0;
    int events = 0;
    try (Channel ch = c.createChannel()) {
      ch.confirmSelect();
      String q = t.taskQueue();

      // task messages no worker may run: each is dead-lettered as malformed and counted apart
      byte[] garbage = "this is not a task".getBytes(StandardCharsets.UTF_8);
      ch.basicPublish("", q, Messages.taskProperties(TaskMessage.first(uid, masked1, null)), garbage); // a real task's id
      rejected++;
      byte[] wrongSchema = ("{\"schema\":99,\"jobUid\":\"" + uid + "\",\"index\":" + masked2 + ",\"attempt\":1,\"params\":{}}")
          .getBytes(StandardCharsets.UTF_8);
      ch.basicPublish("", q, Messages.taskProperties(TaskMessage.first(uid, masked2, null)), wrongSchema);
      rejected++;
      TaskMessage tooLate = new TaskMessage(uid, masked3, maxAttempts + 1, null);
      ch.basicPublish("", q, Messages.taskProperties(tooLate), Messages.encodeTask(tooLate));
      rejected++;
      TaskMessage otherJob = TaskMessage.first(other, 1, null);
      ch.basicPublish("", q, Messages.taskProperties(otherJob), Messages.encodeTask(otherJob));
      rejected++;
      TaskMessage outOfRange = TaskMessage.first(uid, tasks + 7, null);
      ch.basicPublish("", q, Messages.taskProperties(outOfRange), Messages.encodeTask(outOfRange));
      rejected++;
      byte[] huge = new byte[10 * 1024 * 1024];
      Arrays.fill(huge, (byte) 'x');
      ch.basicPublish("", q, new AMQP.BasicProperties.Builder().messageId(uid + ":huge").deliveryMode(2).build(), huge);
      rejected++;
      ch.basicPublish("", q, new AMQP.BasicProperties.Builder().deliveryMode(2).build(), "[1,2]".getBytes(StandardCharsets.UTF_8));
      rejected++;
      ch.basicPublish("", q, new AMQP.BasicProperties.Builder().deliveryMode(2).build(), new byte[0]);
      rejected++;

      // copies of a real task (a client that publishes twice): run again perhaps, counted once
      TaskMessage copy = TaskMessage.first(uid, copied, null);
      ch.basicPublish("", q, Messages.taskProperties(copy), Messages.encodeTask(copy));
      ch.basicPublish("", q, Messages.taskProperties(copy), Messages.encodeTask(copy));

      // outcomes the fold must not believe, aimed at tasks that always fail
      long now = System.currentTimeMillis();
      List<TaskEvent> lies = List.of(
          success(t.key(), other, poison.get(0), 1, 1000L, 1.0, now),
          success(t.key(), uid, tasks + 3, 1, 1000L, 1.0, now),
          success(t.key(), uid, poison.get(1), maxAttempts + 5, 1000L, 1.0, now),
          success(t.key(), uid, poison.get(2), 0, 1000L, 1.0, now),
          success(t.key(), uid, poison.get(3), 1, Duration.ofDays(3650).toMillis(), 1.0, now),
          success(t.key(), uid, poison.get(4), 1, 1000L, 1.0, now + Duration.ofDays(10).toMillis()),
          success(t.key(), uid, poison.get(5), 1, 1000L, 1e12, now));
      for (TaskEvent e : lies) {
        ch.basicPublish(JobTopology.EVENTS_EXCHANGE, t.key(), Messages.eventProperties(e), Messages.encodeEvent(e));
        events++;
      }
      TaskEvent shape = lies.get(0);
      ch.basicPublish(JobTopology.EVENTS_EXCHANGE, t.key(), Messages.eventProperties(shape), "{{{".getBytes(StandardCharsets.UTF_8));
      events++;

      // dead letters of nothing the job has: counted apart, never as a task
      TaskMessage foreign = TaskMessage.first(other, poison.get(6), null);
      ch.basicPublish(JobTopology.DEAD_LETTER_EXCHANGE, t.key(), withReason(Messages.taskProperties(foreign), "failed"),
          Messages.encodeTask(foreign));
      rejected++;
      ch.basicPublish(JobTopology.DEAD_LETTER_EXCHANGE, t.key(),
          withReason(Messages.taskProperties(TaskMessage.first(uid, poison.get(7), null)), "failed"), garbage);
      rejected++;
      ch.waitForConfirmsOrDie(30_000);
    }
    return new Forged(rejected, events, List.of(copied, copied), poison, List.of(masked1, masked2, masked3));
  }

  private static TaskEvent success(String key, String uid, int index, int attempt, long durationMs, double gpuSeconds, long at) {
    return new TaskEvent(TaskEvent.SCHEMA, TaskEvent.Type.SUCCEEDED, key, uid, index, attempt, "forger", 0, 0, durationMs,
        gpuSeconds, null, null, at);
  }

  private static AMQP.BasicProperties withReason(AMQP.BasicProperties p, String reason) {
    Map<String, Object> h = new HashMap<>(p.getHeaders() == null ? Map.of() : p.getHeaders());
    h.put(Messages.REASON_HEADER, reason);
    return p.builder().headers(h).build();
  }

}
