package io.trainq.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.rabbitmq.client.Connection;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.trainq.api.TrainingJob;
import io.trainq.api.TrainingJobStatus;
import io.trainq.protocol.JobTopology;
import io.trainq.testkit.RabbitBroker;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The operator as a real process (OperatorMain, against the test API server's kubeconfig), killed
 * with SIGKILL in the middle of publishing a 10 000-task job, and again while it folds the job's
 * events, then restarted each time. A worker (simulated by the protocol's rules) consumes all along.
 * Every index must reach the queue at least once, and the status must count each exactly once.
 */
@Tag("broker")
class OperatorCrashIT {
  static final int TASKS = 10_000;
  final List<Process> processes = new ArrayList<>();
  final List<Path> logs = new ArrayList<>();

  @AfterEach
  void stop() throws Exception {
    for (Process p : processes) {
      if (p.isAlive()) {
        p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    }
    for (Path log : logs) {
      List<String> lines = Files.readAllLines(log);
      System.out.println("--- " + log + " (last 25 lines)");
      lines.subList(Math.max(0, lines.size() - 25), lines.size()).forEach(System.out::println);
    }
  }

  Process startOperator(KubeTestServer kube, RabbitBroker broker, String ns, String eventsQueue) throws Exception {
    Path log = Files.createTempFile("operator-crash-it", ".log");
    logs.add(log);
    ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx256m", "-cp", classpath(), OperatorMain.class.getName())
        .redirectErrorStream(true).redirectOutput(log.toFile());
    Map<String, String> env = pb.environment();
    env.put("KUBECONFIG", kube.kubeconfigFile().toString());
    env.put("TRAINQ_WATCH_NAMESPACES", ns);
    env.put("TRAINQ_RABBITMQ_ADDRESSES", broker.addressList());
    env.put("TRAINQ_RABBITMQ_USERNAME", RabbitBroker.USERNAME);
    env.put("TRAINQ_RABBITMQ_PASSWORD", RabbitBroker.PASSWORD);
    env.put("TRAINQ_EVENTS_QUEUE", eventsQueue);
    env.put("TRAINQ_HTTP_PORT", "0");
    // small batches, so that a kill lands in the middle of publishing
    env.put("TRAINQ_PUBLISH_BATCH", "500");
    env.put("TRAINQ_RESYNC_INTERVAL", "2s");
    Process p = pb.start();
    processes.add(p);
    return p;
  }

  static void sigkill(Process p) throws Exception {
    new ProcessBuilder("kill", "-KILL", Long.toString(p.pid())).inheritIO().start().waitFor();
    assertThat(p.waitFor(10, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as("killed by SIGKILL").isEqualTo(137);
  }

  @Test
  void noIndexMissingNoneCountedTwiceAcrossSigkills() throws Exception {
    KubeTestServer kube = KubeTestServer.get();
    KubernetesClient client = kube.client();
    RabbitBroker broker = RabbitBroker.single();
    String ns = kube.newNamespace("crash");
    String eventsQueue = RabbitBroker.uniqueName("trainq.operator.events");

    TrainingJob tj = client.resources(TrainingJob.class).inNamespace(ns).resource(OperatorHarness.job(ns, "big", TASKS)).create();
    JobTopology job = new JobTopology(ns, "big", tj.getMetadata().getUid());

    Process first = startOperator(kube, broker, ns, eventsQueue);
    // kill in the middle of a batch: part of it on the queue, the stored cursor behind
    await("publishing under way").atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(5)).ignoreExceptions()
        .until(() -> {
          long ready = broker.readyCount(job.taskQueue());
          return ready >= 1_000 && ready % 500 != 0;
        });
    sigkill(first);
    TrainingJobStatus atKill = status(client, ns);
    long onQueue = broker.readyCount(job.taskQueue());
    long storedCursor = atKill == null || atKill.getPublishCursor() == null ? 0 : atKill.getPublishCursor();
    System.out.printf("killed mid-publish: cursor stored %d, tasks on the queue %d%n", storedCursor, onQueue);
    assertThat(onQueue).as("everything below the stored cursor is on the queue, and more: the batch in flight")
        .isGreaterThan(storedCursor);
    assertThat(storedCursor).as("the kill came before publishing finished").isLessThan(TASKS);

    // A worker consumes from now on, through both restarts.
    BitSet delivered = new BitSet();
    AtomicLong deliveries = new AtomicLong();
    AtomicBoolean stop = new AtomicBoolean();
    Thread worker;
    try (Connection amqp = broker.newConnection("OperatorCrashIT"); FakeWorker w = new FakeWorker(amqp, job, "worker-0")) {
      worker = new Thread(() -> {
        try {
          while (!stop.get()) {
            if (w.drain(200, i -> false, i -> {
              synchronized (delivered) {
                delivered.set(i);
              }
              deliveries.incrementAndGet();
            }) == 0) {
              Thread.sleep(50);
            }
          }
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
      }, "fake-worker");
      worker.start();

      Process second = startOperator(kube, broker, ns, eventsQueue);
      await("all published").atMost(Duration.ofSeconds(120)).ignoreExceptions()
          .until(() -> status(client, ns).getPublishCursor() == TASKS);
      // kill as soon as the status has folded part of the events; the worker keeps publishing events
      // (each confirmed before it counts as a delivery), and a status is stored at most every 250 ms
      await("folding under way").atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofMillis(5)).ignoreExceptions()
          .until(() -> status(client, ns).getCounts().getSucceeded() >= 3_000);
      sigkill(second);
      // read after the kill: every event confirmed before the operator died is counted here
      long publishedAtKill = deliveries.get();
      long foldedAtKill = status(client, ns).getCounts().getSucceeded();
      System.out.printf("killed while folding: %d succeeded in the status, %d SUCCEEDED events published%n",
          foldedAtKill, publishedAtKill);
      // mid-fold: events on the queue that the stored status does not count yet, so the next operator
      // must fold them from its restored status (and not count twice those it gets again)
      assertThat(foldedAtKill).as("the status had folded part of the events").isGreaterThanOrEqualTo(3_000);
      assertThat(foldedAtKill).as("the kill came before the status caught up with the events").isLessThan(publishedAtKill);

      startOperator(kube, broker, ns, eventsQueue);
      await("succeeded").atMost(Duration.ofSeconds(180)).pollInterval(Duration.ofSeconds(1)).ignoreExceptions().untilAsserted(() -> {
        TrainingJobStatus s = status(client, ns);
        assertThat(s.getPhase()).isEqualTo("Succeeded");
      });
      stop.set(true);
      worker.join(30_000);
    }
    TrainingJobStatus s = status(client, ns);
    synchronized (delivered) {
      assertThat(delivered.cardinality()).as("every index reached the queue and a worker").isEqualTo(TASKS);
    }
    assertThat(s.getCounts().getSucceeded()).as("each index counted once").isEqualTo(TASKS);
    assertThat(s.getCounts().getDeadLettered()).isZero();
    assertThat(s.getCounts().getTotal()).isEqualTo(TASKS);
    assertThat(s.getSucceededIndexes()).isEqualTo("0-" + (TASKS - 1));
    assertThat(s.getProgress()).isEqualTo(TASKS + "/" + TASKS);
    assertThat(s.getCounts().getRunning()).isZero();
    assertThat(s.getCounts().getRetried()).isZero();
    System.out.printf("%d deliveries for %d tasks: %d republished after the kill were recognised by id and not counted%n",
        deliveries.get(), TASKS, deliveries.get() - TASKS);
    broker.deleteQueue(eventsQueue);
    client.resources(TrainingJob.class).inNamespace(ns).withName("big").delete();
  }

  static TrainingJobStatus status(KubernetesClient client, String ns) {
    TrainingJob tj = client.resources(TrainingJob.class).inNamespace(ns).withName("big").get();
    return tj == null ? null : tj.getStatus();
  }

  private static String classpath;

  /**
   * The test's classpath with its class directories copied aside: other builds in the same working
   * tree may recompile target/classes while the operator process runs.
   */
  static synchronized String classpath() throws java.io.IOException {
    if (classpath == null) {
      Path snapshot = Files.createTempDirectory("operator-classpath");
      List<String> entries = new ArrayList<>();
      int n = 0;
      for (String e : System.getProperty("java.class.path").split(File.pathSeparator)) {
        Path p = Path.of(e);
        if (Files.isDirectory(p)) {
          Path copy = snapshot.resolve(Integer.toString(n++));
          try (var walk = Files.walk(p)) {
            for (Path f : (Iterable<Path>) walk::iterator) {
              Path to = copy.resolve(p.relativize(f).toString());
              if (Files.isDirectory(f)) {
                Files.createDirectories(to);
              } else {
                Files.copy(f, to);
              }
            }
          }
          entries.add(copy.toString());
        } else {
          entries.add(e);
        }
      }
      classpath = String.join(File.pathSeparator, entries);
    }
    return classpath;
  }
}
