package io.trainq.operator.bench;

import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.trainq.api.TrainingJob;
import io.trainq.operator.OperatorHarness;
import io.trainq.operator.KubeTestServer;
import io.trainq.operator.OperatorMain;
import io.trainq.engine.Intervals;
import io.trainq.protocol.ConfirmingPublisher;
import io.trainq.protocol.JobTopology;
import io.trainq.protocol.Messages;
import io.trainq.protocol.TaskEvent;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Status lag and heap with many jobs: the operator runs as its own process (-Xmx256m) against a
 * kube-api-test API server and RabbitMQ; J jobs of T tasks each are created (so the operator
 * publishes J×T tasks and keeps J folds), then workers' events (STARTED, SUCCEEDED) for E tasks of
 * every job are published at a steady rate, round-robin over the jobs. A watch on the jobs sees
 * each index appear in status.succeededIndexes; its lag is that moment minus the event's publish.
 *
 * <pre>
 *   StatusLagBench &lt;amqp uri&gt; &lt;jobs&gt; &lt;tasks per job&gt; &lt;events per job&gt; &lt;tasks/s&gt; &lt;operator classpath&gt;
 * </pre>
 *
 * <p>Exit code 0 only when every event's index reached the statuses and was counted once; 1 on an
 * exception, a timeout or a wrong count, with the reason on stderr (bench/operator/run.sh records it).
 */
public final class StatusLagBench {
  private StatusLagBench() {}

  public static void main(String[] args) throws Exception {
    String uri = args[0];
    int jobs = Integer.parseInt(args[1]);
    int tasksPerJob = Integer.parseInt(args[2]);
    int eventsPerJob = Integer.parseInt(args[3]);
    int rate = Integer.parseInt(args[4]);
    String operatorClasspath = args[5];
    URI amqp = URI.create(uri);

    KubeTestServer kube = KubeTestServer.get();
    KubernetesClient client = kube.client();
    String ns = kube.newNamespace("lag");
    int httpPort;
    try (ServerSocket s = new ServerSocket(0)) {
      httpPort = s.getLocalPort();
    }
    Path log = Files.createTempFile("status-lag-operator", ".log");
    ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx256m", "-XX:+ExitOnOutOfMemoryError", "-cp", operatorClasspath, OperatorMain.class.getName())
        .redirectErrorStream(true).redirectOutput(log.toFile());
    Map<String, String> env = pb.environment();
    env.put("KUBECONFIG", kube.kubeconfigFile().toString());
    env.put("TRAINQ_WATCH_NAMESPACES", ns);
    env.put("TRAINQ_RABBITMQ_URI", uri);
    env.put("TRAINQ_EVENTS_QUEUE", "trainq.bench.events." + ns);
    env.put("TRAINQ_HTTP_PORT", Integer.toString(httpPort));
    env.put("TRAINQ_STATUS_INTERVAL", System.getProperty("statusInterval", "250ms"));
    Process operator = pb.start();
    int code = 1;
    try {
      String failure = run(client, ns, amqp, jobs, tasksPerJob, eventsPerJob, rate, operator, httpPort, log);
      if (failure == null) {
        code = 0;
      } else {
        System.err.println("StatusLagBench FAILED: " + failure);
      }
    } catch (Exception e) {
      System.err.println("StatusLagBench FAILED: " + e);
      e.printStackTrace();
    } finally {
      operator.destroy();
      operator.waitFor(30, TimeUnit.SECONDS);
      System.out.println("operator log: " + log);
      // exit: the API server and informer threads would keep the JVM alive
      System.exit(code);
    }
  }

  /** Runs the measurement; returns why its result is not valid, or null when it is. */
  private static String run(KubernetesClient client, String ns, URI uri, int jobs, int tasksPerJob, int eventsPerJob, int rate,
      Process operator, int httpPort, Path log) throws Exception {
    List<TrainingJob> created = new ArrayList<>();
    long t0 = System.nanoTime();
    for (int j = 0; j < jobs; j++) {
      TrainingJob tj = OperatorHarness.job(ns, String.format("job-%03d", j), tasksPerJob);
      created.add(client.resources(TrainingJob.class).inNamespace(ns).resource(tj).create());
    }
    AtomicLong maxHeap = new AtomicLong();
    Thread sampler = new Thread(() -> {
      while (!Thread.currentThread().isInterrupted()) {
        heap(httpPort).ifPresent(h -> maxHeap.accumulateAndGet(h, Math::max));
        try {
          Thread.sleep(500);
        } catch (InterruptedException e) {
          return;
        }
      }
    }, "heap-sampler");
    sampler.setDaemon(true);
    sampler.start();
    while (true) {
      long done = client.resources(TrainingJob.class).inNamespace(ns).list().getItems().stream()
          .filter(j -> j.getStatus() != null && j.getStatus().getPublishCursor() != null && j.getStatus().getPublishCursor() == tasksPerJob)
          .count();
      if (done == jobs) {
        break;
      }
      if (!operator.isAlive()) {
        return "the operator exited (" + operator.exitValue() + ") before publishing every task; see " + log;
      }
      Thread.sleep(200);
    }
    double publishSeconds = (System.nanoTime() - t0) / 1e9;
    System.out.printf(Locale.ROOT, "jobs=%d tasks=%d all published with confirms in %.1f s (%.0f tasks/s incl. creating the jobs)%n",
        jobs, jobs * tasksPerJob, publishSeconds, jobs * tasksPerJob / publishSeconds);

    // index -> publish time of its SUCCEEDED event, per job
    Map<String, long[]> sentAt = new ConcurrentHashMap<>();
    Map<String, BitSet> seen = new ConcurrentHashMap<>();
    List<Long> lagsMicros = Collections.synchronizedList(new ArrayList<>());
    for (TrainingJob tj : created) {
      long[] a = new long[eventsPerJob];
      java.util.Arrays.fill(a, Long.MAX_VALUE);
      sentAt.put(tj.getMetadata().getName(), a);
      seen.put(tj.getMetadata().getName(), new BitSet());
    }
    SharedIndexInformer<TrainingJob> informer = client.resources(TrainingJob.class).inNamespace(ns).inform(new ResourceEventHandler<>() {
      @Override
      public void onAdd(TrainingJob obj) {}

      @Override
      public void onUpdate(TrainingJob old, TrainingJob now) {
        long at = System.nanoTime();
        if (now.getStatus() == null || now.getStatus().getSucceededIndexes() == null) {
          return;
        }
        String name = now.getMetadata().getName();
        BitSet s = Intervals.parse(now.getStatus().getSucceededIndexes());
        BitSet before = seen.get(name);
        long[] sent = sentAt.get(name);
        synchronized (before) {
          BitSet fresh = (BitSet) s.clone();
          fresh.andNot(before);
          for (int i = fresh.nextSetBit(0); i >= 0 && i < sent.length; i = fresh.nextSetBit(i + 1)) {
            lagsMicros.add((at - sent[i]) / 1000);
          }
          before.or(s);
        }
      }

      @Override
      public void onDelete(TrainingJob obj, boolean unknown) {}
    }, 0);

    com.rabbitmq.client.ConnectionFactory f = new ConnectionFactory();
    f.setUri(uri);
    long t1;
    try (Connection c = f.newConnection("trainq StatusLagBench"); ConfirmingPublisher p = new ConfirmingPublisher(c.createChannel())) {
      long intervalNanos = 1_000_000_000L / rate;
      long next = System.nanoTime();
      t1 = next;
      List<CompletableFuture<Void>> pending = new ArrayList<>();
      for (int i = 0; i < eventsPerJob; i++) {
        for (TrainingJob tj : created) {
          JobTopology job = new JobTopology(ns, tj.getMetadata().getName(), tj.getMetadata().getUid());
          long wait = next - System.nanoTime();
          if (wait > 0) {
            Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
          }
          next += intervalNanos;
          for (TaskEvent.Type type : new TaskEvent.Type[] {TaskEvent.Type.STARTED, TaskEvent.Type.SUCCEEDED}) {
            boolean end = type == TaskEvent.Type.SUCCEEDED;
            TaskEvent e = new TaskEvent(TaskEvent.SCHEMA, type, job.key(), job.uid(), i, 1, "bench-worker", 0, end ? 0 : null,
                end ? 1000L : null, end ? 1.0 : null, null, null, System.currentTimeMillis());
            if (end) {
              sentAt.get(tj.getMetadata().getName())[i] = System.nanoTime();
            }
            pending.add(p.publish(JobTopology.EVENTS_EXCHANGE, job.key(), Messages.eventProperties(e), Messages.encodeEvent(e)));
          }
          if (pending.size() > 2000) {
            for (CompletableFuture<Void> x : pending) {
              ConfirmingPublisher.await(x, Duration.ofSeconds(30));
            }
            pending.clear();
          }
        }
      }
      for (CompletableFuture<Void> x : pending) {
        ConfirmingPublisher.await(x, Duration.ofSeconds(30));
      }
    }
    double sendSeconds = (System.nanoTime() - t1) / 1e9;
    long deadline = System.nanoTime() + Duration.ofMinutes(5).toNanos();
    while (lagsMicros.size() < (long) jobs * eventsPerJob && System.nanoTime() < deadline) {
      Thread.sleep(200);
    }
    int seenInStatus = lagsMicros.size();
    informer.close();
    sampler.interrupt();
    new ProcessBuilder("jcmd", Long.toString(operator.pid()), "GC.run").redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor();
    Thread.sleep(500);
    long liveHeap = heap(httpPort).orElse(-1L);
    String metrics = scrape(httpPort);
    for (String name : new String[] {"trainq_reconciliations_total{result=\"success\"}", "trainq_reconciliations_total{result=\"error\"}",
        "trainq_status_patches_total", "trainq_events_acknowledged_total"}) {
      Matcher m = Pattern.compile(Pattern.quote(name) + " (\\d+)").matcher(metrics);
      System.out.println("operator " + name + " = " + (m.find() ? m.group(1) : "?"));
    }

    List<Long> lags = new ArrayList<>(lagsMicros);
    Collections.sort(lags);
    System.out.printf(Locale.ROOT, "events: %d tasks x 2 events over %d jobs at %d tasks/s, sent in %.1f s%n",
        jobs * eventsPerJob, jobs, rate, sendSeconds);
    System.out.printf(Locale.ROOT, "status lag (event published -> index in status.succeededIndexes, seen by a watch): n=%d p50=%.0f ms p90=%.0f ms p99=%.0f ms max=%.0f ms%n",
        lags.size(), pct(lags, 0.50), pct(lags, 0.90), pct(lags, 0.99), lags.isEmpty() ? 0.0 : lags.get(lags.size() - 1) / 1000.0);
    long counted = client.resources(TrainingJob.class).inNamespace(ns).list().getItems().stream()
        .mapToLong(j -> j.getStatus().getCounts().getSucceeded()).sum();
    System.out.printf(Locale.ROOT, "succeeded counted in the statuses: %d (expected %d)%n", counted, (long) jobs * eventsPerJob);
    System.out.printf(Locale.ROOT, "operator heap (-Xmx256m): max used %.1f MiB during the run, %.1f MiB live after a full GC; alive=%s%n",
        maxHeap.get() / 1048576.0, liveHeap / 1048576.0, operator.isAlive());
    long expected = (long) jobs * eventsPerJob;
    if (seenInStatus < expected) {
      return "timed out after 5 min waiting for the statuses: " + seenInStatus + " of " + expected
          + " indexes seen in status.succeededIndexes (the lags above are of those only); see " + log;
    }
    if (counted != expected) {
      return "the statuses count " + counted + " succeeded, expected " + expected + "; see " + log;
    }
    if (!operator.isAlive()) {
      return "the operator exited (" + operator.exitValue() + ") during the run; see " + log;
    }
    return null;
  }

  private static double pct(List<Long> sorted, double q) {
    if (sorted.isEmpty()) {
      return 0;
    }
    int i = (int) Math.min(sorted.size() - 1, Math.ceil(q * sorted.size()) - 1);
    return sorted.get(Math.max(0, i)) / 1000.0;
  }

  private static String scrape(int port) {
    try {
      return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
          .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString()).body();
    } catch (Exception e) {
      return "";
    }
  }

  private static java.util.Optional<Long> heap(int port) {
    try {
      String body = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
          .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.ofString()).body();
      // one series per heap pool: their sum
      Matcher m = Pattern.compile("jvm_memory_used_bytes\\{area=\"heap\",[^}]*} ([0-9.E+]+)").matcher(body);
      double sum = 0;
      boolean any = false;
      while (m.find()) {
        sum += Double.parseDouble(m.group(1));
        any = true;
      }
      return any ? java.util.Optional.of((long) sum) : java.util.Optional.empty();
    } catch (Exception e) {
      return java.util.Optional.empty();
    }
  }
}
