package io.trainq.worker;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import io.trainq.protocol.HttpEndpoints;
import io.trainq.protocol.Connections;
import io.trainq.protocol.Messages;
import io.trainq.protocol.JobTopology;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The worker's lifecycle: connect, check the job's queues, consume into the slots, and react to the
 * control signals (shutdown, a cancelled consumer, a closed channel, idleness) on one thread.
 */
public final class Worker {
  private static final Logger log = LoggerFactory.getLogger(Worker.class);
  /** How long REQUEUED events may take after the grace, before the worker closes anyway. */
  private static final Duration REQUEUE_TIME = Duration.ofSeconds(10);
  private static final long POLL_MS = 250;

  private final WorkerConfig config;
  private final String version;
  private final BlockingQueue<Signal> signals = new LinkedBlockingQueue<>();
  private volatile boolean stopping;
  private volatile boolean consuming;
  private volatile long requeueDeadlineNanos = Long.MAX_VALUE;
  /** The slots' runners, from before the worker connects (what {@link #shutdown} stops if it comes that early). */
  private volatile Runners prestarted;

  public Worker(WorkerConfig config, String version) {
    this.config = config;
    this.version = version;
  }

  /**
   * Asks the worker to stop gracefully (from a signal handler).
   *
   * @return false when it does not consume yet: there is nothing to hand back, and the process may just end
   */
  public boolean shutdown() {
    if (!consuming) {
      // the process ends without closing what it opened: the runners started ahead of it go first
      Runners r = prestarted;
      if (r != null) {
        r.close();
      }
      return false;
    }
    signals.offer(Signal.SHUTDOWN);
    return true;
  }

  /**
   * Runs until the worker is done: idle, its queue deleted, or shut down.
   *
   * @return the process exit code (0)
   * @throws ConfigException when the broker or the job's queues are not there
   */
  public int run() throws ConfigException, InterruptedException, IOException {
    try (Resources resources = new Resources()) {
      // beside the connect: the first outcomes then do not pay for the encoders' first use
      Messages.warmUpInBackground(config.topology());
      Local local = local(resources);
      Connection connection;
      try {
        connection = Connections.connect(config.rabbit(), f -> f.setSharedExecutor(new InlineExecutor()),
            "trainq-worker " + config.workerName(), config.connectTimeout());
      } catch (IOException e) {
        throw new ConfigException(e.getMessage(), e);
      }
      resources.onClose(() -> connection.close(5000));
      String brokerVersion = String.valueOf(connection.getServerProperties().get("version"));
      checkBrokerVersion(brokerVersion);
      checkTopology(connection);
      Wiring w = wire(connection, brokerVersion, resources, local);
      awaitRunners(local.runners());

      // from here a signal goes through the control loop, which hands back what was delivered
      consuming = true;
      w.consumer().start();
      w.dispatcher().touch();
      // not on probation: the first burst already has a delivery behind each slot
      steerLookahead(w);
      log.info("consuming {} with prefetch {} on {} slot(s), {} ms after the process started", config.topology().taskQueue(),
          config.prefetch(), w.slots().size(), sinceProcessStart());
      int code = control(connection, w);
      logStatus(w.metrics(), w.dispatcher());
      return code;
    }
  }

  /**
   * Persistent runners: consumes only once every slot's runner is ready (bounded by
   * spec.runner.startTimeout), so that no delivery waits here for a runner while another worker's
   * slot could run it, and the slots start their first tasks together.
   */
  private void awaitRunners(Runners runners) throws InterruptedException {
    if (!config.job().runner().persistent()) {
      return;
    }
    long t0 = System.nanoTime();
    int starting = runners.awaitStartUps(config.job().runner().startTimeout());
    long ms = (System.nanoTime() - t0) / 1_000_000;
    if (starting > 0) {
      log.warn("{} runner(s) still starting after {} ms (spec.runner.startTimeout); consuming anyway", starting, ms);
    } else {
      log.info("the slots' runners are up: ready, or failed to start, which their first tasks report ({} ms after"
          + " connecting, {} ms after the process started)", ms, sinceProcessStart());
    }
  }

  /** The worker's parts, connected to each other; started but not consuming yet. */
  private record Wiring(List<Slot> slots, Dispatcher dispatcher, Metrics metrics, TaskConsumer consumer,
      Lookahead lookahead, Settler settler) {}

  /** What the worker sets up before it connects: its temp directory, the slots and their runners. */
  private record Local(Path paramsDir, List<Slot> slots, ExecutorService pumps, Runners runners) {}

  /**
   * Sets up the slots and starts their persistent runners at once (spec.runner.mode: Persistent): a
   * runner's start-up (an interpreter, imports, a CUDA context) then overlaps the worker's own start
   * and its connection, instead of following the first delivery.
   */
  private Local local(Resources resources) throws IOException {
    Path paramsDir = Files.createDirectories(config.tempDir()).resolve("trainq-worker-" + ProcessHandle.current().pid());
    Files.createDirectories(paramsDir);
    resources.onClose(() -> deleteTree(paramsDir));
    List<Slot> slots = new ArrayList<>();
    for (int i = 0; i < config.slots().slots(); i++) {
      slots.add(new Slot(i, config.slots().devices().get(i)));
    }
    AtomicInteger pumpIds = new AtomicInteger();
    ExecutorService pumps = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "task-output-" + pumpIds.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    resources.onClose(pumps::shutdown);
    Runners runners = new Runners(config, pumps, paramsDir);
    // also when the worker ends before the executor exists (no broker, no queue); closing twice is harmless
    resources.onClose(runners::close);
    prestarted = runners;
    runners.prestart(slots);
    return new Local(paramsDir, slots, pumps, runners);
  }

  /** Builds the publisher, the consumer, the executor and the endpoints; registers how to close each. */
  private Wiring wire(Connection connection, String brokerVersion, Resources resources, Local local) throws IOException {
    Path paramsDir = local.paramsDir();
    List<Slot> slots = local.slots();
    ExecutorService pumps = local.pumps();
    Dispatcher dispatcher = new Dispatcher(slots);
    Metrics metrics = new Metrics(slots.size(), config.prefetch(), dispatcher::busy, version,
        config.topology().namespace() + "/" + config.topology().name(), config.workerName());
    metrics.brokerVersion(brokerVersion);
    metrics.connected(true);
    connection.addShutdownListener(cause -> metrics.connected(false));

    Publisher publisher = new Publisher(connection, metrics);
    resources.onClose(publisher::close);
    if (connection instanceof com.rabbitmq.client.Recoverable r) {
      r.addRecoveryListener(new com.rabbitmq.client.RecoveryListener() {
        @Override
        public void handleRecovery(com.rabbitmq.client.Recoverable recoverable) {
          metrics.connected(true);
          publisher.recovered();
        }

        @Override
        public void handleRecoveryStarted(com.rabbitmq.client.Recoverable recoverable) {
          // nothing: the channels' listeners mark their deliveries lost
        }
      });
    }
    TaskConsumer consumer = new TaskConsumer(connection, config.topology().taskQueue(), config.prefetch(),
        config.dispatch().lookahead(), dispatcher, metrics, signals::offer, config.dispatch().probation());
    resources.onClose(consumer::close);
    Reporter reporter = new Reporter(config, publisher, consumer, metrics, () -> stopping);
    Settler settler = new Settler(reporter, publisher, consumer, metrics);
    // closed before the consumers and the publisher: what the slots handed over is settled first
    resources.onClose(() -> {
      if (!settler.awaitIdle(REQUEUE_TIME)) {
        log.warn("{} outcome(s) not settled; closing (the broker returns their deliveries)", settler.pending());
      }
      settler.close();
    });
    ScheduledExecutorService timers = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "started-events");
      t.setDaemon(true);
      return t;
    });
    resources.onClose(timers::shutdownNow);
    Lookahead lookahead = new Lookahead(config.dispatch().lookaheadBelow(), () -> signals.offer(Signal.FIRST_FINISHED));
    TaskExecutor executor = new TaskExecutor(config, reporter, settler, consumer, metrics, pumps, timers, lookahead, paramsDir,
        local.runners(), () -> System.nanoTime() > requeueDeadlineNanos);
    // closed before the consumer and the publisher: a persistent runner is told to exit once its slot is idle
    resources.onClose(executor::close);
    for (Slot s : slots) {
      s.start(dispatcher, executor);
    }
    if (config.httpPort() > 0) {
      try {
        HttpEndpoints http = new HttpEndpoints(config.httpPort(), metrics::render, () -> true,
            () -> !stopping && connection.isOpen() && consumer.consuming());
        resources.onClose(http::close);
        log.info("serving /metrics, /healthz and /readyz on port {}", http.port());
      } catch (IOException e) {
        log.warn("cannot serve HTTP on port {} ({}); running without /metrics and probes", config.httpPort(), e.getMessage());
      }
    }
    if (!config.statusInterval().isZero()) {
      ScheduledExecutorService ticker = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "status");
        t.setDaemon(true);
        return t;
      });
      resources.onClose(ticker::shutdownNow);
      long every = config.statusInterval().toMillis();
      ticker.scheduleAtFixedRate(() -> logStatus(metrics, dispatcher), every, every, TimeUnit.MILLISECONDS);
    }
    return new Wiring(slots, dispatcher, metrics, consumer, lookahead, settler);
  }

  private int control(Connection connection, Wiring w) throws InterruptedException {
    TaskConsumer consumer = w.consumer();
    Dispatcher dispatcher = w.dispatcher();
    List<Slot> slots = w.slots();
    boolean draining = false;
    long reopenBackoffMs = 500;
    while (true) {
      Signal s = signals.poll(POLL_MS, TimeUnit.MILLISECONDS);
      if (s == Signal.SHUTDOWN) {
        return shutdown(w);
      }
      if (s == Signal.CANCELLED_BY_BROKER || s == Signal.CHANNEL_CLOSED) {
        Optional<Boolean> exists = queueExists(connection, config.topology().taskQueue());
        if (exists.isPresent() && !exists.get()) {
          return jobDeleted(w);
        }
        if (!draining && !stopping) {
          log.info("{}; consuming again", s == Signal.CANCELLED_BY_BROKER ? "the broker cancelled the consumer" : "the task channel closed");
          Thread.sleep(reopenBackoffMs);
          reopenBackoffMs = Math.min(reopenBackoffMs * 2, 10_000);
          try {
            if (s == Signal.CANCELLED_BY_BROKER) {
              consumer.resubscribe();
            } else {
              consumer.start();
            }
          } catch (IOException | RuntimeException e) {
            log.warn("cannot consume again yet ({}); retrying", e.getMessage());
            signals.offer(Signal.CHANNEL_CLOSED);
          }
        }
        continue;
      }
      if (s == Signal.RECOVERED) {
        log.info("connection to RabbitMQ recovered; tasks that were running keep running, their deliveries were requeued");
        continue;
      }
      if (s == Signal.PROBATION_OVER) {
        consumer.endProbation("a fresh delivery");
      } else if (consumer.onProbation()) {
        long ran = oldestAttemptNanos(slots);
        if (ran >= config.dispatch().probation().toNanos()) {
          consumer.endProbation("a redelivered attempt has run " + ran / 1_000_000_000 + " s");
        }
      }
      if (!draining && !stopping) {
        steerLookahead(w);
      }
      if (draining) {
        if (dispatcher.busy() == 0 && dispatcher.waiting() == 0) {
          log.info("idle: nothing to do for {} ms and nothing ready in the queue; exiting", config.idleTimeout().toMillis());
          return 0;
        }
      } else if (!config.idleTimeout().isZero() && dispatcher.idleNanos() >= config.idleTimeout().toNanos()
          && consumer.consuming() && queuesEmpty(connection)) {
        // Stop the consumers first: a delivery that raced in before cancel-ok still runs to its end.
        consumer.cancel(5000);
        draining = true;
      }
    }
  }

  /** How long the longest-running attempt has run, or -1 when none runs. */
  private static long oldestAttemptNanos(List<Slot> slots) {
    long now = System.nanoTime();
    long oldest = -1;
    for (Slot slot : slots) {
      if (slot.current != null) {
        oldest = Math.max(oldest, now - slot.attemptStartNanos);
      }
    }
    return oldest;
  }

  /**
   * Holds deliveries beyond the slots while attempts are short ({@link Lookahead}); once they are long,
   * stops, and returns what it held longer than the bound to the queue for any free slot to take.
   */
  private void steerLookahead(Wiring w) {
    if (config.dispatch().lookahead() == 0) {
      return;
    }
    TaskConsumer consumer = w.consumer();
    long now = System.nanoTime();
    List<Long> running = new ArrayList<>();
    for (Slot slot : w.slots()) {
      if (slot.current != null) {
        running.add(slot.attemptStartNanos);
      }
    }
    boolean wanted = w.lookahead().wanted(running, now) && consumer.consuming() && !consumer.onProbation();
    if (wanted && !consumer.lookaheadConsuming()) {
      try {
        if (consumer.startLookahead()) {
          log.debug("attempts are short: holding {} deliveries beyond the slots", config.dispatch().lookahead());
        }
      } catch (IOException | RuntimeException e) {
        log.debug("cannot start the lookahead consumer yet: {}", e.getMessage());
      }
    } else if (!wanted && consumer.lookaheadConsuming()) {
      consumer.cancelLookahead(5000);
      log.debug("attempts are long: holding one delivery per slot");
    }
    // also when a reconnect or a closed channel ended it
    w.metrics().lookahead = consumer.lookaheadConsuming() ? 1 : 0;
    // Deliveries waiting for a slot are the ones beyond the slots, whichever consumer brought them; with an
    // explicit extra prefetch the user asked for them to be held.
    if (!wanted && config.extraPrefetch() == 0) {
      long bound = w.lookahead().releaseAfter().toNanos();
      for (Delivery d : w.dispatcher().removeWaiting(d -> now - d.receivedNanos() > bound)) {
        consumer.nack(d, true);
        log.info("returned a delivery held {} ms behind long attempts to the queue", (now - d.receivedNanos()) / 1_000_000);
      }
    }
  }

  private int shutdown(Wiring w) throws InterruptedException {
    TaskConsumer consumer = w.consumer();
    Dispatcher dispatcher = w.dispatcher();
    List<Slot> slots = w.slots();
    stopping = true;
    Duration grace = config.shutdownGrace();
    requeueDeadlineNanos = System.nanoTime() + grace.plus(TaskRun.TERM_GRACE).plus(REQUEUE_TIME).toNanos();
    List<Delivery> waiting = dispatcher.stop();
    consumer.cancel(5000);
    for (Delivery d : waiting) {
      consumer.nack(d, true);
    }
    log.info("shutting down: consumer cancelled, {} task(s) running, up to {} ms to finish{}", dispatcher.busy(), grace.toMillis(),
        waiting.isEmpty() ? "" : "; " + waiting.size() + " waiting deliveries returned to the queue");
    if (!dispatcher.awaitIdle(grace)) {
      log.info("grace period over: stopping {} task(s) and returning them to the queue", dispatcher.busy());
      long killAt = System.nanoTime() + TaskRun.TERM_GRACE.toNanos();
      boolean killed = false;
      while (!dispatcher.awaitIdle(Duration.ofMillis(100))) {
        for (Slot s : slots) {
          TaskRun r = s.current;
          if (r != null && r.stoppedBy() == TaskRun.Stop.NONE) {
            r.stop(TaskRun.Stop.SHUTDOWN);
          }
        }
        if (!killed && System.nanoTime() > killAt) {
          killed = true;
          for (Slot s : slots) {
            TaskRun r = s.current;
            if (r != null) {
              r.forceKill();
            }
          }
        }
        if (System.nanoTime() > requeueDeadlineNanos) {
          log.warn("{} task(s) still not settled; closing (the broker returns their deliveries)", dispatcher.busy());
          break;
        }
      }
    }
    long left = Math.max(0, requeueDeadlineNanos - System.nanoTime());
    if (!w.settler().awaitIdle(Duration.ofNanos(left))) {
      log.warn("{} outcome(s) not settled; closing (the broker returns their deliveries)", w.settler().pending());
    }
    log.info("stopped");
    return 0;
  }

  private int jobDeleted(Wiring w) throws InterruptedException {
    Dispatcher dispatcher = w.dispatcher();
    List<Slot> slots = w.slots();
    stopping = true;
    dispatcher.stop();
    log.info("the job's queue {} was deleted: stopping {} running task(s) and exiting", config.topology().taskQueue(),
        dispatcher.busy());
    for (Slot s : slots) {
      TaskRun r = s.current;
      if (r != null) {
        r.stop(TaskRun.Stop.JOB_DELETED);
      }
    }
    if (!dispatcher.awaitIdle(TaskRun.TERM_GRACE)) {
      for (Slot s : slots) {
        TaskRun r = s.current;
        if (r != null) {
          r.forceKill();
        }
      }
      dispatcher.awaitIdle(Duration.ofSeconds(5));
    }
    return 0;
  }

  /** Nothing ready in the task queue, and nothing waiting out a backoff in a retry queue. */
  private boolean queuesEmpty(Connection connection) {
    List<String> queues = new ArrayList<>();
    queues.add(config.topology().taskQueue());
    for (Duration d : JobTopology.retryDelays(config.job())) {
      queues.add(config.topology().retryQueue(d));
    }
    try (Channel ch = connection.createChannel()) {
      for (String q : queues) {
        if (ch.queueDeclarePassive(q).getMessageCount() > 0) {
          return false;
        }
      }
      return true;
    } catch (IOException | TimeoutException | RuntimeException e) {
      // a queue gone or the broker unreachable: the control loop learns which from the consumer
      return false;
    }
  }

  /** Whether a queue exists; empty when the broker cannot tell now (connection down). */
  private static Optional<Boolean> queueExists(Connection connection, String queue) {
    if (!connection.isOpen()) {
      return Optional.empty();
    }
    try (Channel ch = connection.createChannel()) {
      ch.queueDeclarePassive(queue);
      return Optional.of(true);
    } catch (IOException e) {
      return replyCode(e) == AMQP.NOT_FOUND ? Optional.of(false) : Optional.empty();
    } catch (TimeoutException | RuntimeException e) {
      return Optional.empty();
    }
  }

  /** Passive checks of what the worker uses and the operator owns: the job's queues and the three exchanges. */
  private void checkTopology(Connection connection) throws ConfigException, IOException {
    JobTopology t = config.topology();
    List<String> queues = new ArrayList<>();
    queues.add(t.taskQueue());
    for (Duration d : JobTopology.retryDelays(config.job())) {
      queues.add(t.retryQueue(d));
    }
    queues.add(t.deadLetterQueue());
    long deadline = System.nanoTime() + config.queueWait().toNanos();
    for (String q : queues) {
      boolean said = false;
      while (!exists(connection, ch -> ch.queueDeclarePassive(q))) {
        if (System.nanoTime() >= deadline) {
          throw new ConfigException("queue '" + q + "' does not exist on vhost '" + config.rabbit().vhost() + "' at "
              + config.rabbit().addressList() + ": the job's queues are declared by the operator (or trainq run) before its workers start");
        }
        if (!said) {
          log.warn("queue {} does not exist (yet): waiting up to {} s for it (the operator declares a deleted task queue again)",
              q, config.queueWait().toSeconds());
          said = true;
        }
        try {
          Thread.sleep(1000);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IOException("interrupted while waiting for queue " + q, e);
        }
      }
    }
    for (String x : List.of(JobTopology.EVENTS_EXCHANGE, JobTopology.DEAD_LETTER_EXCHANGE, JobTopology.RETRY_EXCHANGE)) {
      if (!exists(connection, ch -> ch.exchangeDeclarePassive(x))) {
        throw new ConfigException("exchange '" + x + "' does not exist on vhost '" + config.rabbit().vhost() + "' at "
            + config.rabbit().addressList());
      }
    }
  }

  private interface ChannelCheck {
    void run(Channel ch) throws IOException;
  }

  private static boolean exists(Connection connection, ChannelCheck check) throws IOException {
    Channel ch = connection.createChannel();
    try {
      check.run(ch);
      return true;
    } catch (IOException e) {
      if (replyCode(e) == AMQP.NOT_FOUND) {
        return false;
      }
      throw e;
    } finally {
      if (ch.isOpen()) {
        try {
          ch.close();
        } catch (IOException | TimeoutException e) {
          // a probe channel
        }
      }
    }
  }

  static int replyCode(IOException e) {
    Throwable c = e;
    while (c != null) {
      if (c instanceof com.rabbitmq.client.ShutdownSignalException sse && sse.getReason() instanceof AMQP.Channel.Close close) {
        return close.getReplyCode();
      }
      c = c.getCause();
    }
    return -1;
  }

  /** Logs the broker version, and what a broker without per-queue consumer timeouts means for long tasks. */
  void checkBrokerVersion(String brokerVersion) {
    log.info("connected to RabbitMQ {} at {}", brokerVersion, config.rabbit().addressList());
    if (!enforcesQueueConsumerTimeout(brokerVersion)) {
      log.warn("RabbitMQ {} does not enforce the queue's x-consumer-timeout (3.12 and later do): the broker's own consumer_timeout "
          + "(30 minutes by default) applies, and a task that runs longer is requeued and run again while it still runs; "
          + "raise consumer_timeout in rabbitmq.conf above the task timeout ({} ms)", brokerVersion, config.job().taskTimeout().toMillis());
    }
  }

  /** True for 3.12 and later (and for versions that cannot be read, which are newer builds in practice). */
  static boolean enforcesQueueConsumerTimeout(String version) {
    String[] parts = version.split("[.+-]");
    try {
      int major = Integer.parseInt(parts[0]);
      int minor = parts.length > 1 ? Integer.parseInt(parts[1]) : 0;
      return major > 3 || (major == 3 && minor >= 12);
    } catch (NumberFormatException e) {
      return true;
    }
  }

  private void logStatus(Metrics m, Dispatcher d) {
    long n = m.duration.count();
    double avg = n == 0 ? 0 : m.duration.sumSeconds() / n;
    log.info(String.format(Locale.ROOT,
        "status: tasks processed %d (succeeded %d, retried %d, dead-lettered %d, malformed %d, requeued %d), "
            + "average processing time %.3f s, busy slots %d/%d, waiting %d, worker CPU %.1f s",
        n, m.succeeded.sum(), m.retried.sum(), m.deadLettered.sum(), m.malformed.sum(), m.requeued.sum(), avg, d.busy(),
        d.slots(), d.waiting(), ProcessHandle.current().info().totalCpuDuration().map(c -> c.toMillis() / 1000.0).orElse(-1.0)));
  }

  private static long sinceProcessStart() {
    return ProcessHandle.current().info().startInstant()
        .map(s -> Duration.between(s, Instant.now()).toMillis()).orElse(-1L);
  }

  private static void deleteTree(Path dir) {
    if (dir == null) {
      return;
    }
    try (var files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).forEach(p -> {
        try {
          Files.deleteIfExists(p);
        } catch (IOException e) {
          // best effort
        }
      });
    } catch (IOException e) {
      // best effort
    }
  }
}
