package io.trainq.reliability;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.rabbitmq.client.Address;
import io.trainq.reliability.HistoryChecker.Result;
import io.trainq.reliability.HistoryChecker.TaskVerdict;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The harness's Java side (scripts/reliability.sh):
 * <pre>
 * witness  --addresses H:P,.. --state FILE --name JOB --queue Q [--previous-uid U]   bind a queue that keeps the run's dead letters
 * forge    --addresses H:P,.. --state FILE --name JOB --tasks N --max-attempts N [--previous-uid U] --out forged.json
 *                                                       put forged messages on the run's queues (Forger)
 * snapshot --addresses H:P,.. --management URL,.. --state FILE --name JOB --witness Q --out broker.json
 * check    --scenario S --broker V --seed N --tasks N --executions F --state F --exit-code N --broker-file F
 *          [--faults F] [--expect-dead 3=failed,7=delivery-limit] [--expect-rejected N] [--worker-restarts N]
 *          [--max-worker-restarts N] [--problem TEXT] [--wall SECONDS] --out result.json
 * report   --out DIR [--name report] result.json...                    NAME.json and NAME.md
 * collect  --out executions.jsonl [--port N]    the execution log of task programs in pods (Collector);
 *                                               prints its port, collects until SIGTERM
 * </pre>
 * Exit status of check: 0 when the scenario holds (nothing lost, nothing counted twice, no unexpected
 * or missing dead letter), 1 otherwise.
 */
public final class Main {
  private Main() {}

  public static void main(String[] args) throws Exception {
    if (args.length == 0) {
      System.err.println("usage: witness | snapshot | check | report (see the class comment)");
      System.exit(2);
    }
    Map<String, String> o = new HashMap<>();
    List<String> rest = new ArrayList<>();
    for (int i = 1; i < args.length; i++) {
      if (args[i].startsWith("--") && i + 1 < args.length) {
        o.put(args[i].substring(2), args[++i]);
      } else {
        rest.add(args[i]);
      }
    }
    String user = o.getOrDefault("user", "trainq");
    String pass = o.getOrDefault("password", "trainq");
    String ns = o.getOrDefault("namespace", "default");
    switch (args[0]) {
      case "witness" -> {
        BrokerProbe p = new BrokerProbe(addresses(o.get("addresses")), user, pass, List.of());
        System.out.println(p.witness(Path.of(o.get("state")), ns, o.get("name"), o.get("queue"), o.get("previous-uid"),
            Duration.ofMinutes(3)));
      }
      case "snapshot" -> {
        BrokerProbe p = new BrokerProbe(addresses(o.get("addresses")), user, pass, List.of(o.get("management").split(",")));
        p.snapshot(Path.of(o.get("state")), ns, o.get("name"), o.get("witness"), Path.of(o.get("out")));
      }
      case "forge" -> {
        BrokerProbe p = new BrokerProbe(addresses(o.get("addresses")), user, pass, List.of());
        String uid = BrokerProbe.awaitUid(Path.of(o.get("state")), o.get("previous-uid"), Duration.ofMinutes(3));
        p.awaitQueue(new io.trainq.protocol.JobTopology(ns, o.get("name"), uid).taskQueue(), Duration.ofMinutes(1));
        Thread.sleep(2000); // tasks are running
        Forger.Forged f;
        try (var c = p.connect("trainq-reliability forger")) {
          f = Forger.forge(c, uid, ns, o.get("name"), Integer.parseInt(o.get("tasks")), Integer.parseInt(o.get("max-attempts")));
        }
        Histories.writeJson(Path.of(o.get("out")), f);
        System.out.println(f.rejectedMessages());
      }
      case "check" -> System.exit(check(o));
      case "report" -> report(Path.of(o.get("out")), o.getOrDefault("name", "report"), rest);
      case "collect" -> Collector.run(Path.of(o.get("out")), Integer.parseInt(o.getOrDefault("port", "0")));
      default -> {
        System.err.println("unknown command " + args[0]);
        System.exit(2);
      }
    }
  }

  private static List<Address> addresses(String list) {
    List<Address> out = new ArrayList<>();
    for (String a : list.split(",")) {
      int colon = a.lastIndexOf(':');
      out.add(new Address(a.substring(0, colon), Integer.parseInt(a.substring(colon + 1))));
    }
    return out;
  }

  static Map<Integer, String> expectations(String spec) {
    Map<Integer, String> out = new TreeMap<>();
    if (spec == null || spec.isBlank()) {
      return out;
    }
    for (String part : spec.split(",")) {
      String[] kv = part.split("=", 2);
      out.put(Integer.parseInt(kv[0].trim()), kv[1].trim());
    }
    return out;
  }

  private static int check(Map<String, String> o) throws Exception {
    int tasks = Integer.parseInt(o.get("tasks"));
    var executions = Histories.readExecutions(Path.of(o.get("executions")));
    List<Histories.Fault> faults = new ArrayList<>(Histories.readFaults(o.containsKey("faults") ? Path.of(o.get("faults")) : null));
    // a task that kills its worker is a fault too (the scenario's "infrastructure failure")
    executions.stream().filter(e -> "killed-worker".equals(e.outcome()))
        .forEach(e -> faults.add(new Histories.Fault(e.end(), "task-killed-worker", e.worker())));
    faults.sort(java.util.Comparator.comparingDouble(Histories.Fault::time));
    Result r = HistoryChecker.check(tasks, executions,
        Histories.readStatus(Path.of(o.get("state")), Integer.parseInt(o.getOrDefault("exit-code", "-1"))),
        Histories.readBroker(Path.of(o.get("broker-file"))), expectations(o.get("expect-dead")), faults,
        Integer.parseInt(o.getOrDefault("expect-rejected", "0")));
    int restarts = Integer.parseInt(o.getOrDefault("worker-restarts", "0"));
    int maxRestarts = Integer.parseInt(o.getOrDefault("max-worker-restarts", "-1"));
    boolean restartsOk = maxRestarts < 0 || restarts <= maxRestarts;
    List<String> problems = new ArrayList<>(r.problems());
    if (!restartsOk) {
      problems.add(restarts + " worker process(es) exited and were restarted; this scenario allows " + maxRestarts);
    }
    // a finding of the script's own (the run's log lacks what the scenario must show)
    if (o.containsKey("problem")) {
      problems.add(o.get("problem"));
    }
    boolean ok = r.ok() && restartsOk && !o.containsKey("problem");
    ObjectNode s = Histories.JSON.createObjectNode();
    s.put("name", o.get("scenario"));
    s.put("broker", o.get("broker"));
    s.put("seed", Long.parseLong(o.getOrDefault("seed", "0")));
    s.put("tasks", r.tasks());
    s.put("succeeded", r.succeeded());
    s.put("deadLettered", r.deadLettered());
    s.put("retried", r.retried());
    s.put("finished", r.finished());
    s.put("expectedDeadLettered", r.expectedDeadLettered());
    s.put("unexpectedDeadLettered", r.unexpectedDeadLettered());
    s.put("missingDeadLetters", r.missingDeadLetters());
    s.put("lost", r.lost());
    s.put("countedTwice", r.countedTwice());
    s.put("executedTwice", r.executedTwice());
    s.put("executions", r.executions());
    s.put("faults", faults.size());
    s.put("rejected", r.rejected());
    s.put("expectedRejected", r.expectedRejected());
    s.put("workerRestarts", restarts);
    Map<String, Integer> kinds = new TreeMap<>();
    faults.forEach(f -> kinds.merge(f.kind(), 1, Integer::sum));
    s.set("faultKinds", Histories.JSON.valueToTree(kinds));
    ObjectNode rec = s.putObject("recoverySeconds");
    rec.put("p50", round(HistoryChecker.percentile(r.recoverySeconds(), 50)));
    rec.put("max", round(r.recoverySeconds().stream().mapToDouble(d -> d).max().orElse(0)));
    s.put("maxGapSeconds", round(r.maxGapSeconds()));
    s.put("wallSeconds", round(Double.parseDouble(o.getOrDefault("wall", "0"))));
    s.put("exitCode", Integer.parseInt(o.getOrDefault("exit-code", "-1")));
    s.put("ok", ok);
    ArrayNode problemsOut = s.putArray("problems");
    problems.stream().limit(200).forEach(problemsOut::add);
    ArrayNode notable = s.putArray("notableTasks");
    for (TaskVerdict v : r.notable().stream().limit(200).toList()) {
      notable.add(Histories.JSON.valueToTree(v));
    }
    Path out = Path.of(o.get("out"));
    Histories.writeJson(out, s);
    System.out.printf(Locale.ROOT, "%s: %s tasks %d, succeeded %d, retries %d, dead-lettered %d (unexpected %d, missing %d), lost %d, "
            + "counted twice %d, executed twice %d, faults %d, rejected %d of %d forged, worker restarts %d%n", o.get("scenario"),
        ok ? "OK" : "FAILED", r.tasks(), r.succeeded(), r.retried(), r.deadLettered(), r.unexpectedDeadLettered(),
        r.missingDeadLetters(), r.lost(), r.countedTwice(), r.executedTwice(), faults.size(), r.rejected(), r.expectedRejected(),
        restarts);
    problems.stream().limit(20).forEach(p -> System.out.println("  " + p));
    return ok ? 0 : 1;
  }

  private static double round(double d) {
    return Math.round(d * 10) / 10.0;
  }

  private static final String[] COLUMNS = {"name", "broker", "seed", "tasks", "succeeded", "deadLettered",
      "unexpectedDeadLettered", "lost", "countedTwice", "executedTwice", "faults", "recoverySeconds", "wallSeconds"};

  private static void report(Path dir, String name, List<String> results) throws Exception {
    ObjectNode root = Histories.JSON.createObjectNode();
    ArrayNode scenarios = root.putArray("scenarios");
    StringBuilder md = new StringBuilder("# trainq reliability report\n\n");
    md.append("| scenario | broker | seed | tasks | succeeded | retries | dead-lettered | unexpected DL | lost | counted twice "
        + "| executed twice | faults | rejected / forged | worker restarts | recovery p50 / max (s) | longest stall (s) | wall (s) | ok |\n");
    md.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    StringBuilder details = new StringBuilder();
    List<String> order = List.of("load", "retry", "crash", "nemesis", "poison", "interrupt", "forged", "alarm", "deleted");
    List<JsonNode> all = new ArrayList<>();
    for (String f : results) {
      all.add(Histories.JSON.readTree(Files.readString(Path.of(f), StandardCharsets.UTF_8)));
    }
    all.sort(java.util.Comparator.<JsonNode, String>comparing(s -> s.path("broker").asText()).reversed()
        .thenComparing(s -> order.indexOf(s.path("name").asText())));
    for (JsonNode s : all) {
      Map<String, JsonNode> row = new LinkedHashMap<>();
      for (String c : COLUMNS) {
        row.put(c, s.path(c));
      }
      ObjectNode entry = Histories.JSON.valueToTree(row);
      entry.set("faultKinds", s.path("faultKinds"));
      entry.set("expectedDeadLettered", s.path("expectedDeadLettered"));
      entry.set("missingDeadLetters", s.path("missingDeadLetters"));
      entry.set("executions", s.path("executions"));
      entry.set("retried", s.path("retried"));
      entry.set("maxGapSeconds", s.path("maxGapSeconds"));
      entry.set("rejected", s.path("rejected"));
      entry.set("expectedRejected", s.path("expectedRejected"));
      entry.set("workerRestarts", s.path("workerRestarts"));
      entry.set("ok", s.path("ok"));
      scenarios.add(entry);
      md.append(String.format(Locale.ROOT, "| %s | %s | %s | %d | %d | %d | %d | %d | %d | %d | %d | %d %s | %d / %d | %d | %.1f / %.1f | %.1f | %.0f | %s |%n",
          s.path("name").asText(), s.path("broker").asText(), s.path("seed").asText(), s.path("tasks").asInt(),
          s.path("succeeded").asInt(), s.path("retried").asInt(), s.path("deadLettered").asInt(), s.path("unexpectedDeadLettered").asInt(),
          s.path("lost").asInt(), s.path("countedTwice").asInt(), s.path("executedTwice").asInt(), s.path("faults").asInt(),
          s.path("faultKinds").isEmpty() ? "" : s.path("faultKinds").toString().replace("\"", ""),
          s.path("rejected").asLong(), s.path("expectedRejected").asInt(), s.path("workerRestarts").asInt(),
          s.path("recoverySeconds").path("p50").asDouble(), s.path("recoverySeconds").path("max").asDouble(),
          s.path("maxGapSeconds").asDouble(), s.path("wallSeconds").asDouble(), s.path("ok").asBoolean() ? "yes" : "**NO**"));
      if (s.path("problems").size() > 0) {
        details.append("\n### ").append(s.path("name").asText()).append(" (").append(s.path("broker").asText()).append(")\n\n");
        s.path("problems").forEach(p -> details.append("- ").append(p.asText()).append('\n'));
      }
    }
    if (details.length() > 0) {
      md.append("\n## Findings\n").append(details);
    }
    Histories.writeJson(dir.resolve(name + ".json"), root);
    Files.writeString(dir.resolve(name + ".md"), md.toString(), StandardCharsets.UTF_8);
    System.out.print(md);
  }
}
