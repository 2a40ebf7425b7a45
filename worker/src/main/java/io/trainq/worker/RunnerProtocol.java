package io.trainq.worker;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.trainq.protocol.Messages;
import io.trainq.protocol.TaskMessage;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * The worker's side of the runner protocol (docs/runner-protocol.md): line-delimited JSON over the Unix
 * socket named by {@link #SOCKET_ENV}. The runner connects and says {@code ready}; the worker sends a
 * {@code task}; the runner answers {@code done} or {@code failed}; end of stream from the worker means
 * "no more tasks: exit".
 */
final class RunnerProtocol {
  /** The version this worker speaks; a runner says which it speaks in its {@code ready}. */
  static final int VERSION = 1;
  static final String SOCKET_ENV = "TRAINQ_RUNNER_SOCKET";
  static final String PROTOCOL_ENV = "TRAINQ_RUNNER_PROTOCOL";
  /** Longest line either side may send; a task's parameters are bounded by the broker's message size long before. */
  static final int MAX_LINE = 16 * 1024 * 1024;
  /** Most characters of an offending line quoted in an error. */
  private static final int QUOTE = 200;

  /** A message the runner broke the protocol with: the attempt fails with reason protocol-error. */
  static final class Violation extends Exception {
    Violation(String message) {
      super(message);
    }
  }

  /** A runner's answer to a task. */
  record Answer(boolean done, String error, boolean exiting) {}

  private RunnerProtocol() {}

  static byte[] taskLine(TaskMessage t, Path paramsFile) {
    ObjectNode n = Messages.mapper().createObjectNode();
    n.put("type", "task");
    n.put("index", t.index());
    n.put("attempt", t.attempt());
    n.set("params", t.params());
    n.put("paramsFile", paramsFile.toString());
    try {
      return (Messages.mapper().writeValueAsString(n) + "\n").getBytes(StandardCharsets.UTF_8);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot encode a task for the runner", e);
    }
  }

  /** One line from the runner: a JSON object with a string {@code type}. */
  static JsonNode parse(String line) throws Violation {
    JsonNode n;
    try {
      n = Messages.mapper().readTree(line);
    } catch (JsonProcessingException e) {
      throw new Violation("a line that is not JSON (" + e.getOriginalMessage() + "): " + quote(line));
    }
    if (n == null || !n.isObject()) {
      throw new Violation("a line that is not a JSON object: " + quote(line));
    }
    if (!n.path("type").isTextual()) {
      throw new Violation("a message without a string \"type\": " + quote(line));
    }
    return n;
  }

  /** Checks the runner's first message. */
  static void checkReady(JsonNode n) throws Violation {
    String type = n.get("type").asText();
    if (!type.equals("ready")) {
      throw new Violation("a '" + type + "' message before 'ready' (a runner's first message is {\"type\":\"ready\",\"protocol\":"
          + VERSION + "})");
    }
    JsonNode v = n.get("protocol");
    if (v == null || !v.isInt()) {
      throw new Violation("'ready' without an integer \"protocol\" (this worker speaks " + VERSION + ")");
    }
    if (v.asInt() != VERSION) {
      throw new Violation("the runner speaks protocol " + v.asInt() + "; this worker speaks " + VERSION);
    }
  }

  /** Reads the runner's answer to task {@code t}. */
  static Answer answer(JsonNode n, TaskMessage t) throws Violation {
    String type = n.get("type").asText();
    if (!type.equals("done") && !type.equals("failed")) {
      throw new Violation("a '" + type + "' message during task " + t.index() + " (expected 'done' or 'failed')");
    }
    JsonNode index = n.get("index");
    JsonNode attempt = n.get("attempt");
    if (index == null || !index.isInt() || attempt == null || !attempt.isInt()) {
      throw new Violation("'" + type + "' without integer \"index\" and \"attempt\"");
    }
    if (index.asInt() != t.index() || attempt.asInt() != t.attempt()) {
      throw new Violation("'" + type + "' for index " + index.asInt() + " attempt " + attempt.asInt() + " during index "
          + t.index() + " attempt " + t.attempt());
    }
    if (type.equals("done")) {
      return new Answer(true, null, false);
    }
    JsonNode error = n.get("error");
    String text = error == null || error.isNull() ? "" : error.isTextual() ? error.asText() : error.toString();
    return new Answer(false, text, n.path("exiting").asBoolean(false));
  }

  static String quote(String line) {
    return line.length() <= QUOTE ? line : line.substring(0, QUOTE) + "...";
  }
}
