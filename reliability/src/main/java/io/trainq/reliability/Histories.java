package io.trainq.reliability;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The three histories the checker compares, and how each is read from what a run leaves behind. */
public final class Histories {
  static final ObjectMapper JSON = new ObjectMapper();

  private Histories() {}

  /**
   * One execution of the task program, as it appended it to the execution log before exiting.
   *
   * @param outcome {@code succeeded}, {@code failed}, {@code killed-worker}, {@code terminated}
   * @param start epoch seconds
   */
  public record Execution(int index, int attempt, String worker, long pid, double start, double end, String outcome) {
    public boolean succeeded() {
      return "succeeded".equals(outcome);
    }
  }

  /**
   * What the job's status counts at the end: {@code trainq run}'s state file (its {@code progress}),
   * and the run's exit code.
   *
   * @param rejectedMessages dead-lettered messages the status counts apart as none of the job's tasks
   */
  public record Status(int total, int succeeded, int deadLettered, long retried, BitSet succeededIndexes,
      BitSet failedIndexes, boolean finished, int exitCode, long rejectedMessages) {
    public Status(int total, int succeeded, int deadLettered, long retried, BitSet succeededIndexes, BitSet failedIndexes,
        boolean finished, int exitCode) {
      this(total, succeeded, deadLettered, retried, succeededIndexes, failedIndexes, finished, exitCode, 0);
    }
  }

  /** A message the broker holds at the end: a task still queued, waiting for a retry, or a dead letter. */
  public record Held(String queue, int index, int attempt, String reason) {}

  /**
   * What the broker holds at the end.
   *
   * @param depths messages in each of the job's queues (task, retry, dead-letter)
   * @param held every message read from those queues (returned to them afterwards)
   * @param deadLetters every dead letter the job produced, from a queue bound to the dead-letter
   *     exchange for the whole run (the run deletes its own dead-letter queue when it counts none)
   * @param rejected dead letters that are none of the run's tasks (forged, another job's, dead-lettered
   *     as malformed): they speak for no task, whatever index they name (held ones are left out too)
   */
  public record Broker(Map<String, Long> depths, List<Held> held, List<Held> deadLetters, List<Held> rejected) {
    public Broker(Map<String, Long> depths, List<Held> held, List<Held> deadLetters) {
      this(depths, held, deadLetters, List.of());
    }
  }

  /** Writes {@code value} as indented JSON, making the file's directory when it is missing. */
  static void writeJson(Path out, Object value) throws IOException {
    Files.createDirectories(out.toAbsolutePath().getParent());
    JSON.writerWithDefaultPrettyPrinter().writeValue(out.toFile(), value);
  }

  /** Reads the JSON-lines execution log; a torn last line (a writer killed mid-write) is skipped. */
  public static List<Execution> readExecutions(Path file) throws IOException {
    List<Execution> out = new ArrayList<>();
    if (!Files.exists(file)) {
      return out;
    }
    for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
      if (line.isBlank()) {
        continue;
      }
      JsonNode n;
      try {
        n = JSON.readTree(line);
      } catch (IOException e) {
        continue;
      }
      out.add(new Execution(n.path("index").asInt(), n.path("attempt").asInt(), n.path("worker").asText(""),
          n.path("pid").asLong(), n.path("start").asDouble(), n.path("end").asDouble(), n.path("outcome").asText("")));
    }
    return out;
  }

  /** The job's uid in a state file ({@code uid}) or a TrainingJob ({@code metadata.uid}); null when neither has one yet. */
  static String uidOf(JsonNode stateOrJob) {
    JsonNode uid = stateOrJob.has("uid") ? stateOrJob.path("uid") : stateOrJob.path("metadata").path("uid");
    return uid.isTextual() && !uid.asText().isEmpty() ? uid.asText() : null;
  }

  /**
   * Reads {@code trainq run}'s state file ({@code <state-dir>/<namespace>.<name>.json}), or a
   * TrainingJob as {@code kubectl get -o json} prints it (the harness on pods). A job has no exit code:
   * with {@code exitCode} below 0 its phase stands for one, Succeeded 0 and Failed 1, as {@code trainq run}
   * exits.
   */
  public static Status readStatus(Path stateFile, int exitCode) throws IOException {
    JsonNode s = JSON.readTree(stateFile.toFile());
    if ("TrainingJob".equals(s.path("kind").asText())) {
      JsonNode st = s.path("status");
      JsonNode c = st.path("counts");
      String phase = st.path("phase").asText("");
      boolean finished = phase.equals("Succeeded") || phase.equals("Failed");
      int code = exitCode >= 0 ? exitCode : phase.equals("Succeeded") ? 0 : phase.equals("Failed") ? 1 : -1;
      return new Status(c.path("total").asInt(), c.path("succeeded").asInt(), c.path("deadLettered").asInt(),
          c.path("retried").asLong(), intervals(st.path("succeededIndexes").asText("")),
          intervals(st.path("failedIndexes").asText("")), finished, code, c.path("rejectedMessages").asLong());
    }
    JsonNode p = s.path("progress");
    return new Status(p.path("total").asInt(), p.path("succeeded").asInt(), p.path("deadLettered").asInt(),
        p.path("retried").asLong(), intervals(p.path("succeededIndexes").asText("")),
        intervals(p.path("failedIndexes").asText("")), s.path("finished").asBoolean(), exitCode,
        p.path("rejectedMessages").asLong());
  }

  /** Reads what {@link BrokerProbe#snapshot} wrote. */
  public static Broker readBroker(Path file) throws IOException {
    JsonNode b = JSON.readTree(file.toFile());
    Map<String, Long> depths = new LinkedHashMap<>();
    b.path("depths").fields().forEachRemaining(e -> depths.put(e.getKey(), e.getValue().asLong()));
    return new Broker(depths, held(b.path("held"), false), held(b.path("deadLetters"), false), held(b.path("deadLetters"), true));
  }

  private static List<Held> held(JsonNode array, boolean rejected) {
    List<Held> out = new ArrayList<>();
    for (JsonNode h : array) {
      if (h.path("rejected").asBoolean(false) != rejected) {
        continue;
      }
      out.add(new Held(h.path("queue").asText(""), h.path("index").asInt(-1), h.path("attempt").asInt(0),
          h.path("reason").isNull() ? null : h.path("reason").asText(null)));
    }
    return out;
  }

  /** The status's index-set format: {@code "0-3,7,9-10"}. */
  static BitSet intervals(String text) {
    BitSet set = new BitSet();
    if (text == null || text.isBlank()) {
      return set;
    }
    for (String part : text.split(",")) {
      int dash = part.indexOf('-');
      if (dash < 0) {
        set.set(Integer.parseInt(part.trim()));
      } else {
        set.set(Integer.parseInt(part.substring(0, dash).trim()), Integer.parseInt(part.substring(dash + 1).trim()) + 1);
      }
    }
    return set;
  }

  /** A fault the nemesis injected: epoch seconds, kind and target. */
  public record Fault(double time, String kind, String target) {}

  public static List<Fault> readFaults(Path file) throws IOException {
    List<Fault> out = new ArrayList<>();
    if (file == null || !Files.exists(file)) {
      return out;
    }
    for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
      if (!line.isBlank()) {
        JsonNode n = JSON.readTree(line);
        out.add(new Fault(n.path("time").asDouble(), n.path("kind").asText(), n.path("target").asText("")));
      }
    }
    return out;
  }
}
