package io.trainq.operator.job;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.LongString;
import io.trainq.protocol.MalformedMessageException;
import io.trainq.protocol.Messages;
import io.trainq.protocol.TaskEvent;
import io.trainq.protocol.TaskMessage;
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
   */
  record DeadLettered(String jobKey, String jobUid, int index, int attempt, String reason, Integer exitCode,
      String error, String worker, long epochMillis) implements JobEvent {
    public DeadLettered {
      Objects.requireNonNull(jobKey, "jobKey");
      Objects.requireNonNull(reason, "reason");
    }
  }

  /**
   * Decodes one delivery of the events queue. The AMQP {@code type} tells events from tasks; a
   * dead-lettered task with an unreadable body is still accounted by its message id ({@code uid:index}).
   *
   * @param routingKey the delivery's routing key: the job key for both events and dead letters
   */
  static JobEvent decode(String routingKey, AMQP.BasicProperties props, byte[] body) throws MalformedMessageException {
    String type = props == null ? null : props.getType();
    if (Messages.EVENT_TYPE.equals(type)) {
      return new Progress(Messages.decodeEvent(body));
    }
    if (type != null && !Messages.TASK_TYPE.equals(type)) {
      throw new MalformedMessageException("unknown message type '" + type + "'");
    }
    Map<String, Object> headers = props == null || props.getHeaders() == null ? Map.of() : props.getHeaders();
    String uid;
    int index;
    int attempt;
    try {
      TaskMessage t = Messages.decodeTask(body);
      uid = t.jobUid();
      index = t.index();
      attempt = t.attempt();
    } catch (MalformedMessageException e) {
      // A task the worker could not read is dead-lettered as malformed; its id still names the index.
      String id = props == null ? null : props.getMessageId();
      int colon = id == null ? -1 : id.lastIndexOf(':');
      if (colon < 0) {
        throw new MalformedMessageException("dead-lettered task without a readable body or message id: " + e.getMessage());
      }
      uid = id.substring(0, colon);
      try {
        index = Integer.parseInt(id.substring(colon + 1));
      } catch (NumberFormatException nfe) {
        throw new MalformedMessageException("dead-lettered task with message id '" + id + "' that names no index");
      }
      Object a = headers.get(Messages.ATTEMPT_HEADER);
      attempt = a instanceof Number n ? Math.max(1, n.intValue()) : 1;
    }
    if (routingKey == null || routingKey.isEmpty()) {
      throw new MalformedMessageException("dead-lettered task " + uid + ":" + index + " without a routing key");
    }
    Object exit = headers.get(Messages.EXIT_CODE_HEADER);
    long at = props != null && props.getTimestamp() != null ? props.getTimestamp().getTime() : 0;
    return new DeadLettered(routingKey, uid, index, attempt, reason(headers), exit instanceof Number n ? n.intValue() : null,
        string(headers.get(Messages.ERROR_HEADER)), string(headers.get(Messages.WORKER_HEADER)), deathTime(headers, at));
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
