package io.trainq.operator.k8s;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.GetResponse;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.trainq.api.TrainingJob;
import io.trainq.engine.JobEvent;
import io.trainq.protocol.ConfirmingPublisher;
import io.trainq.protocol.MalformedMessageException;
import io.trainq.protocol.Messages;
import io.trainq.protocol.TaskMessage;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code trainq.io/requeue-dead-letters} annotation: the dead-letter queue's messages go back to
 * the task queue as first attempts, their indexes pending again, and are acknowledged only once the
 * status that says so is stored.
 */
final class DeadLetterRequeue {
  private static final Logger log = LoggerFactory.getLogger(DeadLetterRequeue.class);
  /** How long a re-queue waits for a dead letter's own event to be folded before it re-publishes anyway. */
  private static final Duration REQUEUE_PATIENCE = Duration.ofSeconds(10);
  private static final int REQUEUE_BATCH = 10_000;

  static boolean asked(TrainingJob job) {
    return job.getMetadata().getAnnotations() != null
        && job.getMetadata().getAnnotations().containsKey(TrainingJob.REQUEUE_DEAD_LETTERS_ANNOTATION);
  }

  static void removeAnnotation(TrainingJob job, Context<TrainingJob> ctx) {
    String path = "/metadata/annotations/" + TrainingJob.REQUEUE_DEAD_LETTERS_ANNOTATION.replace("~", "~0").replace("/", "~1");
    try {
      ctx.getClient().resources(TrainingJob.class).inNamespace(job.getMetadata().getNamespace()).withName(job.getMetadata().getName())
          .patch(PatchContext.of(PatchType.JSON), "[{\"op\":\"remove\",\"path\":\"" + path + "\"}]");
    } catch (KubernetesClientException e) {
      if (e.getCode() != 404 && e.getCode() != 422) {
        throw e;
      }
    }
  }

  /**
   * Moves the dead-letter queue's messages back to the task queue as first attempts. A message whose
   * task is counted dead-lettered is re-published and its index made pending; one whose task
   * succeeded (a duplicate) is dropped; one whose dead letter is not folded yet waits a little (so
   * its late event cannot mark the re-run dead again), then is re-published anyway. The dead letters
   * are acknowledged only after the status that makes them pending is stored.
   */
  Requeue take(JobRuntime rt, Brokers.Broker broker, long nowMs) throws IOException, InterruptedException {
    if (rt.requeueSinceMillis == 0) {
      rt.requeueSinceMillis = nowMs;
    }
    boolean patient = nowMs - rt.requeueSinceMillis < REQUEUE_PATIENCE.toMillis();
    Channel ch = broker.connection.createChannel();
    Requeue r = new Requeue(ch);
    ConfirmingPublisher p = broker.borrow();
    List<CompletableFuture<Void>> confirms = new ArrayList<>();
    BitSet reopen = new BitSet();
    try {
      int seen = 0;
      GetResponse g;
      while (seen < REQUEUE_BATCH && (g = ch.basicGet(rt.topology.deadLetterQueue(), false)) != null) {
        seen++;
        long tag = g.getEnvelope().getDeliveryTag();
        int index;
        try {
          index = JobEvent.decode(rt.topology.key(), g.getProps(), g.getBody()).index();
        } catch (MalformedMessageException e) {
          log.warn("dropping an unreadable dead letter: {}", e.getMessage());
          r.ack.add(tag);
          continue;
        }
        if (index < 0 || index >= rt.total()) {
          r.ack.add(tag);
          continue;
        }
        JobRuntime.TaskState state = rt.state(index);
        if (state == JobRuntime.TaskState.SUCCEEDED) {
          r.ack.add(tag);
        } else if (state == JobRuntime.TaskState.UNFINISHED && patient) {
          r.deferred.add(tag);
        } else {
          TaskMessage t = rt.plan.task(rt.uid, index);
          confirms.add(p.publish("", rt.topology.taskQueue(), Messages.taskProperties(t), Messages.encodeTask(t)));
          r.ack.add(tag);
          r.republished++;
          if (state == JobRuntime.TaskState.DEAD_LETTERED) {
            reopen.set(index);
          }
        }
      }
      r.drained = seen < REQUEUE_BATCH;
      for (CompletableFuture<Void> f : confirms) {
        ConfirmingPublisher.await(f, Duration.ofSeconds(30));
      }
    } catch (ConfirmingPublisher.PublishException e) {
      r.abandon();
      throw new IOException("re-queue of dead letters: " + e.getMessage(), e);
    } catch (IOException | RuntimeException e) {
      r.abandon();
      throw e;
    } finally {
      broker.release(p);
    }
    // deferred ones go back now, so the next round sees them again
    for (long tag : r.deferred) {
      ch.basicNack(tag, false, true);
    }
    rt.reopen(reopen);
    // the queue has work again: size the pool from its depth now, not at the next resync
    rt.queuedAtNanos = 0;
    return r;
  }

  /** Dead letters taken from their queue, acknowledged once the status is stored. */
  static final class Requeue {
    final Channel channel;
    final List<Long> ack = new ArrayList<>();
    final List<Long> deferred = new ArrayList<>();
    int republished;
    boolean drained;

    Requeue(Channel channel) {
      this.channel = channel;
    }

    boolean finished() {
      return drained && deferred.isEmpty();
    }

    void acknowledge() throws IOException {
      try {
        for (long tag : ack) {
          channel.basicAck(tag, false);
        }
      } finally {
        abandon();
      }
    }

    /** Closing the channel returns what was not acknowledged to the dead-letter queue. */
    void abandon() {
      try {
        if (channel.isOpen()) {
          channel.close();
        }
      } catch (IOException | java.util.concurrent.TimeoutException | RuntimeException ignored) {
        // the broker requeues whatever was not acknowledged
      }
    }
  }
}
