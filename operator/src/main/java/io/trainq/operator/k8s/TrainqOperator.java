package io.trainq.operator.k8s;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderCallbacks;
import io.javaoperatorsdk.operator.processing.retry.GenericRetry;
import io.javaoperatorsdk.operator.Operator;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfiguration;
import io.trainq.api.TrainingJob;
import io.trainq.operator.OperatorConfig;
import io.trainq.engine.EventStream;
import io.trainq.protocol.HttpEndpoints;
import io.trainq.engine.TaskPublisher;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The operator, wired: JOSDK with the TrainingJob reconciler, broker connections, metrics and probes. */
public final class TrainqOperator implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(TrainqOperator.class);

  private final OperatorConfig config;
  private final Operator operator;
  private final Brokers brokers;
  private final OperatorMetrics metrics = new OperatorMetrics();
  private final JobRegistry registry = new JobRegistry(metrics);
  private HttpEndpoints http;
  private volatile boolean started;
  private volatile boolean closing;

  public TrainqOperator(OperatorConfig config, KubernetesClient client, Clock clock) {
    this.config = config;
    FoldingHandler handler = new FoldingHandler(registry, config.statusInterval());
    EventStream.Options eventOptions = EventStream.Options.defaults()
        .withQueue(config.eventsQueue())
        .withBindingKeys(config.eventBindingKeys());
    brokers = new Brokers(config.identity(), eventOptions, handler);
    metrics.attach(brokers::eventStreams);
    EventRecorder events = new EventRecorder(client, "trainq-operator", config.identity(), clock);
    TrainingJobReconciler reconciler = new TrainingJobReconciler(config, registry, brokers, events, metrics, clock);
    handler.onFolded(reconciler::onFolded);
    operator = new Operator(o -> {
      o.withKubernetesClient(client);
      o.withCloseClientOnStop(false);
      o.withMetrics(metrics);
      o.withConcurrentReconciliationThreads(config.reconcileThreads());
      o.withStopOnInformerErrorDuringStartup(true);
      o.withReconciliationTerminationTimeout(Duration.ofSeconds(30));
      if (config.leaderElection()) {
        o.withLeaderElectionConfiguration(new LeaderElectionConfiguration(config.leaseName(), config.operatorNamespace(),
            config.leaseDuration(), config.renewDeadline(), config.retryPeriod(), config.identity(),
            new LeaderCallbacks(() -> metrics.leader(true), this::stoppedLeading,
                leader -> log.info("leader is {}", leader)), false));
      }
    });
    operator.register(reconciler, o -> {
      o.withName(TrainingJobReconciler.NAME);
      o.withFinalizer(Names.FINALIZER);
      // Never give up on a job for good: what fails may be fixed (a Secret, a namespace, the API server back).
      o.withRetry(new GenericRetry().setInitialInterval(2_000).setIntervalMultiplier(2).setMaxInterval(300_000).withoutMaxAttempts());
      // Status-only updates (our own patches) must not trigger reconciliations, annotations must.
      o.withGenerationAware(false);
      o.withOnUpdateFilter(TrainingJobReconciler::relevantUpdate);
      if (config.watchNamespaces().isEmpty()) {
        o.watchingAllNamespaces();
      } else {
        o.settingNamespaces(config.watchNamespaces());
      }
    });
  }

  /**
   * Leadership lost while running: exit, so that two replicas never reconcile at once (the kubelet
   * restarts the container as a standby). Not when we are closing: JOSDK's own exit would then block
   * inside the shutdown hook.
   */
  private void stoppedLeading() {
    metrics.leader(false);
    if (!closing) {
      log.error("lost the leader-election lease; exiting");
      Thread t = new Thread(() -> System.exit(1), "trainq-exit");
      t.start();
    }
  }

  /** Starts the probes and metrics server, then the operator (which waits for the lease if it elects). */
  public void start() throws IOException {
    if (config.httpPort() > 0 || config.httpPort() == -1) {
      http = new HttpEndpoints(Math.max(0, config.httpPort()), metrics::scrape, () -> true, this::ready);
    }
    if (!config.leaderElection()) {
      metrics.leader(true);
    }
    Thread warm = new Thread(() -> TaskPublisher.warmUp(20_000), "trainq-warm-up");
    warm.setDaemon(true);
    warm.start();
    operator.start();
    started = true;
    log.info("trainq operator {} started as {}, watching {}", OperatorConfig.version(), config.identity(),
        config.watchNamespaces().isEmpty() ? "all namespaces" : config.watchNamespaces());
  }

  /** Ready once started: a standby replica is ready too, so a rolling update can proceed while it waits for the lease. */
  private boolean ready() {
    return started && operator.getRuntimeInfo().isStarted();
  }

  public OperatorMetrics metrics() {
    return metrics;
  }

  /** The HTTP port (the actual one when configured as -1: any free port). */
  public int httpPort() {
    return http == null ? 0 : http.port();
  }

  @Override
  public void close() {
    closing = true;
    try {
      operator.stop();
    } finally {
      brokers.close();
      if (http != null) {
        http.close();
      }
    }
  }

  static Class<TrainingJob> primary() {
    return TrainingJob.class;
  }
}
