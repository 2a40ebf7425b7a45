package io.trainq.operator.k8s;

import io.fabric8.kubernetes.api.model.Secret;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.trainq.api.TrainingJob;
import io.trainq.api.TrainingJobSpec;
import io.trainq.engine.Conditions;
import io.trainq.engine.TopologyDeclarer;
import io.trainq.operator.OperatorConfig;
import java.io.IOException;
import java.time.Duration;

/**
 * Observes how a job stands with its broker: the connection Secret, the connection, the operator's
 * events stream, and the job's queues (declared when they are not known to be there, and every 5
 * minutes, so that a queue deleted by hand comes back).
 */
final class BrokerReadiness {
  /** Queues are declared again now and then, so that queues deleted by hand come back. */
  private static final Duration REDECLARE = Duration.ofMinutes(5);

  private final OperatorConfig config;
  private final Brokers brokers;
  private final SecretCache secrets;
  private final EventRecorder events;

  BrokerReadiness(OperatorConfig config, Brokers brokers, SecretCache secrets, EventRecorder events) {
    this.config = config;
    this.brokers = brokers;
    this.secrets = secrets;
    this.events = events;
  }

  /**
   * Where the job stands with its broker.
   *
   * @param broker the connected broker, or null
   * @param secretName the connection Secret the worker pods read
   * @param secret that Secret, or null when it does not exist
   */
  record State(Conditions.Broker state, String message, Brokers.Broker broker, String secretName, Secret secret) {
    /** The queues are there: workers may run (a blocked broker holds back publishes only). */
    boolean ready() {
      return state.queuesReady();
    }

    /** Tasks may be published: the queues are there and no resource alarm blocks the connection. */
    boolean canPublish() {
      return state == Conditions.Broker.READY;
    }
  }

  State observe(TrainingJob job, Context<TrainingJob> ctx, JobRuntime rt, long nowMs) throws InterruptedException {
    TrainingJobSpec spec = job.getSpec();
    String ns = job.getMetadata().getNamespace();
    String secretName = spec.getRabbitmq() != null ? spec.getRabbitmq().getSecretRef().getName() : config.rabbitmqSecret();
    Secret secret = secrets.get(ctx, ns, secretName);
    Conditions.Broker brokerState = Conditions.Broker.UNKNOWN;
    String brokerMessage = null;
    Brokers.Broker broker = null;
    String tlsName = JobConnection.tlsSecretName(spec.getRabbitmq());
    Secret tlsSecret = tlsName == null ? null : secrets.get(ctx, ns, tlsName);
    JobConnection.Resolved conn = JobConnection.resolve(spec.getRabbitmq(), secret, tlsSecret, ns, config.rabbitmq());
    if (conn.settings() == null) {
      brokerState = Conditions.Broker.SECRET_MISSING;
      brokerMessage = conn.problem();
      events.warnOnce(rt, job, EventRecorder.Reason.ConnectionSecretMissing, brokerMessage);
    } else {
      try {
        broker = brokers.get(conn.settings());
      } catch (IOException e) {
        brokerState = Conditions.Broker.UNREACHABLE;
        brokerMessage = e.getMessage();
        secrets.forget(ns, secretName);
        if (tlsName != null) {
          secrets.forget(ns, tlsName);
        }
        events.warnOnce(rt, job, EventRecorder.Reason.BrokerUnavailable, brokerMessage);
      }
    }
    if (broker != null) {
      if (broker.eventsProblem() != null) {
        brokerState = Conditions.Broker.MISMATCH;
        brokerMessage = broker.eventsProblem();
        events.warnOnce(rt, job, EventRecorder.Reason.TopologyMismatch, brokerMessage);
      } else {
        if (!rt.topologyReady || nowMs - rt.lastDeclareMillis > REDECLARE.toMillis()) {
          try {
            TopologyDeclarer.Result r = broker.declarer.declare(rt.topology, rt.settings);
            rt.lastDeclareMillis = nowMs;
            if (r.ok()) {
              if (!rt.topologyReady) {
                events.record(job, EventRecorder.Reason.QueuesDeclared, "declared " + rt.topology.taskQueue() + " and its dead-letter and retry queues");
              }
              rt.topologyReady = true;
            } else {
              rt.topologyReady = false;
              brokerState = Conditions.Broker.MISMATCH;
              brokerMessage = r.object() + ": " + r.detail();
              events.warnOnce(rt, job, EventRecorder.Reason.TopologyMismatch, brokerMessage);
            }
          } catch (IOException e) {
            rt.topologyReady = false;
            brokerState = Conditions.Broker.UNREACHABLE;
            brokerMessage = "declaring queues: " + e.getMessage();
          }
        }
        if (rt.topologyReady) {
          brokerState = Conditions.Broker.READY;
          String blocked = broker.blockedReason();
          if (blocked != null) {
            brokerState = Conditions.Broker.BLOCKED;
            brokerMessage = "RabbitMQ blocks publishing: " + blocked + " (a resource alarm); running tasks go on, "
                + "their outcomes and new tasks wait until it clears, and nothing is lost";
          }
          if (!java.util.Objects.equals(blocked, rt.brokerBlocked)) {
            if (blocked != null) {
              events.record(job, EventRecorder.Reason.BrokerBlocked, brokerMessage);
            } else {
              events.record(job, EventRecorder.Reason.BrokerUnblocked, "RabbitMQ publishes again: the resource alarm cleared");
            }
            rt.brokerBlocked = blocked;
          }
        }
      }
    }
    if (spec.getRabbitmq() == null && secret == null) {
      events.warnOnce(rt, job, EventRecorder.Reason.ConnectionSecretMissing, "worker pods read the connection from Secret " + secretName
          + " in namespace " + ns + " (keys username, password, host, port), which does not exist");
    }
    return new State(brokerState, brokerMessage, broker, secretName, secret);
  }
}
