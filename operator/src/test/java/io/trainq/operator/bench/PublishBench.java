package io.trainq.operator.bench;

import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import io.trainq.engine.TaskPlan;
import io.trainq.engine.TaskPublisher;
import io.trainq.engine.TopologyDeclarer;
import io.trainq.protocol.ConfirmingPublisher;
import io.trainq.protocol.JobSettings;
import io.trainq.protocol.JobTopology;
import io.trainq.protocol.Messages;
import io.trainq.protocol.TaskMessage;
import java.time.Duration;
import java.util.Locale;
import java.util.UUID;

/**
 * Publishing throughput of {@link TaskPublisher}: a fresh job's task queue (a quorum queue with the
 * contract's arguments), N tasks published with confirms, in one call or in the reconciler's
 * batches, with a given window of unconfirmed publishes. Prints one line per run:
 * {@code taskpublisher window=100 batch=10000 tasks=10000 seconds=0.853 rate=11723 msg/s}.
 *
 * <pre>
 *   PublishBench &lt;amqp uri&gt; &lt;tasks&gt; &lt;window&gt; &lt;batch&gt; [runs]   (window 0: one synchronous confirm per message)
 * </pre>
 *
 * <p>With several runs, each publishes a new job in the same JVM: the first is the operator's first
 * job (its encoder warmed at start, as {@code TrainqOperator} does, the AMQP client not), the later
 * ones are how a long-running operator publishes. With {@code cold} as a sixth argument nothing is
 * warmed: the first run then shows a brand-new JVM.
 * <pre>
 * </pre>
 */
public final class PublishBench {
  private PublishBench() {}

  public static void main(String[] args) throws Exception {
    String uri = args[0];
    int tasks = Integer.parseInt(args[1]);
    int window = Integer.parseInt(args[2]);
    int batch = Integer.parseInt(args[3]);
    int runs = args.length > 4 ? Integer.parseInt(args[4]) : 1;
    boolean cold = args.length > 5 && args[5].equals("cold");
    if (!cold) {
      TaskPublisher.warmUp(20_000);
    }
    ConnectionFactory f = new ConnectionFactory();
    f.setUri(uri);
    try (Connection c = f.newConnection("trainq PublishBench")) {
      for (int run = 1; run <= runs; run++) {
        String first = cold ? " (cold JVM)" : " (first job: encoder warmed, AMQP client cold)";
        once(c, tasks, window, batch, runs == 1 ? "" : run == 1 ? first : " (warm JVM, run " + run + ")");
      }
    }
  }

  private static void once(Connection c, int tasks, int window, int batch, String note) throws Exception {
    {
      JobTopology job = new JobTopology("bench", "publish-" + UUID.randomUUID().toString().substring(0, 8), UUID.randomUUID().toString());
      JobSettings settings = new JobSettings(3, Duration.ofSeconds(10), Duration.ofMinutes(10), Duration.ofHours(24), null, 10);
      TopologyDeclarer d = new TopologyDeclarer(c);
      if (!d.declare(job, settings).ok()) {
        throw new IllegalStateException("cannot declare " + job.taskQueue());
      }
      TaskPlan plan = TaskPlan.ofCount(tasks);
      try (ConfirmingPublisher cp = new ConfirmingPublisher(c.createChannel())) {
        long t0 = System.nanoTime();
        if (window == 0) {
          // the original design's sender: publish, wait for the confirm, next
          for (int i = 0; i < tasks; i++) {
            TaskMessage t = plan.task(job.uid(), i);
            cp.publishAndWait("", job.taskQueue(), Messages.taskProperties(t), Messages.encodeTask(t), Duration.ofSeconds(30));
          }
        } else {
          TaskPublisher p = new TaskPublisher(cp, window);
          long cursor = 0;
          while (cursor < tasks) {
            TaskPublisher.Result r = p.publish(job, plan, cursor, batch, Duration.ofSeconds(60));
            if (!r.complete()) {
              throw r.failure();
            }
            cursor = r.cursor();
          }
        }
        double s = (System.nanoTime() - t0) / 1e9;
        long onQueue = d.inspect(job.taskQueue()).orElseThrow().ready();
        if (onQueue != tasks) {
          throw new IllegalStateException(onQueue + " tasks on the queue, expected " + tasks);
        }
        System.out.printf(Locale.ROOT, "%s window=%d batch=%d tasks=%d seconds=%.3f rate=%.0f msg/s%s%n",
            window == 0 ? "synchronous" : "taskpublisher", window, window == 0 ? 1 : batch, tasks, s, tasks / s, note);
      } finally {
        d.delete(job, settings);
      }
    }
  }
}
