package io.trainq.protocol;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.rabbitmq.client.AMQP;
import java.io.IOException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Encoding and decoding of the messages trainq puts on the broker, with clear errors for bad input. */
public final class Messages {
  public static final String CONTENT_TYPE = "application/json";
  /** Header: the schema version of the body. */
  public static final String SCHEMA_HEADER = "x-trainq-schema";
  /** Header: the task's attempt (also in the body; the header lets tools read it without parsing). */
  public static final String ATTEMPT_HEADER = "x-trainq-attempt";
  /** Headers of worker-initiated dead letters. */
  public static final String REASON_HEADER = "x-trainq-reason";
  public static final String ERROR_HEADER = "x-trainq-error";
  public static final String EXIT_CODE_HEADER = "x-trainq-exit-code";
  public static final String WORKER_HEADER = "x-trainq-worker";
  /** AMQP type property of task messages and events. */
  public static final String TASK_TYPE = "trainq.task";
  public static final String EVENT_TYPE = "trainq.event";
  /**
   * AMQP type of a group commit: several events of one job in one message ({@code {"schema": 2,
   * "events": [...]}}, each element an event of schema 1). Folded exactly as the same events sent apart.
   */
  public static final String EVENT_BATCH_TYPE = "trainq.events";
  /** Schema of the event batch body. */
  public static final int EVENT_BATCH_SCHEMA = 2;

  private static final ObjectMapper MAPPER = new ObjectMapper()
      .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

  private Messages() {}

  public static ObjectMapper mapper() {
    return MAPPER;
  }

  public static byte[] encodeTask(TaskMessage t) {
    ObjectNode n = MAPPER.createObjectNode();
    n.put("schema", TaskMessage.SCHEMA);
    n.put("jobUid", t.jobUid());
    n.put("index", t.index());
    n.put("attempt", t.attempt());
    n.set("params", t.params());
    try {
      return MAPPER.writeValueAsBytes(n);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  public static AMQP.BasicProperties taskProperties(TaskMessage t) {
    Map<String, Object> headers = new HashMap<>();
    headers.put(SCHEMA_HEADER, TaskMessage.SCHEMA);
    headers.put(ATTEMPT_HEADER, t.attempt());
    return new AMQP.BasicProperties.Builder()
        .contentType(CONTENT_TYPE)
        .deliveryMode(2)
        .messageId(t.messageId())
        .type(TASK_TYPE)
        .headers(headers)
        .build();
  }

  /** Decodes a task; a message that is not valid, of another schema, or incomplete is a {@link MalformedMessageException}. */
  public static TaskMessage decodeTask(byte[] body) throws MalformedMessageException {
    JsonNode n;
    try {
      n = MAPPER.readTree(body);
    } catch (IOException e) {
      throw new MalformedMessageException("body is not valid JSON: " + firstLine(e.getMessage()));
    }
    if (n == null || !n.isObject()) {
      throw new MalformedMessageException("body is not a JSON object");
    }
    JsonNode schema = n.get("schema");
    if (schema == null || !schema.canConvertToInt()) {
      throw new MalformedMessageException("missing field: schema");
    }
    if (schema.intValue() != TaskMessage.SCHEMA) {
      throw new MalformedMessageException(
          "unknown schema version " + schema.asText() + " (this worker reads " + TaskMessage.SCHEMA + ")");
    }
    for (String f : List.of("jobUid", "index", "attempt")) {
      if (!n.hasNonNull(f)) {
        throw new MalformedMessageException("missing field: " + f);
      }
    }
    if (!n.get("jobUid").isTextual()) {
      throw new MalformedMessageException("field jobUid must be a string");
    }
    if (!n.get("index").canConvertToInt() || !n.get("index").isIntegralNumber() || n.get("index").intValue() < 0) {
      throw new MalformedMessageException("field index must be an integer >= 0");
    }
    if (!n.get("attempt").isIntegralNumber() || n.get("attempt").intValue() < 1) {
      throw new MalformedMessageException("field attempt must be an integer >= 1");
    }
    JsonNode params = n.get("params");
    if (params != null && !params.isNull() && !params.isObject()) {
      throw new MalformedMessageException("field params must be a JSON object");
    }
    return new TaskMessage(n.get("jobUid").asText(), n.get("index").intValue(), n.get("attempt").intValue(), params);
  }

  /**
   * Runs the encoders and decoders a worker uses once, on throwaway values: the first use of each
   * (class loading, Jackson building its serializers) costs tens of milliseconds that would otherwise
   * fall between a slot's first task and its second, when all slots end their first tasks together.
   */
  public static void warmUpInBackground(JobTopology job) {
    Thread t = new Thread(() -> warmUp(job), "warm-up");
    t.setDaemon(true);
    t.start();
  }

  /** {@link #warmUpInBackground}'s work, on the calling thread. */
  static void warmUp(JobTopology job) {
    try {
      TaskMessage t = TaskMessage.first(job.uid(), 0, MAPPER.createObjectNode().put("lr", 0.1));
      decodeTask(encodeTask(t));
      decodeTask(encodeTask(t.nextAttempt()));
      TaskEvent e = new TaskEvent(TaskEvent.SCHEMA, TaskEvent.Type.SUCCEEDED, job.key(), job.uid(), 0, 1, "warm-up", 0, 0, 1L,
          1.0, null, null, System.currentTimeMillis());
      TaskEvent f = new TaskEvent(TaskEvent.SCHEMA, TaskEvent.Type.RETRYING, job.key(), job.uid(), 1, 1, "warm-up", 1, 1, 1L,
          1.0, TaskEvent.Reason.FAILED, "error", System.currentTimeMillis());
      eventProperties(e);
      decodeEvent(encodeEvent(e));
      decodeEvent(encodeEvent(f));
      List<TaskEvent> both = List.of(e, f);
      eventBatchProperties(both);
      decodeEvents(encodeEvents(both));
    } catch (MalformedMessageException | RuntimeException ignored) {
      // only a warm-up: the real use reports any problem
    }
  }

  public static byte[] encodeEvent(TaskEvent e) {
    try {
      return MAPPER.writeValueAsBytes(e);
    } catch (IOException ex) {
      throw new IllegalStateException(ex);
    }
  }

  public static AMQP.BasicProperties eventProperties(TaskEvent e) {
    Map<String, Object> headers = new HashMap<>();
    headers.put(SCHEMA_HEADER, TaskEvent.SCHEMA);
    return new AMQP.BasicProperties.Builder()
        .contentType(CONTENT_TYPE)
        .deliveryMode(2)
        .messageId(e.messageId())
        .type(EVENT_TYPE)
        .timestamp(new java.util.Date(e.epochMillis()))
        .headers(headers)
        .build();
  }

  /** One message carrying several events of the same job, in the order they happened. */
  public static byte[] encodeEvents(List<TaskEvent> events) {
    ObjectNode n = MAPPER.createObjectNode();
    n.put("schema", EVENT_BATCH_SCHEMA);
    n.set("events", MAPPER.valueToTree(events));
    try {
      return MAPPER.writeValueAsBytes(n);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Properties of an event batch: deterministic id (its first event's and its size), so a repeat is recognisable. */
  public static AMQP.BasicProperties eventBatchProperties(List<TaskEvent> events) {
    if (events.isEmpty()) {
      throw new IllegalArgumentException("an event batch needs at least one event");
    }
    TaskEvent first = events.get(0);
    Map<String, Object> headers = new HashMap<>();
    headers.put(SCHEMA_HEADER, EVENT_BATCH_SCHEMA);
    return new AMQP.BasicProperties.Builder()
        .contentType(CONTENT_TYPE)
        .deliveryMode(2)
        .messageId(first.messageId() + "+" + (events.size() - 1))
        .type(EVENT_BATCH_TYPE)
        .timestamp(new java.util.Date(first.epochMillis()))
        .headers(headers)
        .build();
  }

  /** The events one message carries: a batch ({@link #EVENT_BATCH_TYPE}) or a single event. */
  public static List<TaskEvent> decodeEventMessage(AMQP.BasicProperties props, byte[] body) throws MalformedMessageException {
    if (props != null && EVENT_BATCH_TYPE.equals(props.getType())) {
      return decodeEvents(body);
    }
    return List.of(decodeEvent(body));
  }

  /** Decodes an event batch body ({@link #EVENT_BATCH_TYPE}); every element must be a valid event. */
  public static List<TaskEvent> decodeEvents(byte[] body) throws MalformedMessageException {
    JsonNode n;
    try {
      n = MAPPER.readTree(body);
    } catch (IOException | RuntimeException e) {
      throw new MalformedMessageException("event batch is not valid JSON: " + firstLine(e.getMessage()));
    }
    if (n == null || !n.isObject()) {
      throw new MalformedMessageException("event batch must be a JSON object");
    }
    if (!n.path("schema").isIntegralNumber() || n.get("schema").intValue() != EVENT_BATCH_SCHEMA) {
      throw new MalformedMessageException("unknown event batch schema " + n.path("schema") + " (expected " + EVENT_BATCH_SCHEMA + ")");
    }
    JsonNode list = n.get("events");
    if (list == null || !list.isArray() || list.isEmpty()) {
      throw new MalformedMessageException("field events must be a non-empty array");
    }
    List<TaskEvent> out = new java.util.ArrayList<>(list.size());
    for (int i = 0; i < list.size(); i++) {
      try {
        out.add(decodeEvent(MAPPER.writeValueAsBytes(list.get(i))));
      } catch (MalformedMessageException e) {
        throw new MalformedMessageException("events[" + i + "]: " + e.getMessage());
      } catch (IOException e) {
        throw new MalformedMessageException("events[" + i + "]: " + firstLine(e.getMessage()));
      }
    }
    return out;
  }

  public static TaskEvent decodeEvent(byte[] body) throws MalformedMessageException {
    try {
      TaskEvent e = MAPPER.readValue(body, TaskEvent.class);
      if (e.schema() != TaskEvent.SCHEMA) {
        throw new MalformedMessageException("unknown event schema version " + e.schema());
      }
      return e;
    } catch (MalformedMessageException e) {
      throw e;
    } catch (IOException | RuntimeException e) {
      throw new MalformedMessageException("event is not valid: " + firstLine(e.getMessage()));
    }
  }

  /** Keeps the last {@code max} characters of a text (the tail of stderr is where the error is). */
  public static String tail(String s, int max) {
    if (s == null || s.length() <= max) {
      return s;
    }
    return "…" + s.substring(s.length() - max + 1);
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }
}
