package io.trainq.protocol;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Objects;

/**
 * One task on the queue. Serialized as JSON by {@link Messages}:
 * {@code {"schema":1,"jobUid":"…","index":7,"attempt":1,"params":{…}}}.
 *
 * @param attempt 1 for the first run; raised only by the task's own failures, never by a redelivery
 */
public record TaskMessage(String jobUid, int index, int attempt, JsonNode params) {
  public static final int SCHEMA = 1;

  public TaskMessage {
    Objects.requireNonNull(jobUid, "jobUid");
    if (index < 0) {
      throw new IllegalArgumentException("index must be >= 0, was " + index);
    }
    if (attempt < 1) {
      throw new IllegalArgumentException("attempt must be >= 1, was " + attempt);
    }
    if (params == null || params.isNull()) {
      params = JsonNodeFactory.instance.objectNode();
    }
    if (!params.isObject()) {
      throw new IllegalArgumentException("params must be a JSON object");
    }
  }

  public static TaskMessage first(String jobUid, int index, ObjectNode params) {
    return new TaskMessage(jobUid, index, 1, params);
  }

  public TaskMessage nextAttempt() {
    return new TaskMessage(jobUid, index, attempt + 1, params);
  }

  public String messageId() {
    return jobUid + ":" + index;
  }
}
