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
    if (spec.getRabbitmq() == null && secret == null && !config.perJobBrokerUsers()) {
      events.warnOnce(rt, job, EventRecorder.Reason.ConnectionSecretMissing, "worker pods read the connection from Secret " + secretName
          + " in namespace " + ns + " (keys username, password, host, port), which does not exist");
    }
    if (config.perJobBrokerUsers() && brokerState.queuesReady()) {
      // the worker pods connect as the job's own user instead, from a Secret of the job's own
      try {
        Secret own = workerUser(job, ctx, rt, conn.settings());
        return new State(brokerState, brokerMessage, broker, own.getMetadata().getName(), own);
      } catch (IOException | RuntimeException e) {
        rt.workerUserReady = false;
        String why = "making the job's own broker user: " + e.getMessage();
        events.warnOnce(rt, job, EventRecorder.Reason.BrokerUnavailable, why);
        return new State(Conditions.Broker.UNREACHABLE, why, broker, secretName, secret);
      }
    }
    return new State(brokerState, brokerMessage, broker, secretName, secret);
  }

  /**
   * The Secret with the job's own broker user (username, password, addresses), made with a new
   * password when missing and owned by the job, so that it goes with it; the user is made (or its
   * password and permissions set again) through the management API once per operator run.
   */
  private Secret workerUser(TrainingJob job, Context<TrainingJob> ctx, JobRuntime rt, io.trainq.protocol.RabbitSettings admin)
      throws IOException, InterruptedException {
    String ns = job.getMetadata().getNamespace();
    String name = Names.brokerUserSecret(job);
    Secret own = secrets.get(ctx, ns, name);
    if (own == null) {
      Secret made = new io.fabric8.kubernetes.api.model.SecretBuilder()
          .withNewMetadata().withName(name).withNamespace(ns).withLabels(Names.workerLabels(job))
            .withOwnerReferences(Names.controllerRef(job)).endMetadata()
          .withType("Opaque")
          .withStringData(java.util.Map.of("username", BrokerUsers.userName(rt.topology), "password", BrokerUsers.newPassword(),
              "addresses", admin.addressList()))
          .build();
      try {
        own = ctx.getClient().secrets().inNamespace(ns).resource(made).create();
      } catch (io.fabric8.kubernetes.client.KubernetesClientException e) {
        if (e.getCode() != 409) {
          throw new IOException("creating Secret " + name + ": " + e.getMessage(), e);
        }
        own = ctx.getClient().secrets().inNamespace(ns).withName(name).get();
      }
      secrets.forget(ns, name);
      rt.workerUserReady = false;
    }
    if (!rt.workerUserReady) {
      String password = JobConnection.decode(own).get("password");
      if (password == null) {
        throw new IOException("Secret " + name + " has no key 'password'; delete it and the operator makes a new one");
      }
      BrokerUsers.ensure(admin, BrokerUsers.managementUrl(job, config, admin), rt.topology, password);
      rt.workerUserReady = true;
      events.record(job, EventRecorder.Reason.BrokerUserReady, "worker pods connect as broker user " + BrokerUsers.userName(rt.topology)
          + ", limited to the job's queues (Secret " + name + ")");
    }
    return own;
  }
}
