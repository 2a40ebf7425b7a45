package io.trainq.operator.k8s;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.api.model.MicroTime;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.trainq.api.TrainingJob;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Kubernetes Events about TrainingJobs, with a closed set of reasons. A repeated event (same job,
 * reason and message) raises the count of the existing one instead of adding another. Recording is
 * best effort: a failure is logged, never fails the reconciliation.
 */
final class EventRecorder {
  private static final Logger log = LoggerFactory.getLogger(EventRecorder.class);

  /** Every reason the operator reports. */
  enum Reason {
    QueuesDeclared(false),
    TopologyMismatch(true),
    BrokerUnavailable(true),
    BrokerBlocked(true),
    BrokerUnblocked(false),
    ConnectionSecretMissing(true),
    BrokerUserReady(false),
    InvalidSpec(true),
    PublishingStarted(false),
    TasksPublished(false),
    PublishFailed(true),
    WorkerCreated(false),
    WorkerDeleted(false),
    WorkerLost(true),
    Suspended(false),
    Resumed(false),
    DeadLettersRequeued(false),
    Completed(false),
    Failed(true),
    CleanupFailed(true),
    WorkersBlocked(true),
    WorkersUnblocked(false),
    TasksLost(true),
    TasksRepublished(false),
    StrayMessages(true),
    Expired(false),
    WorkloadCreated(false),
    QuotaPending(false),
    QuotaAdmitted(false),
    QuotaEvicted(false),
    QuotaReclaimable(false),
    QuotaReleased(false);

    final boolean warning;

    Reason(boolean warning) {
      this.warning = warning;
    }
  }

  private final KubernetesClient client;
  private final String component;
  private final String host;
  private final Clock clock;
  private final Map<String, Integer> counts = new ConcurrentHashMap<>();

  EventRecorder(KubernetesClient client, String component, String host, Clock clock) {
    this.client = client;
    this.component = component;
    this.host = host;
    this.clock = clock;
  }

  void record(TrainingJob job, Reason reason, String message) {
    String ns = job.getMetadata().getNamespace();
    String name = job.getMetadata().getName() + "." + digest(job.getMetadata().getUid() + reason + message);
    Instant instant = Instant.now(clock);
    // Event times: RFC 3339 in seconds; eventTime (MicroTime) with exactly six fractional digits
    String now = instant.truncatedTo(ChronoUnit.SECONDS).toString();
    String micro = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSSSSX").withZone(ZoneOffset.UTC).format(instant);
    try {
      Integer seen = counts.get(ns + "/" + name);
      if (seen != null) {
        int n = seen + 1;
        client.v1().events().inNamespace(ns).withName(name).patch(PatchContext.of(PatchType.JSON_MERGE),
            "{\"count\":" + n + ",\"lastTimestamp\":\"" + now + "\"}");
        counts.put(ns + "/" + name, n);
        return;
      }
      Event e = new EventBuilder()
          .withNewMetadata().withName(name).withNamespace(ns).endMetadata()
          .withNewInvolvedObject()
            .withApiVersion(job.getApiVersion()).withKind(job.getKind()).withName(job.getMetadata().getName())
            .withNamespace(ns).withUid(job.getMetadata().getUid()).withResourceVersion(job.getMetadata().getResourceVersion())
          .endInvolvedObject()
          .withReason(reason.name())
          .withMessage(message.length() > 1024 ? message.substring(0, 1021) + "..." : message)
          .withType(reason.warning ? "Warning" : "Normal")
          .withNewSource().withComponent(component).withHost(host).endSource()
          .withReportingComponent(component)
          .withReportingInstance(host)
          .withAction(reason.name())
          .withFirstTimestamp(now)
          .withLastTimestamp(now)
          .withEventTime(new MicroTime(micro))
          .withCount(1)
          .build();
      try {
        client.v1().events().inNamespace(ns).resource(e).create();
        if (counts.size() > 10_000) {
          counts.clear();
        }
        counts.put(ns + "/" + name, 1);
      } catch (KubernetesClientException ex) {
        if (ex.getCode() != 409) {
          throw ex;
        }
        // made by an earlier operator process: count on from there
        client.v1().events().inNamespace(ns).withName(name).patch(PatchContext.of(PatchType.JSON_MERGE),
            "{\"count\":2,\"lastTimestamp\":\"" + now + "\"}");
        counts.put(ns + "/" + name, 2);
      }
    } catch (KubernetesClientException ex) {
      log.warn("cannot record event {} ({}): HTTP {} {}", reason, message, ex.getCode(), ex.getStatus() == null ? "" : ex.getStatus().getMessage());
    }
  }

  private static String digest(String s) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)), 0, 8);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Records a Warning Event and a log line once per job, reason and message (a repeat says nothing). */
  void warnOnce(JobRuntime rt, TrainingJob job, Reason reason, String message) {
    if (rt.warnedOnce.add(reason + ":" + message)) {
      record(job, reason, message);
      log.warn("{}: {}", reason, message);
    }
  }
}
