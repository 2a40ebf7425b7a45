package io.trainq.engine;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.LongString;
import io.trainq.protocol.MalformedMessageException;
import io.trainq.protocol.Messages;
import io.trainq.protocol.TaskEvent;
import io.trainq.protocol.TaskMessage;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What the operator's events queue delivers, decoded: a worker's {@link TaskEvent}, or a task message
 * that was dead-lettered (by the broker — delivery limit, TTL — or by a worker).
 */
public sealed interface JobEvent permits JobEvent.Progress, JobEvent.DeadLettered {

  /** Routing key of the job ({@code JobTopology#key()}). */
  String jobKey();

  /** The task index. */
  int index();

  /** The task's attempt the event is about (1 for the first run). */
  int attempt();

  /** A worker's report on one attempt of a task. */
  record Progress(TaskEvent event) implements JobEvent {
    public Progress {
      Objects.requireNonNull(event, "event");
    }

    @Override
    public String jobKey() {
      return event.jobKey();
    }

    @Override
    public int index() {
      return event.index();
    }

    @Override
    public int attempt() {
      return event.attempt();
    }
  }

  /**
   * A task that left its queue for good.
   *
   * @param reason {@code failed}, {@code timeout}, {@code malformed}, {@code delivery-limit}, {@code expired}, …
   * @param exitCode the last attempt's exit code, when the worker knew it
   * @param error the tail of stderr or an error message, when known
   * @param worker the worker that dead-lettered it, or null when the broker did
   * @param epochMillis when it was dead-lettered, as far as the message tells (0 when unknown)
   * @param digest identifies the message (its id and body), so a dead letter delivered twice is counted once
   *     even when it names no task; null when unknown
   */
  record DeadLettered(String jobKey, String jobUid, int index, int attempt, String reason, Integer exitCode,
      String error, String worker, long epochMillis, String digest) implements JobEvent {
    public DeadLettered {
      Objects.requireNonNull(jobKey, "jobKey");
      Objects.requireNonNull(reason, "reason");
    }

    /** A dead letter whose body is not a task: it names no job and no index ({@code -1}), whatever its message id says. */
    public boolean unreadable() {
      return jobUid == null && index < 0;
    }
  }

  /**
   * Decodes one delivery of the events queue. The AMQP {@code type} tells events from tasks. A
   * dead-lettered message whose body is not a task names no task: its message id is never trusted
   * for an index (anyone can set it), so it is accounted as a rejected message, not as a task.
   *
   * @param routingKey the delivery's routing key: the job key for both events and dead letters
   */
  static JobEvent decode(String routingKey, AMQP.BasicProperties props, byte[] body) throws MalformedMessageException {
    List<JobEvent> all = decodeAll(routingKey, props, body);
    if (all.size() != 1) {
      throw new MalformedMessageException("expected one event, got " + all.size());
    }
    return all.get(0);
  }

  /**
   * Decodes one delivery into the events it carries: one, or several for a worker's group commit
   * ({@link Messages#EVENT_BATCH_TYPE}), which fold exactly as if they had come apart.
   */
  static List<JobEvent> decodeAll(String routingKey, AMQP.BasicProperties props, byte[] body) throws MalformedMessageException {
    String type = props == null ? null : props.getType();
    if (Messages.EVENT_BATCH_TYPE.equals(type)) {
      List<JobEvent> out = new java.util.ArrayList<>();
      for (TaskEvent e : Messages.decodeEvents(body)) {
        out.add(new Progress(e));
      }
      return out;
    }
    return List.of(decodeOne(routingKey, props, body));
  }

  private static JobEvent decodeOne(String routingKey, AMQP.BasicProperties props, byte[] body) throws MalformedMessageException {
    String type = props == null ? null : props.getType();
    if (Messages.EVENT_TYPE.equals(type)) {
      return new Progress(Messages.decodeEvent(body));
    }
    if (type != null && !Messages.TASK_TYPE.equals(type)) {
      throw new MalformedMessageException("unknown message type '" + type + "'");
    }
    if (routingKey == null || routingKey.isEmpty()) {
      throw new MalformedMessageException("dead-lettered message " + (props == null ? null : props.getMessageId())
          + " without a routing key");
    }
    Map<String, Object> headers = props == null || props.getHeaders() == null ? Map.of() : props.getHeaders();
    String uid = null;
    int index = -1;
    int attempt = 0;
    try {
      TaskMessage t = Messages.decodeTask(body);
      uid = t.jobUid();
      index = t.index();
      attempt = t.attempt();
    } catch (MalformedMessageException e) {
      // not a task: the worker says why in its headers; the message stays unattributed
    }
    Object exit = headers.get(Messages.EXIT_CODE_HEADER);
    long at = props != null && props.getTimestamp() != null ? props.getTimestamp().getTime() : 0;
    return new DeadLettered(routingKey, uid, index, attempt, reason(headers), exit instanceof Number n ? n.intValue() : null,
        string(headers.get(Messages.ERROR_HEADER)), string(headers.get(Messages.WORKER_HEADER)), deathTime(headers, at),
        digest(props == null ? null : props.getMessageId(), body));
  }

  /** A short, stable name of a message: its id and body hashed. */
  static String digest(String messageId, byte[] body) {
    try {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      if (messageId != null) {
        md.update(messageId.getBytes(StandardCharsets.UTF_8));
      }
      md.update((byte) 0);
      if (body != null) {
        md.update(body);
      }
      return HexFormat.of().formatHex(md.digest(), 0, 8);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Why a task was dead-lettered: the worker's {@code x-trainq-reason}, else the broker's reason for the
   * death in the task queue. {@code x-first-death-reason} is not enough: a retried task first "died"
   * of expiry in its retry queue on its way back.
   */
  static String reason(Map<String, Object> headers) {
    String own = string(headers.get(Messages.REASON_HEADER));
    if (own != null) {
      return own;
    }
    String broker = null;
    if (headers.get("x-death") instanceof List<?> deaths) {
      for (Object d : deaths) {
        if (d instanceof Map<?, ?> death) {
          String queue = string(death.get("queue"));
          if (queue != null && queue.endsWith(".tasks")) {
            broker = string(death.get("reason"));
            break;
          }
        }
      }
    }
    if (broker == null) {
      broker = string(headers.get("x-last-death-reason"));
    }
    if (broker == null) {
      broker = string(headers.get("x-first-death-reason"));
    }
    if (broker == null) {
      return TaskEvent.Reason.FAILED;
    }
    return switch (broker) {
      case "delivery_limit" -> TaskEvent.Reason.DELIVERY_LIMIT;
      case "expired" -> TaskEvent.Reason.EXPIRED;
      case "rejected" -> TaskEvent.Reason.FAILED;
      default -> broker.replace('_', '-');
    };
  }

  private static long deathTime(Map<String, Object> headers, long fallback) {
    if (headers.get("x-death") instanceof List<?> deaths && !deaths.isEmpty() && deaths.get(0) instanceof Map<?, ?> d
        && d.get("time") instanceof java.util.Date t) {
      return t.getTime();
    }
    return fallback;
  }

  private static String string(Object o) {
    if (o == null) {
      return null;
    }
    if (o instanceof LongString ls) {
      return ls.toString();
    }
    return o.toString();
  }
}
