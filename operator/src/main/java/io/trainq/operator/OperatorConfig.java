package io.trainq.operator;

import io.trainq.api.Durations;
import io.trainq.engine.TaskPublisher;
import io.trainq.engine.TopologyDeclarer;
import io.trainq.protocol.RabbitSettings;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The operator's configuration, read once from {@code TRAINQ_*} environment variables in
 * {@link OperatorMain} and handed to the constructors that need it.
 *
 * @param watchNamespaces namespaces whose TrainingJobs are run; empty means all
 * @param operatorNamespace the operator's own namespace (its lease, its connection Secret)
 * @param identity this replica's name (leader-election identity, consumer name)
 * @param workerImage image holding the self-contained worker at /opt/trainq-worker
 * @param rabbitmqSecret name of the connection Secret worker pods use when a job has no spec.rabbitmq;
 *     it must exist in the job's namespace
 * @param rabbitmq the operator's own connection for jobs without spec.rabbitmq (empty: every job needs one)
 * @param httpPort port of /metrics, /healthz and /readyz; 0 turns the server off
 * @param publishBatch most tasks one reconciliation publishes (bounds how long it takes)
 * @param publishWindow unconfirmed publishes in flight
 * @param resyncInterval how often an unfinished job is looked at without any event (capacity, utilization)
 * @param workerMaxGrace longest termination grace of a worker pod: running tasks get this long to finish
 * @param statusInterval shortest time between two event-driven status stores of one job
 * @param kueue whether jobs labelled {@code kueue.x-k8s.io/queue-name} go through Kueue where it is
 *     installed ({@code TRAINQ_KUEUE}: {@code auto}, the default, or {@code off})
 * @param rabbitmqTlsSecret Secret (in the job's namespace) with the CA and client certificate that worker
 *     pods of jobs without spec.rabbitmq use when the operator's own connection is TLS
 *     ({@code TRAINQ_RABBITMQ_TLS_SECRET}); null: such pods trust the JVM's CAs
 * @param perJobBrokerUsers whether each job's worker pods get a broker user of their own, limited to
 *     the job's queues, made through the management API ({@code TRAINQ_WORKER_BROKER_USERS}:
 *     {@code per-job}, the default, or {@code shared}: the pods use the connection Secret's user)
 * @param managementUrl the management API of the operator's own connection
 *     ({@code TRAINQ_RABBITMQ_MANAGEMENT_URL}); null: its first node's host on 15672 (15671 with TLS)
 */
public record OperatorConfig(
    Set<String> watchNamespaces,
    String operatorNamespace,
    String identity,
    String workerImage,
    String workerImagePullPolicy,
    String rabbitmqSecret,
    Optional<RabbitSettings> rabbitmq,
    String defaultVhost,
    boolean leaderElection,
    String leaseName,
    Duration leaseDuration,
    Duration renewDeadline,
    Duration retryPeriod,
    int httpPort,
    int publishBatch,
    int publishWindow,
    Duration resyncInterval,
    Duration workerMaxGrace,
    String eventsQueue,
    int reconcileThreads,
    Duration statusInterval,
    boolean kueue,
    String rabbitmqTlsSecret,
    boolean perJobBrokerUsers,
    String managementUrl) {

  public static final String DEFAULT_SECRET = "trainq-rabbitmq-default-user";

  public OperatorConfig {
    watchNamespaces = Set.copyOf(watchNamespaces);
    if (publishBatch < 1 || publishWindow < 1 || reconcileThreads < 1) {
      throw new IllegalArgumentException("TRAINQ_PUBLISH_BATCH, TRAINQ_PUBLISH_WINDOW and TRAINQ_RECONCILE_THREADS must be >= 1");
    }
  }

  /** A configuration without a TLS Secret for default-connection worker pods. */
  public OperatorConfig(Set<String> watchNamespaces, String operatorNamespace, String identity, String workerImage,
      String workerImagePullPolicy, String rabbitmqSecret, Optional<RabbitSettings> rabbitmq, String defaultVhost,
      boolean leaderElection, String leaseName, Duration leaseDuration, Duration renewDeadline, Duration retryPeriod,
      int httpPort, int publishBatch, int publishWindow, Duration resyncInterval, Duration workerMaxGrace, String eventsQueue,
      int reconcileThreads, Duration statusInterval, boolean kueue) {
    this(watchNamespaces, operatorNamespace, identity, workerImage, workerImagePullPolicy, rabbitmqSecret, rabbitmq, defaultVhost,
        leaderElection, leaseName, leaseDuration, renewDeadline, retryPeriod, httpPort, publishBatch, publishWindow, resyncInterval,
        workerMaxGrace, eventsQueue, reconcileThreads, statusInterval, kueue, null, false, null);
  }

  /** The same configuration with per-job broker users on or off, and the management API at {@code url} (null: derived). */
  public OperatorConfig withBrokerUsers(boolean perJob, String url) {
    return new OperatorConfig(watchNamespaces, operatorNamespace, identity, workerImage, workerImagePullPolicy, rabbitmqSecret,
        rabbitmq, defaultVhost, leaderElection, leaseName, leaseDuration, renewDeadline, retryPeriod, httpPort, publishBatch,
        publishWindow, resyncInterval, workerMaxGrace, eventsQueue, reconcileThreads, statusInterval, kueue, rabbitmqTlsSecret,
        perJob, url);
  }

  /** A configuration that uses Kueue where it is installed. */
  public OperatorConfig(Set<String> watchNamespaces, String operatorNamespace, String identity, String workerImage,
      String workerImagePullPolicy, String rabbitmqSecret, Optional<RabbitSettings> rabbitmq, String defaultVhost,
      boolean leaderElection, String leaseName, Duration leaseDuration, Duration renewDeadline, Duration retryPeriod,
      int httpPort, int publishBatch, int publishWindow, Duration resyncInterval, Duration workerMaxGrace, String eventsQueue,
      int reconcileThreads, Duration statusInterval) {
    this(watchNamespaces, operatorNamespace, identity, workerImage, workerImagePullPolicy, rabbitmqSecret, rabbitmq, defaultVhost,
        leaderElection, leaseName, leaseDuration, renewDeadline, retryPeriod, httpPort, publishBatch, publishWindow, resyncInterval,
        workerMaxGrace, eventsQueue, reconcileThreads, statusInterval, true);
  }

  /** The project version, for the default worker image tag. */
  public static String version() {
    try (InputStream in = OperatorConfig.class.getResourceAsStream("version.properties")) {
      Properties p = new Properties();
      if (in != null) {
        p.load(in);
      }
      String v = p.getProperty("version", "");
      return v.isEmpty() || v.startsWith("${") ? "dev" : v;
    } catch (IOException e) {
      return "dev";
    }
  }

  /**
   * Reads the configuration. Malformed values are an IllegalArgumentException naming the variable.
   * The operator's own RabbitMQ connection uses {@link RabbitSettings#fromEnv} (TRAINQ_RABBITMQ_URI or
   * TRAINQ_RABBITMQ_ADDRESSES, with TRAINQ_RABBITMQ_USERNAME/PASSWORD/VHOST and the TLS variables of
   * {@link io.trainq.protocol.RabbitTls}); without either it has none.
   */
  public static OperatorConfig fromEnv(Map<String, String> env) {
    String version = version();
    Set<String> namespaces = Arrays.stream(env.getOrDefault("TRAINQ_WATCH_NAMESPACES", "").split(","))
        .map(String::trim).filter(s -> !s.isEmpty()).collect(Collectors.toCollection(LinkedHashSet::new));
    String podName = first(env, "TRAINQ_POD_NAME", "HOSTNAME");
    Optional<RabbitSettings> rabbit = Optional.empty();
    if (!blank(env.get("TRAINQ_RABBITMQ_URI")) || !blank(env.get("TRAINQ_RABBITMQ_ADDRESSES"))) {
      rabbit = Optional.of(RabbitSettings.fromEnv(env));
    }
    String http = first(env, "TRAINQ_HTTP_PORT", "TRAINQ_METRICS_PORT");
    return new OperatorConfig(
        namespaces,
        orDefault(env.get("TRAINQ_OPERATOR_NAMESPACE"), "default"),
        podName == null ? "trainq-operator-" + ProcessHandle.current().pid() : podName,
        orDefault(env.get("TRAINQ_WORKER_IMAGE"), "ghcr.io/trainq/trainq-worker:" + version),
        orDefault(env.get("TRAINQ_WORKER_IMAGE_PULL_POLICY"), "IfNotPresent"),
        orDefault(env.get("TRAINQ_RABBITMQ_SECRET"), DEFAULT_SECRET),
        rabbit,
        orDefault(env.get("TRAINQ_RABBITMQ_VHOST"), "/"),
        Boolean.parseBoolean(orDefault(env.get("TRAINQ_LEADER_ELECTION"), "false")),
        orDefault(env.get("TRAINQ_LEADER_ELECTION_LEASE_NAME"), "trainq-operator"),
        duration(env, "TRAINQ_LEADER_ELECTION_LEASE_DURATION", "15s"),
        duration(env, "TRAINQ_LEADER_ELECTION_RENEW_DEADLINE", "10s"),
        duration(env, "TRAINQ_LEADER_ELECTION_RETRY_PERIOD", "2s"),
        integer("TRAINQ_HTTP_PORT", orDefault(http, "8080")),
        integer("TRAINQ_PUBLISH_BATCH", orDefault(env.get("TRAINQ_PUBLISH_BATCH"), "5000")),
        integer("TRAINQ_PUBLISH_WINDOW", orDefault(env.get("TRAINQ_PUBLISH_WINDOW"), Integer.toString(TaskPublisher.DEFAULT_WINDOW))),
        duration(env, "TRAINQ_RESYNC_INTERVAL", "10s"),
        duration(env, "TRAINQ_WORKER_MAX_GRACE", "1h"),
        orDefault(env.get("TRAINQ_EVENTS_QUEUE"), TopologyDeclarer.EVENTS_QUEUE),
        integer("TRAINQ_RECONCILE_THREADS", orDefault(env.get("TRAINQ_RECONCILE_THREADS"), "20")),
        duration(env, "TRAINQ_STATUS_INTERVAL", "250ms"),
        kueueMode(orDefault(env.get("TRAINQ_KUEUE"), "auto")),
        blank(env.get("TRAINQ_RABBITMQ_TLS_SECRET")) ? null : env.get("TRAINQ_RABBITMQ_TLS_SECRET").trim(),
        brokerUsersMode(orDefault(env.get("TRAINQ_WORKER_BROKER_USERS"), "per-job")),
        blank(env.get("TRAINQ_RABBITMQ_MANAGEMENT_URL")) ? null : managementUrl(env.get("TRAINQ_RABBITMQ_MANAGEMENT_URL").trim()));
  }

  private static boolean brokerUsersMode(String v) {
    return switch (v.trim().toLowerCase(java.util.Locale.ROOT)) {
      case "per-job" -> true;
      case "shared" -> false;
      default -> throw new IllegalArgumentException("TRAINQ_WORKER_BROKER_USERS must be per-job or shared, not '" + v + "'");
    };
  }

  private static String managementUrl(String v) {
    if (!v.startsWith("http://") && !v.startsWith("https://")) {
      throw new IllegalArgumentException("TRAINQ_RABBITMQ_MANAGEMENT_URL must be an http:// or https:// URL, not '" + v + "'");
    }
    return v;
  }

  private static boolean kueueMode(String v) {
    return switch (v.trim().toLowerCase(java.util.Locale.ROOT)) {
      case "auto" -> true;
      case "off" -> false;
      default -> throw new IllegalArgumentException("TRAINQ_KUEUE must be auto or off, not '" + v + "'");
    };
  }

  /** The binding keys of the events queue: every job, or the watched namespaces' jobs. */
  public java.util.List<String> eventBindingKeys() {
    return watchNamespaces.isEmpty() ? java.util.List.of("#")
        : watchNamespaces.stream().sorted().map(ns -> ns + ".#").toList();
  }

  private static String first(Map<String, String> env, String... names) {
    for (String n : names) {
      if (!blank(env.get(n))) {
        return env.get(n).trim();
      }
    }
    return null;
  }

  private static boolean blank(String s) {
    return s == null || s.isBlank();
  }

  private static String orDefault(String v, String dflt) {
    return blank(v) ? dflt : v.trim();
  }

  private static int integer(String name, String v) {
    try {
      return Integer.parseInt(v.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + " must be an integer, got '" + v + "'");
    }
  }

  private static Duration duration(Map<String, String> env, String name, String dflt) {
    String v = orDefault(env.get(name), dflt);
    try {
      return Durations.parse(v);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(name + ": " + e.getMessage());
    }
  }
}
