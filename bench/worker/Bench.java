import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.rabbitmq.client.BuiltinExchangeType;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import io.trainq.protocol.JobSettings;
import io.trainq.protocol.JobTopology;
import io.trainq.protocol.Messages;
import io.trainq.protocol.TaskMessage;
import io.trainq.protocol.WorkerEnv;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The worker benchmark (run by run.sh, with the worker's jar on the class path):
 * no-op task throughput with 16 slots against PerfTest's consumer in the same run on the same
 * broker, the idle gap on a slot as the tasks see it, idle RSS and start-to-consuming time.
 * Each job's queues are declared as the operator declares them, and its events go to a quorum
 * queue that a consumer drains and acks while the worker runs, as the operator does.
 */
public final class Bench {
  static String uri = "amqp://trainq:trainq@127.0.0.1:5672/%2F";
  static Path dist;
  static Path noop;
  static String perfTestClassPath;
  static Path work;
  static final Map<String, String> env = new LinkedHashMap<>();

  public static void main(String[] args) throws Exception {
    Map<String, String> o = new HashMap<>();
    for (int i = 0; i + 1 < args.length; i += 2) {
      o.put(args[i], args[i + 1]);
    }
    uri = o.getOrDefault("--uri", uri);
    dist = Path.of(o.get("--dist"));
    noop = Path.of(o.get("--noop"));
    perfTestClassPath = o.get("--perftest-cp");
    work = Files.createTempDirectory("trainq-worker-bench");
    int tasks = Integer.parseInt(o.getOrDefault("--tasks", "20000"));
    int rounds = Integer.parseInt(o.getOrDefault("--rounds", "3"));
    Path report = Path.of(o.getOrDefault("--report", "bench/worker/REPORT.md"));
    if (o.containsKey("--log-level")) {
      env.put("TRAINQ_LOG_LEVEL", o.get("--log-level"));
    }
    if (o.containsKey("--extra-prefetch")) {
      env.put("TRAINQ_EXTRA_PREFETCH", o.get("--extra-prefetch"));
    }
    String only = o.get("--only");
    if (only != null) {
      // a single run, for tuning: single | paced | noop | perftest
      switch (only) {
        case "single" -> report("1 slot, no-op", workerRun("single", tasks, 1, 0, env));
        case "paced" -> report("16 slots, 50 ms", workerRun("paced", tasks, 16, 50_000, env));
        case "noop" -> report("16 slots, no-op", workerRun("noop", tasks, 16, 0, env));
        case "perftest" -> {
          PerfRun pr = perfTestRun(tasks, 16);
          say("PerfTest consumer: %.0f msg/s; CPU per message: PerfTest %.3f ms, broker %.3f ms", pr.rate(), pr.cpu().client(),
              pr.cpu().broker());
        }
        default -> throw new IllegalArgumentException("--only single|paced|noop|perftest");
      }
      say("logs in %s", work);
      return;
    }

    String broker;
    try (Connection c = factory().newConnection("bench-probe")) {
      broker = String.valueOf(c.getServerProperties().get("version"));
    }
    say("RabbitMQ %s at %s; %d CPUs; worker distribution %s", broker, uri.replaceAll(":[^:@/]*@", ":***@"),
        Runtime.getRuntime().availableProcessors(), dist);

    String loadBefore = loadAverage();
    // 0. the floor of the default dispatch chain on this machine: two quorum-queue writes and a spawn
    Floor floor = floor();
    say("floor: quorum confirm p50 %.2f ms, ack to next delivery p50 %.2f ms, spawn to task start p50 %.2f ms",
        floor.confirm(), floor.ackToDelivery(), floor.spawn());
    // 1. throughput: PerfTest's consumer and the worker, alternating, on the same broker
    List<Double> perf = new ArrayList<>();
    List<PerfRun> perfRuns = new ArrayList<>();
    List<Run> noopRuns = new ArrayList<>();
    for (int r = 1; r <= rounds; r++) {
      PerfRun pr = perfTestRun(tasks, 16);
      double p = pr.rate();
      say("round %d: PerfTest consumer (prefetch 16, manual ack): %.0f msg/s; CPU per message: PerfTest %.3f ms, broker %.3f ms", r, p,
          pr.cpu().client(), pr.cpu().broker());
      perf.add(p);
      perfRuns.add(pr);
      Run w = workerRun("noop-" + r, tasks, 16, 0, env);
      say("round %d: worker, 16 slots, no-op tasks: %.0f tasks/s; gap p50 %.2f ms p99 %.2f ms; CPU per task: worker %.3f ms, "
          + "task processes %.3f ms, broker %.3f ms (load %s)", r, w.rate, w.gapP50(), w.gapP99(), w.cpu().client(), w.cpu().tasks(),
          w.cpu().broker(), loadAverage());
      noopRuns.add(w);
    }
    // 2. the idle gap where slots are not starved of CPU by no-op churn: 16 slots of 50 ms tasks, with
    // the worker's per-task timings (debug log) for the breakdown; one slot back to back; and the
    // documented extra prefetch for comparison
    Map<String, String> debug = new HashMap<>(env);
    debug.put("TRAINQ_LOG_LEVEL", "debug");
    List<Run> pacedRuns = new ArrayList<>();
    for (int r = 1; r <= rounds; r++) {
      Run p = workerRun("paced-" + r, 16 * 150, 16, 50_000, debug);
      say("round %d: 16 slots, 50 ms tasks: gap p50 %.2f ms p99 %.2f ms (%d gaps), %.0f tasks/s (load %s)", r, p.gapP50(),
          p.gapP99(), p.gaps.size(), p.rate, loadAverage());
      pacedRuns.add(p);
    }
    // the round with the median p50 stands for all, with its own breakdown
    List<Integer> order = new ArrayList<>();
    for (int i = 0; i < pacedRuns.size(); i++) {
      order.add(i);
    }
    order.sort((a, b) -> Double.compare(pacedRuns.get(a).gapP50(), pacedRuns.get(b).gapP50()));
    int mid = order.get(order.size() / 2);
    Run paced = pacedRuns.get(mid);
    Map<String, double[]> breakdown = breakdown(work.resolve("paced-" + (mid + 1) + ".log"));
    Run single = workerRun("single", 2000, 1, 0, env);
    say("1 slot, no-op tasks back to back: gap p50 %.2f ms p99 %.2f ms, %.0f tasks/s", single.gapP50(), single.gapP99(), single.rate);
    Map<String, String> extra = new HashMap<>(env);
    extra.put("TRAINQ_EXTRA_PREFETCH", "16");
    Run pacedExtra = workerRun("paced-extra", 16 * 150, 16, 50_000, extra);
    say("16 slots, 50 ms tasks, TRAINQ_EXTRA_PREFETCH=16: gap p50 %.2f ms p99 %.2f ms", pacedExtra.gapP50(), pacedExtra.gapP99());
    // 3. idle RSS and start to consuming
    List<Long> starts = new ArrayList<>();
    long rss = 0;
    for (int i = 0; i < 5; i++) {
      long[] s = idleWorker(i == 0);
      starts.add(s[0]);
      if (i == 0) {
        rss = s[2];
      }
    }
    Collections.sort(starts);
    say("start to consuming: median %d ms, max %d ms; idle RSS %.1f MiB", starts.get(2), starts.get(4), rss / 1024.0);
    String loadAfter = loadAverage();

    writeReport(report, broker, tasks, floor, perf, perfRuns, noopRuns, pacedRuns, paced, breakdown, single, pacedExtra, starts, rss, loadBefore,
        loadAfter);
    say("wrote %s", report);
  }

  static String loadAverage() {
    try {
      String[] f = Files.readString(Path.of("/proc/loadavg")).split(" ");
      return f[0] + " " + f[1] + " " + f[2];
    } catch (IOException e) {
      return "?";
    }
  }

  record Floor(double confirm, double ackToDelivery, double spawn) {}

  /** p50s of: a confirm from a quorum queue with one publish in flight; ack to the next delivery with prefetch 1; spawn to the task's start. */
  static Floor floor() throws Exception {
    int n = 400;
    List<Double> confirm = new ArrayList<>();
    List<Double> ack = new ArrayList<>();
    List<Double> spawn = new ArrayList<>();
    try (Connection c = factory().newConnection("bench-floor")) {
      Channel ch = c.createChannel();
      ch.confirmSelect();
      String q = "bench-floor-" + UUID.randomUUID();
      ch.queueDeclare(q, true, false, false, Map.of("x-queue-type", "quorum"));
      for (int i = 0; i < n; i++) {
        long t = System.nanoTime();
        ch.basicPublish("", q, null, new byte[200]);
        ch.waitForConfirmsOrDie(10_000);
        confirm.add((System.nanoTime() - t) / 1e6);
      }
      Channel cc = c.createChannel();
      cc.basicQos(1);
      java.util.concurrent.BlockingQueue<Long> tags = new java.util.concurrent.LinkedBlockingQueue<>();
      cc.basicConsume(q, false, new DefaultConsumer(cc) {
        @Override
        public void handleDelivery(String tag, Envelope e, com.rabbitmq.client.AMQP.BasicProperties p, byte[] b) {
          tags.add(e.getDeliveryTag());
        }
      });
      long tag = tags.take();
      for (int i = 0; i < n - 2; i++) {
        long t = System.nanoTime();
        cc.basicAck(tag, false);
        tag = tags.take();
        ack.add((System.nanoTime() - t) / 1e6);
      }
      ch.queueDelete(q);
    }
    Path dir = Files.createDirectories(work.resolve("floor"));
    for (int i = 0; i < n; i++) {
      ProcessBuilder pb = new ProcessBuilder(noop.toString(), dir.toString());
      pb.environment().put("TRAINQ_TASK_SLOT", "0");
      pb.environment().put("TRAINQ_TASK_INDEX", Integer.toString(i));
      pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
      long t = System.nanoTime();
      Process p = pb.start();
      p.waitFor();
      List<String> lines = Files.readAllLines(dir.resolve("slot-0.log"));
      spawn.add((Long.parseLong(lines.get(lines.size() - 1).split(" ")[1]) - t) / 1e6);
    }
    return new Floor(percentile(confirm, 50), percentile(ack, 50), percentile(spawn, 50));
  }

  /** p50 and p90 (µs) of each step of the worker's debug "timing:" lines. */
  static Map<String, double[]> breakdown(Path log) throws IOException {
    Map<String, List<Double>> steps = new LinkedHashMap<>();
    Pattern p = Pattern.compile("(queued|prepared|spawned|ran|reported and acked) (\\d+) us");
    for (String line : Files.readAllLines(log)) {
      if (!line.contains("timing:")) {
        continue;
      }
      Matcher m = p.matcher(line);
      while (m.find()) {
        steps.computeIfAbsent(m.group(1), k -> new ArrayList<>()).add(Double.parseDouble(m.group(2)));
      }
    }
    Map<String, double[]> out = new LinkedHashMap<>();
    steps.forEach((k, v) -> out.put(k, new double[] {percentile(v, 50), percentile(v, 90)}));
    return out;
  }

  // --- runs ---------------------------------------------------------------------------------

  static void report(String what, Run r) {
    say("%s: %.0f tasks/s, gap p50 %.2f ms p90 %.2f ms p99 %.2f ms (%d gaps); CPU per task: worker %.3f ms, task processes %.3f ms, "
        + "broker %.3f ms", what, r.rate(), r.gapP50(), percentile(r.gaps(), 90), r.gapP99(), r.gaps().size(), r.cpu().client(),
        r.cpu().tasks(), r.cpu().broker());
  }

  /** CPU per task (or message), in ms: the client process (with its children: the tasks), the tasks alone, and the broker. */
  record Cpu(double client, double tasks, double broker) {}

  record Run(double rate, List<Double> gaps, double durationS, Cpu cpu) {
    double gapP50() {
      return percentile(gaps, 50);
    }

    double gapP99() {
      return percentile(gaps, 99);
    }
  }

  static Run workerRun(String name, int tasks, int slots, long sleepUs, Map<String, String> extraEnv) throws Exception {
    Path dir = Files.createDirectories(work.resolve(name));
    JobSettings settings = new JobSettings(3, Duration.ofSeconds(10), Duration.ofMinutes(1), Duration.ofHours(1), null, 10);
    JobTopology job = new JobTopology("bench", name, UUID.randomUUID().toString());
    try (Connection c = factory().newConnection("bench-driver")) {
      Channel ch = c.createChannel();
      String events = declare(ch, job, settings);
      publish(ch, job, tasks);
      EventDrain drain = new EventDrain(c.createChannel(), events);
      Map<String, String> env = new HashMap<>(WorkerEnv.forJob(job, settings));
      env.put("TRAINQ_RABBITMQ_URI", uri);
      env.put(WorkerEnv.SLOTS, Integer.toString(slots));
      env.put(WorkerEnv.IDLE_TIMEOUT_MS, "1500");
      env.put(WorkerEnv.HTTP_PORT, "0");
      env.putAll(extraEnv);
      List<String> argv = new ArrayList<>(List.of(dist.resolve("bin/trainq-worker").toString(), "--", noop.toString(), dir.toString()));
      if (sleepUs > 0) {
        argv.add(Long.toString(sleepUs));
      }
      long broker0 = brokerTicks();
      long children0 = childrenTicks();
      Process p = start(argv, env, work.resolve(name + ".log"));
      if (!p.waitFor(15, TimeUnit.MINUTES)) {
        p.destroyForcibly();
        throw new IllegalStateException(name + ": the worker did not finish; see " + work.resolve(name + ".log"));
      }
      if (p.exitValue() != 0) {
        throw new IllegalStateException(name + ": the worker exited " + p.exitValue() + "; see " + work.resolve(name + ".log"));
      }
      long broker1 = brokerTicks();
      long children1 = childrenTicks();
      drain.close();
      delete(ch, job, settings, events);
      Run r = analyse(dir, tasks);
      double workerMs = workerCpuMs(work.resolve(name + ".log"));
      double childrenMs = (children1 - children0) * 10.0;
      Cpu cpu = new Cpu(workerMs / tasks, (childrenMs - workerMs) / tasks,
          broker0 < 0 ? Double.NaN : (broker1 - broker0) * 10.0 / tasks);
      return new Run(r.rate(), r.gaps(), r.durationS(), cpu);
    }
  }

  static Run analyse(Path dir, int tasks) throws IOException {
    long first = Long.MAX_VALUE;
    long last = Long.MIN_VALUE;
    int count = 0;
    List<Double> gaps = new ArrayList<>();
    try (var files = Files.list(dir)) {
      for (Path f : files.toList()) {
        List<long[]> runs = new ArrayList<>();
        for (String line : Files.readAllLines(f)) {
          String[] p = line.split(" ");
          runs.add(new long[] {Long.parseLong(p[1]), Long.parseLong(p[2])});
        }
        runs.sort((a, b) -> Long.compare(a[0], b[0]));
        for (int i = 0; i < runs.size(); i++) {
          first = Math.min(first, runs.get(i)[0]);
          last = Math.max(last, runs.get(i)[1]);
          if (i > 0) {
            gaps.add((runs.get(i)[0] - runs.get(i - 1)[1]) / 1e6);
          }
        }
        count += runs.size();
      }
    }
    if (count != tasks) {
      throw new IllegalStateException(dir + ": " + count + " task runs recorded, expected " + tasks);
    }
    double seconds = (last - first) / 1e9;
    return new Run(tasks / seconds, gaps, seconds, null);
  }

  /** Fills a quorum queue with task-sized messages and lets PerfTest's consumer drain it; its average rate. */
  static double perfTestConsumer(int messages, int prefetch) throws Exception {
    return perfTestRun(messages, prefetch).rate();
  }

  record PerfRun(double rate, Cpu cpu) {}

  static PerfRun perfTestRun(int messages, int prefetch) throws Exception {
    String queue = "bench-perftest-" + UUID.randomUUID();
    JobTopology job = new JobTopology("bench", "perftest", UUID.randomUUID().toString());
    try (Connection c = factory().newConnection("bench-driver")) {
      Channel ch = c.createChannel();
      ch.queueDeclare(queue, true, false, false, Map.of("x-queue-type", "quorum"));
      ch.confirmSelect();
      for (int i = 0; i < messages; i++) {
        TaskMessage t = TaskMessage.first(job.uid(), i, JsonNodeFactory.instance.objectNode());
        ch.basicPublish("", queue, Messages.taskProperties(t), Messages.encodeTask(t));
        if (i % 500 == 499) {
          ch.waitForConfirmsOrDie(60_000);
        }
      }
      ch.waitForConfirmsOrDie(60_000);
      List<String> argv = new ArrayList<>(List.of(javaBin(), "-cp", perfTestClassPath, "com.rabbitmq.perf.PerfTest",
          "-h", uri, "-x", "0", "-y", "1", "-q", Integer.toString(prefetch), "-u", queue, "-p", "-D", Integer.toString(messages)));
      Path log = work.resolve("perftest-" + queue + ".log");
      long broker0 = brokerTicks();
      long children0 = childrenTicks();
      Process p = start(argv, Map.of(), log);
      if (!p.waitFor(10, TimeUnit.MINUTES)) {
        p.destroyForcibly();
        throw new IllegalStateException("PerfTest did not finish; see " + log);
      }
      long broker1 = brokerTicks();
      long children1 = childrenTicks();
      ch.queueDelete(queue);
      Matcher m = Pattern.compile("receiving rate avg: (\\d+) msg/s").matcher(Files.readString(log));
      if (!m.find()) {
        throw new IllegalStateException("no rate in PerfTest's output; see " + log);
      }
      Cpu cpu = new Cpu((children1 - children0) * 10.0 / messages, 0, broker0 < 0 ? Double.NaN : (broker1 - broker0) * 10.0 / messages);
      return new PerfRun(Double.parseDouble(m.group(1)), cpu);
    }
  }

  private static long brokerPid = 0;

  /** CPU ticks (1/100 s) of the broker's Erlang VM (the node behind the URI's port), or -1 if it cannot be found. */
  static long brokerTicks() {
    if (brokerPid == 0) {
      brokerPid = -1;
      String node = uri.contains(":5682") ? "tq310s1@localhost" : "tq40s1@localhost";
      try (var procs = Files.list(Path.of("/proc"))) {
        for (Path p : procs.toList()) {
          String n = p.getFileName().toString();
          if (!n.chars().allMatch(Character::isDigit)) {
            continue;
          }
          try {
            String cmd = Files.readString(p.resolve("cmdline")).replace('\0', ' ');
            if (cmd.contains("beam") && cmd.contains(node)) {
              brokerPid = Long.parseLong(n);
              break;
            }
          } catch (IOException e) {
            // a process that ended
          }
        }
      } catch (IOException e) {
        // no /proc
      }
    }
    return brokerPid < 0 ? -1 : ticks(Path.of("/proc/" + brokerPid + "/stat"), 14);
  }

  /** CPU ticks of this process's waited-for children (cutime + cstime): a worker and its tasks, or PerfTest. */
  static long childrenTicks() {
    return ticks(Path.of("/proc/self/stat"), 16);
  }

  /** Fields {@code field} and {@code field + 1} (1-based, as proc(5) numbers them) of a stat file, summed. */
  static long ticks(Path stat, int field) {
    try {
      String s = Files.readString(stat);
      String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ");
      return Long.parseLong(f[field - 3]) + Long.parseLong(f[field - 2]);
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  /** The worker's own CPU from its last status line ("worker CPU 6.1 s"), in ms. */
  static double workerCpuMs(Path log) throws IOException {
    double ms = Double.NaN;
    Matcher m = Pattern.compile("worker CPU ([0-9.]+) s").matcher(Files.readString(log));
    while (m.find()) {
      ms = Double.parseDouble(m.group(1)) * 1000;
    }
    return ms;
  }

  /**
   * Starts a worker on an empty queue: wall time from exec to its "consuming" line, the worker's own
   * count from process start, and its RSS (KiB) after 5 s idle.
   */
  static long[] idleWorker(boolean measureRss) throws Exception {
    JobSettings settings = new JobSettings(3, Duration.ofSeconds(10), Duration.ofMinutes(1), Duration.ofHours(1), null, 10);
    JobTopology job = new JobTopology("bench", "idle", UUID.randomUUID().toString());
    try (Connection c = factory().newConnection("bench-driver")) {
      Channel ch = c.createChannel();
      String events = declare(ch, job, settings);
      Map<String, String> env = new HashMap<>(WorkerEnv.forJob(job, settings));
      env.put("TRAINQ_RABBITMQ_URI", uri);
      env.put(WorkerEnv.SLOTS, "16");
      env.put(WorkerEnv.IDLE_TIMEOUT_MS, "0");
      env.put(WorkerEnv.HTTP_PORT, "0");
      ProcessBuilder pb = new ProcessBuilder(dist.resolve("bin/trainq-worker").toString(), "--", noop.toString(), work.toString())
          .redirectErrorStream(true);
      pb.environment().keySet().removeIf(k -> k.startsWith("TRAINQ_"));
      pb.environment().putAll(env);
      long t0 = System.nanoTime();
      Process p = pb.start();
      BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
      String line;
      long wall = -1;
      long self = -1;
      Pattern own = Pattern.compile("(\\d+) ms after the process started");
      while ((line = r.readLine()) != null) {
        if (line.contains(" consuming ")) {
          wall = (System.nanoTime() - t0) / 1_000_000;
          Matcher m = own.matcher(line);
          self = m.find() ? Long.parseLong(m.group(1)) : -1;
          break;
        }
      }
      Thread drainOutput = new Thread(() -> {
        try {
          r.transferTo(java.io.Writer.nullWriter());
        } catch (IOException e) {
          // the worker ended
        }
      });
      drainOutput.setDaemon(true);
      drainOutput.start();
      long rss = 0;
      if (measureRss) {
        Thread.sleep(5000);
        for (String l : Files.readAllLines(Path.of("/proc/" + p.pid() + "/status"))) {
          if (l.startsWith("VmRSS:")) {
            rss = Long.parseLong(l.replaceAll("[^0-9]", ""));
          }
        }
      }
      p.destroy();
      p.waitFor(30, TimeUnit.SECONDS);
      delete(ch, job, settings, events);
      if (wall < 0) {
        throw new IllegalStateException("the idle worker never logged that it was consuming");
      }
      return new long[] {wall, self, rss};
    }
  }

  // --- broker objects -----------------------------------------------------------------------

  static String declare(Channel ch, JobTopology job, JobSettings s) throws IOException {
    ch.exchangeDeclare(JobTopology.EVENTS_EXCHANGE, BuiltinExchangeType.TOPIC, true);
    ch.exchangeDeclare(JobTopology.DEAD_LETTER_EXCHANGE, BuiltinExchangeType.TOPIC, true);
    ch.exchangeDeclare(JobTopology.RETRY_EXCHANGE, BuiltinExchangeType.TOPIC, true);
    ch.queueDeclare(job.deadLetterQueue(), true, false, false, JobTopology.deadLetterQueueArguments());
    ch.queueBind(job.deadLetterQueue(), JobTopology.DEAD_LETTER_EXCHANGE, job.key());
    for (Duration d : JobTopology.retryDelays(s)) {
      ch.queueDeclare(job.retryQueue(d), true, false, false, job.retryQueueArguments(d));
      ch.queueBind(job.retryQueue(d), JobTopology.RETRY_EXCHANGE, job.retryQueue(d));
    }
    ch.queueDeclare(job.taskQueue(), true, false, false, job.taskQueueArguments(s));
    String events = "bench." + job.key() + ".events";
    ch.queueDeclare(events, true, false, false, Map.of("x-queue-type", "quorum"));
    ch.queueBind(events, JobTopology.EVENTS_EXCHANGE, job.key());
    return events;
  }

  static void delete(Channel ch, JobTopology job, JobSettings s, String events) throws IOException {
    ch.queueDelete(job.taskQueue());
    ch.queueDelete(job.deadLetterQueue());
    for (Duration d : JobTopology.retryDelays(s)) {
      ch.queueDelete(job.retryQueue(d));
    }
    ch.queueDelete(events);
  }

  static void publish(Channel ch, JobTopology job, int tasks) throws Exception {
    ch.confirmSelect();
    for (int i = 0; i < tasks; i++) {
      TaskMessage t = TaskMessage.first(job.uid(), i, JsonNodeFactory.instance.objectNode());
      ch.basicPublish("", job.taskQueue(), true, Messages.taskProperties(t), Messages.encodeTask(t));
      if (i % 500 == 499) {
        ch.waitForConfirmsOrDie(60_000);
      }
    }
    ch.waitForConfirmsOrDie(60_000);
  }

  /** Consumes the job's events and acks them in batches, as the operator's event stream does. */
  static final class EventDrain {
    final Channel ch;
    final AtomicLong seen = new AtomicLong();

    EventDrain(Channel ch, String queue) throws IOException {
      this.ch = ch;
      ch.basicQos(1000);
      ch.basicConsume(queue, false, new DefaultConsumer(ch) {
        @Override
        public void handleDelivery(String tag, Envelope env, com.rabbitmq.client.AMQP.BasicProperties props, byte[] body)
            throws IOException {
          if (seen.incrementAndGet() % 100 == 0) {
            ch.basicAck(env.getDeliveryTag(), true);
          }
        }
      });
    }

    void close() throws Exception {
      ch.close();
    }
  }

  // --- helpers ------------------------------------------------------------------------------

  static ConnectionFactory factory() throws Exception {
    ConnectionFactory f = new ConnectionFactory();
    f.setUri(uri);
    return f;
  }

  static Process start(List<String> argv, Map<String, String> env, Path log) throws IOException {
    ProcessBuilder pb = new ProcessBuilder(argv).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().keySet().removeIf(k -> k.startsWith("TRAINQ_"));
    pb.environment().putAll(env);
    return pb.start();
  }

  static String javaBin() {
    return Path.of(System.getProperty("java.home"), "bin", "java").toString();
  }

  static double percentile(List<Double> values, double p) {
    if (values.isEmpty()) {
      return Double.NaN;
    }
    double[] v = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
    int i = (int) Math.ceil(p / 100.0 * v.length) - 1;
    return v[Math.max(0, Math.min(v.length - 1, i))];
  }

  static double median(List<Double> v) {
    List<Double> s = new ArrayList<>(v);
    Collections.sort(s);
    return s.get(s.size() / 2);
  }

  static void say(String fmt, Object... args) {
    System.out.println(String.format(Locale.ROOT, fmt, args));
  }

  static void writeReport(Path report, String broker, int tasks, Floor floor, List<Double> perf, List<PerfRun> perfRuns,
      List<Run> noopRuns,
      List<Run> pacedRuns, Run paced,
      Map<String, double[]> breakdown, Run single, Run pacedExtra, List<Long> starts, long rssKiB, String loadBefore,
      String loadAfter) throws IOException {
    double perfMedian = median(perf);
    List<Double> rates = noopRuns.stream().map(Run::rate).toList();
    double workerMedian = median(rates);
    List<Double> allGaps = new ArrayList<>();
    noopRuns.forEach(r -> allGaps.addAll(r.gaps()));
    int cpus = Runtime.getRuntime().availableProcessors();
    StringBuilder sb = new StringBuilder();
    String f = "%.0f";
    sb.append("# Worker benchmark\n\n");
    sb.append(String.format(Locale.ROOT, "Measured %s with `bench/worker/run.sh --tasks %d --rounds %d` on this machine (%d CPUs, "
        + "shared; load average %s before, %s after), RabbitMQ %s (one node, quorum queues), the worker distribution "
        + "(`bin/trainq-worker` on its jlink'd Java %s runtime), and `noop` (bench/worker/noop.c, static) as the task. "
        + "Each job's queues are declared as the operator declares them; its events go to a quorum queue drained by a "
        + "consumer, as the operator's are.\n\n",
        Instant.now().toString().substring(0, 10), tasks, noopRuns.size(), cpus, loadBefore, loadAfter, broker,
        System.getProperty("java.version")));
    sb.append("| figure | target | measured | |\n| --- | --- | --- | --- |\n");
    double noopP50 = percentile(allGaps, 50);
    double noopP99 = percentile(allGaps, 99);
    sb.append(String.format(Locale.ROOT, "| idle gap on a slot, p50: 16 slots of no-op tasks / of 50 ms tasks | ≤ 1.5 ms | %.2f ms / %.2f ms | %s |\n",
        noopP50, paced.gapP50(), paced.gapP50() <= 1.5 && noopP50 <= 1.5 ? "met" : "missed"));
    sb.append(String.format(Locale.ROOT, "| idle gap on a slot, p99: 16 slots of no-op tasks / of 50 ms tasks | ≤ 5 ms | %.2f ms / %.2f ms | %s |\n",
        noopP99, paced.gapP99(), paced.gapP99() <= 5 && noopP99 <= 5 ? "met" : "missed"));
    sb.append(String.format(Locale.ROOT, "| no-op tasks/s, 16 slots ÷ PerfTest consumer (prefetch 16), medians of %d rounds | ≥ 0.9 | "
        + f + " ÷ " + f + " = %.2f | %s |\n", rates.size(), workerMedian, perfMedian, workerMedian / perfMedian,
        workerMedian / perfMedian >= 0.9 ? "met" : "missed"));
    sb.append(String.format(Locale.ROOT, "| idle RSS (16 slots) | ≤ 100 MiB | %.1f MiB | %s |\n", rssKiB / 1024.0,
        rssKiB / 1024.0 <= 100 ? "met" : "missed"));
    sb.append(String.format(Locale.ROOT, "| start to consuming, median (max) of 5 | ≤ 2 s | %d ms (%d ms) | %s |\n\n", starts.get(2),
        starts.get(4), starts.get(4) <= 2000 ? "met" : "missed"));

    sb.append("## The floor of the chain\n\n");
    sb.append(String.format(Locale.ROOT, "Measured in the same run, outside the worker (p50 of 400): a publish confirmed by a quorum "
        + "queue with one message in flight **%.2f ms**; an ack to the next delivery from a quorum queue with prefetch 1 "
        + "**%.2f ms**; `ProcessBuilder.start()` (VFORK) of `noop` to its first instruction **%.2f ms**. Between two tasks a "
        + "slot needs all three in series — the `SUCCEEDED` confirm before the ack is the guarantee, and with one delivery "
        + "per slot the next one is sent only after the ack — so no worker can do better than their sum, %.2f ms, here.\n\n",
        floor.confirm(), floor.ackToDelivery(), floor.spawn(), floor.confirm() + floor.ackToDelivery() + floor.spawn()));

    sb.append("## Idle gap\n\n");
    sb.append("From a task's own end timestamp to the next task's own start timestamp on the same slot: reaping the process, "
        + "the `SUCCEEDED` event and its confirm, the ack, the next delivery, handing it to the slot, the parameter file, "
        + "and the spawn.\n\n");
    sb.append("| load | gaps | p50 | p99 | tasks/s |\n| --- | --- | --- | --- | --- |\n");
    for (int i = 0; i < pacedRuns.size(); i++) {
      Run r = pacedRuns.get(i);
      sb.append(String.format(Locale.ROOT, "| 16 slots, tasks of 50 ms, round %d%s | %d | %.2f ms | %.2f ms | " + f + " |\n", i + 1,
          r == paced ? " (median, in the table at the top)" : "", r.gaps().size(), r.gapP50(), r.gapP99(), r.rate()));
    }
    sb.append(String.format(Locale.ROOT, "| 1 slot, no-op tasks back to back | %d | %.2f ms | %.2f ms | " + f + " |\n",
        single.gaps().size(), single.gapP50(), single.gapP99(), single.rate()));
    sb.append(String.format(Locale.ROOT, "| 16 slots, no-op tasks (saturated) | %d | %.2f ms | %.2f ms | " + f + " |\n",
        allGaps.size(), percentile(allGaps, 50), percentile(allGaps, 99), workerMedian));
    sb.append(String.format(Locale.ROOT, "| 16 slots, tasks of 50 ms, `TRAINQ_EXTRA_PREFETCH=16` (an option, not the default) | %d | "
        + "%.2f ms | %.2f ms | " + f + " |\n\n", pacedExtra.gaps().size(), pacedExtra.gapP50(), pacedExtra.gapP99(), pacedExtra.rate()));
    sb.append("Where the time goes in the median 16-slot, 50 ms round (the worker's own per-task timings, `TRAINQ_LOG_LEVEL=debug`, "
        + "which the 50 ms rounds run with):\n\n");
    sb.append("| step | p50 | p90 |\n| --- | --- | --- |\n");
    Map<String, String> names = Map.of("queued", "delivery handed to its slot", "prepared", "decode, parameter file, process setup",
        "spawned", "`ProcessBuilder.start()`", "ran", "from before the spawn to the exit seen (the task itself included)",
        "reported and acked", "`SUCCEEDED` published, it and `STARTED` confirmed, ack sent");
    breakdown.forEach((k, v) -> sb.append(String.format(Locale.ROOT, "| %s | %.2f ms | %.2f ms |\n", names.getOrDefault(k, k),
        v[0] / 1000, v[1] / 1000)));
    sb.append("\nThe rest of a gap is the broker's: from the ack to the next delivery.\n\n");

    sb.append("## Throughput rounds (same broker, alternating)\n\n");
    sb.append(String.format(Locale.ROOT, "%d tasks per run, pre-published to the job's quorum task queue; the worker's rate is tasks ÷ "
        + "(last task's end − first task's start). PerfTest's is its `receiving rate avg` draining the same number of "
        + "task-sized messages from a quorum queue with `-x 0 -y 1 -q 16` (manual acks, one per message).\n\n", tasks));
    sb.append("| round | PerfTest consumer msg/s | worker tasks/s | ratio | gap p50 | gap p99 |\n| --- | --- | --- | --- | --- | --- |\n");
    for (int i = 0; i < noopRuns.size(); i++) {
      Run r = noopRuns.get(i);
      sb.append(String.format(Locale.ROOT, "| %d | " + f + " | " + f + " | %.2f | %.2f ms | %.2f ms |\n", i + 1, perf.get(i), r.rate(),
          r.rate() / perf.get(i), r.gapP50(), r.gapP99()));
    }
    sb.append("\nCPU per task (per message for PerfTest), from the processes' own counters around each run (`/proc`: the "
        + "client's with its children, the broker's Erlang VM; the JVMs' start-up is included, and the broker is shared with "
        + "whatever else uses it during the run):\n\n");
    sb.append("| round | PerfTest JVM | broker (PerfTest) | worker JVM | task processes | broker (worker) |\n| --- | --- | --- | --- | --- | --- |\n");
    for (int i = 0; i < noopRuns.size(); i++) {
      Cpu pc = perfRuns.get(i).cpu();
      Cpu wc = noopRuns.get(i).cpu();
      sb.append(String.format(Locale.ROOT, "| %d | %.3f ms | %.3f ms | %.3f ms | %.3f ms | %.3f ms |\n", i + 1, pc.client(), pc.broker(),
          wc.client(), wc.tasks(), wc.broker()));
    }
    sb.append(String.format(Locale.ROOT, "\nStart to consuming is the wall time from the launcher's exec to the worker's `consuming` "
        + "log line (JVM start, connect, passive checks, consumer registered): %s ms. Idle RSS of a 16-slot worker 5 s after "
        + "it started consuming: %.1f MiB.\n\n", starts, rssKiB / 1024.0));
    Path notes = report.resolveSibling("REPORT.notes.md");
    Files.writeString(report, sb.toString() + (Files.exists(notes) ? Files.readString(notes) : ""));
  }
}
