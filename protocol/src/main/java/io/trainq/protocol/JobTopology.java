package io.trainq.protocol;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The broker objects of one job and their arguments: the single place where both the operator
 * (which declares them) and the worker (which checks them passively) get names from.
 *
 * <pre>
 *   task queue   tq.&lt;key&gt;.tasks        quorum, delivery limit, DLX trainq.deadletter (at-least-once)
 *   retry queues tq.&lt;key&gt;.retry.&lt;ms&gt;   quorum, message TTL = backoff delay, dead-letters back to the task queue;
 *                                      bound to trainq.retry with its own name as routing key
 *   dead letters tq.&lt;key&gt;.dead         quorum, bound to trainq.deadletter with routing key &lt;key&gt;
 * </pre>
 *
 * <p>Workers publish only to the three topic exchanges, never to the default exchange: topic
 * permissions can then hold a job's broker user to its own routing keys, which the default exchange
 * (authorised per exchange, not per queue) cannot.
 */
public final class JobTopology {
  /** Topic exchange of task events; routing key = the job key. */
  public static final String EVENTS_EXCHANGE = "trainq.events";
  /** Topic exchange of dead letters (broker- and worker-initiated); routing key = the job key. */
  public static final String DEAD_LETTER_EXCHANGE = "trainq.deadletter";
  /** Topic exchange of retries; routing key = the retry queue's name. */
  public static final String RETRY_EXCHANGE = "trainq.retry";

  /** AMQP short strings (queue names) are at most 255 bytes. */
  static final int MAX_NAME_BYTES = 255;
  /** Room kept for the longest suffix (".retry." + a 13-digit delay). */
  private static final int MAX_KEY_BYTES = 200;

  private final String namespace;
  private final String name;
  private final String uid;
  private final String key;

  public JobTopology(String namespace, String name, String uid) {
    this.namespace = Objects.requireNonNull(namespace, "namespace");
    this.name = Objects.requireNonNull(name, "name");
    this.uid = Objects.requireNonNull(uid, "uid");
    this.key = jobKey(namespace, name, uid);
  }

  /**
   * A key that is unique per job instance (the uid tells apart a job re-created under the same name)
   * and short enough for every derived name to stay within 255 bytes.
   */
  static String jobKey(String namespace, String name, String uid) {
    String shortUid = uid.replace("-", "");
    shortUid = shortUid.substring(0, Math.min(12, shortUid.length()));
    String readable = namespace + "." + name;
    String candidate = readable + "." + shortUid;
    if (candidate.getBytes(StandardCharsets.UTF_8).length <= MAX_KEY_BYTES) {
      return candidate;
    }
    // Long names are cut and a digest of the full name keeps them distinct.
    String digest = sha256Hex(readable).substring(0, 12);
    int keep = MAX_KEY_BYTES - digest.length() - shortUid.length() - 2;
    String cut = truncateUtf8(readable, keep);
    return cut + "." + digest + "." + shortUid;
  }

  public String namespace() {
    return namespace;
  }

  public String name() {
    return name;
  }

  public String uid() {
    return uid;
  }

  /** Routing key of this job's events and dead letters. */
  public String key() {
    return key;
  }

  public String taskQueue() {
    return "tq." + key + ".tasks";
  }

  public String deadLetterQueue() {
    return "tq." + key + ".dead";
  }

  public String retryQueue(Duration delay) {
    return "tq." + key + ".retry." + delay.toMillis();
  }

  /** The message id of a task: deterministic, so a republished task is recognisable. */
  public String taskMessageId(int index) {
    return uid + ":" + index;
  }

  /**
   * Arguments of the task queue. The delivery limit bounds redeliveries after crashes (application
   * failures are retried through the retry queues and do not redeliver); at-least-once dead-lettering
   * needs reject-publish overflow; the consumer timeout must exceed the task timeout or the broker
   * would cancel the consumer of every long task (enforced from RabbitMQ 3.12).
   */
  public static Map<String, Object> taskQueueArguments(int deliveryLimit, Duration consumerTimeout, Duration taskTtl) {
    Map<String, Object> args = quorum();
    args.put("x-delivery-limit", deliveryLimit);
    args.put("x-dead-letter-exchange", DEAD_LETTER_EXCHANGE);
    args.put("x-dead-letter-strategy", "at-least-once");
    args.put("x-overflow", "reject-publish");
    args.put("x-consumer-timeout", consumerTimeout.toMillis());
    if (taskTtl != null) {
      args.put("x-message-ttl", taskTtl.toMillis());
    }
    return args;
  }

  /** Arguments of the task queue for a job with these settings. */
  public Map<String, Object> taskQueueArguments(JobSettings s) {
    Map<String, Object> args = taskQueueArguments(s.deliveryLimit(), consumerTimeout(s.taskTimeout()), s.taskTtl());
    args.put("x-dead-letter-routing-key", key);
    return args;
  }

  /** Arguments of a retry queue: messages wait out the delay, then go back to the task queue. */
  public Map<String, Object> retryQueueArguments(Duration delay) {
    Map<String, Object> args = quorum();
    args.put("x-message-ttl", delay.toMillis());
    args.put("x-dead-letter-exchange", "");
    args.put("x-dead-letter-routing-key", taskQueue());
    args.put("x-dead-letter-strategy", "at-least-once");
    args.put("x-overflow", "reject-publish");
    return args;
  }

  public static Map<String, Object> deadLetterQueueArguments() {
    return quorum();
  }

  /** The consumer timeout for a task timeout: a margin above it so the worker's own kill comes first. */
  public static Duration consumerTimeout(Duration taskTimeout) {
    Duration margin = taskTimeout.dividedBy(10);
    if (margin.compareTo(Duration.ofMinutes(5)) < 0) {
      margin = Duration.ofMinutes(5);
    }
    return taskTimeout.plus(margin);
  }

  /** Every distinct retry delay of a job, one retry queue each. */
  public static List<Duration> retryDelays(JobSettings s) {
    Set<Duration> delays = new LinkedHashSet<>();
    for (int attempt = 1; attempt < s.maxAttempts(); attempt++) {
      delays.add(Backoff.delay(attempt, s.backoffInitial(), s.backoffMax()));
    }
    return new ArrayList<>(delays);
  }

  private static Map<String, Object> quorum() {
    Map<String, Object> args = new HashMap<>();
    args.put("x-queue-type", "quorum");
    return args;
  }

  static String sha256Hex(String s) {
    try {
      byte[] d = MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
      StringBuilder sb = new StringBuilder();
      for (byte b : d) {
        sb.append(String.format("%02x", b));
      }
      return sb.toString();
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  static String truncateUtf8(String s, int maxBytes) {
    StringBuilder sb = new StringBuilder();
    int bytes = 0;
    for (int i = 0; i < s.length(); ) {
      int cp = s.codePointAt(i);
      int n = new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8).length;
      if (bytes + n > maxBytes) {
        break;
      }
      sb.appendCodePoint(cp);
      bytes += n;
      i += Character.charCount(cp);
    }
    return sb.toString();
  }
}
