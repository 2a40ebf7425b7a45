package io.trainq.worker;

import static io.trainq.worker.JobFixture.indexes;
import static io.trainq.worker.JobFixture.ofType;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.trainq.protocol.TaskEvent;
import io.trainq.protocol.TaskEvent.Type;
import io.trainq.testkit.RabbitBroker;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A 3-node cluster loses the node the worker is connected to, mid-run, and gets it back. */
@Tag("broker")
class BrokerRestartIT {
  static RabbitBroker broker;

  @TempDir
  Path dir;

  @BeforeAll
  static void broker() {
    broker = RabbitBroker.cluster();
  }

  @AfterAll
  static void healthy() {
    broker.ensureAllNodesRunning();
  }

  @Test
  void theWorkerRidesOutARestartOfItsNode() throws Exception {
    int n = 80;
    try (JobFixture job = new JobFixture(broker, JobFixture.settings(3, Duration.ofMinutes(1)))) {
      List<String> task = Scripts.sh(dir, "task.sh", "sleep 0.25; echo \"$i $a\" >> $D/runs.log");
      job.publishTasks(n);
      try (WorkerProcess w = WorkerProcess.start("w1", job.workerEnv(4), dir, task)) {
        job.awaitSucceeded(15, Duration.ofMinutes(1), w);
        String node = connectedNode("trainq-worker w1");
        broker.stopNode(node);
        try {
          job.awaitSucceeded(n / 2, Duration.ofMinutes(2), w);
        } finally {
          broker.startNode(node);
        }
        List<TaskEvent> events = job.awaitSucceeded(n, Duration.ofMinutes(2), w);
        assertThat(w.alive()).as("the worker never exited" + WorkerProcess.logs(w)).isTrue();
        Thread.sleep(1000);
        events = job.events();
        assertThat(indexes(events, Type.SUCCEEDED))
            .isEqualTo(IntStream.range(0, n).boxed().collect(Collectors.toSet()));
        assertThat(ofType(events, Type.SUCCEEDED)).as("a lost connection does not spend the budget").allMatch(e -> e.attempt() == 1);
        assertThat(ofType(events, Type.RETRYING)).isEmpty();
        assertThat(ofType(events, Type.DEAD_LETTERED)).isEmpty();
        assertThat(job.deadLetters()).isEmpty();
        assertThat(job.readyEverywhere()).isZero();
        assertThat(w.log()).contains("connection to RabbitMQ recovered");
        w.term();
        assertThat(w.awaitExit(Duration.ofSeconds(30))).as(WorkerProcess.logs(w)).isZero();
      }
    }
  }

  /** The node a named client connection is on, from the management API. */
  private static String connectedNode(String connectionName) throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    String auth = "Basic " + Base64.getEncoder().encodeToString(
        (RabbitBroker.USERNAME + ":" + RabbitBroker.PASSWORD).getBytes(StandardCharsets.UTF_8));
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (true) {
      for (int i = 0; i < broker.size(); i++) {
        try {
          HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + broker.managementPort(i)
              + "/api/connections")).header("Authorization", auth).GET().build(), HttpResponse.BodyHandlers.ofString());
          for (JsonNode c : new ObjectMapper().readTree(r.body())) {
            if (connectionName.equals(c.path("client_properties").path("connection_name").asText())) {
              return c.path("node").asText();
            }
          }
          break;
        } catch (java.io.IOException e) {
          // that node's management API is down; ask another
        }
      }
      if (System.nanoTime() > deadline) {
        throw new AssertionError("no connection named " + connectionName);
      }
      Thread.sleep(250);
    }
  }
}
