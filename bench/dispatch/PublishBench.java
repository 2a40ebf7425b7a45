import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import io.trainq.engine.TaskPlan;
import io.trainq.engine.TaskPublisher;
import io.trainq.engine.TopologyDeclarer;
import io.trainq.protocol.ConfirmingPublisher;
import io.trainq.protocol.JobSettings;
import io.trainq.protocol.JobTopology;
import java.time.Duration;
import java.util.Locale;
import java.util.UUID;

/**
 * trainq's publish path, for the dispatch benchmark (bench.py compiles it against trainq-cli.jar):
 * a fresh job's task queue declared as the operator and {@code trainq run} declare it (a quorum
 * queue with the contract's arguments), then N persistent, mandatory task messages published with
 * confirms by {@link TaskPublisher} with its default window, in {@code trainq run}'s batches of 2 000.
 *
 * <pre>
 *   PublishBench &lt;amqp uri&gt; &lt;tasks&gt; cold|warm
 * </pre>
 *
 * {@code cold}: a brand-new JVM, as {@code trainq run} publishes; {@code warm}: the encoder warmed
 * first, as the operator does at start ({@code TaskPublisher.warmUp}). Prints
 * {@code tasks=N seconds=S rate=R}.
 */
public final class PublishBench {
  private static final int BATCH = 2_000;

  public static void main(String[] args) throws Exception {
    String uri = args[0];
    int tasks = Integer.parseInt(args[1]);
    if (args[2].equals("warm")) {
      TaskPublisher.warmUp(20_000);
    }
    ConnectionFactory f = new ConnectionFactory();
    f.setUri(uri);
    try (Connection c = f.newConnection("trainq-bench-publish")) {
      JobTopology job = new JobTopology("bench", "publish-" + UUID.randomUUID().toString().substring(0, 8), UUID.randomUUID().toString());
      JobSettings settings = new JobSettings(3, Duration.ofSeconds(10), Duration.ofMinutes(10), Duration.ofHours(24), null,
          JobSettings.DEFAULT_DELIVERY_LIMIT);
      TopologyDeclarer d = new TopologyDeclarer(c);
      if (!d.declare(job, settings).ok()) {
        throw new IllegalStateException("cannot declare " + job.taskQueue());
      }
      try (ConfirmingPublisher cp = new ConfirmingPublisher(c.createChannel())) {
        TaskPlan plan = TaskPlan.ofCount(tasks);
        TaskPublisher p = new TaskPublisher(cp, TaskPublisher.DEFAULT_WINDOW);
        long t0 = System.nanoTime();
        long cursor = 0;
        while (cursor < tasks) {
          TaskPublisher.Result r = p.publish(job, plan, cursor, BATCH, Duration.ofSeconds(60));
          if (!r.complete()) {
            throw r.failure();
          }
          cursor = r.cursor();
        }
        double s = (System.nanoTime() - t0) / 1e9;
        long onQueue = d.inspect(job.taskQueue()).orElseThrow().ready();
        if (onQueue != tasks) {
          throw new IllegalStateException(onQueue + " tasks on the queue, expected " + tasks);
        }
        System.out.printf(Locale.ROOT, "tasks=%d seconds=%.3f rate=%.0f%n", tasks, s, tasks / s);
      } finally {
        d.delete(job, settings);
      }
    }
  }
}
