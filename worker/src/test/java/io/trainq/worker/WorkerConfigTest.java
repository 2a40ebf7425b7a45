package io.trainq.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trainq.protocol.JobSettings;
import io.trainq.protocol.JobTopology;
import io.trainq.protocol.RabbitSettings;
import io.trainq.protocol.WorkerEnv;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class WorkerConfigTest {

  /** The environment the operator gives a worker, as WorkerEnv and RabbitSettings write it. */
  static Map<String, String> operatorEnv() {
    JobTopology t = new JobTopology("ns", "sweep", "0b3c5d7e-1111-2222-3333-444455556666");
    JobSettings s = new JobSettings(3, Duration.ofSeconds(1), Duration.ofSeconds(8), Duration.ofMinutes(5), null, 10);
    Map<String, String> env = new HashMap<>(WorkerEnv.forJob(t, s));
    env.putAll(new RabbitSettings(RabbitSettings.parseAddresses("127.0.0.1:5672"), "u", "s3cret", "/", null).toEnv());
    env.put(WorkerEnv.SLOTS, "2");
    env.put("PATH", "/usr/bin:/bin");
    return env;
  }

  @Test
  void readsTheOperatorsEnvironment() throws Exception {
    WorkerConfig c = WorkerConfig.fromEnv(operatorEnv(), List.of("python", "train.py"), () -> 0);
    assertThat(c.topology().taskQueue()).startsWith("tq.ns.sweep.").endsWith(".tasks");
    assertThat(c.job().maxAttempts()).isEqualTo(3);
    assertThat(c.job().taskTimeout()).isEqualTo(Duration.ofMinutes(5));
    assertThat(c.slots().slots()).isEqualTo(2);
    assertThat(c.prefetch()).isEqualTo(2);
    assertThat(c.idleTimeout()).isEqualTo(Duration.ofSeconds(60));
    assertThat(c.shutdownGrace()).isEqualTo(Duration.ofSeconds(25));
    assertThat(c.httpPort()).isEqualTo(8080);
    assertThat(c.command()).containsExactly("python", "train.py");
  }

  @Test
  void extraPrefetchAddsToTheSlots() throws Exception {
    Map<String, String> env = operatorEnv();
    env.put(WorkerEnv.EXTRA_PREFETCH, "3");
    assertThat(WorkerConfig.fromEnv(env, List.of("true"), () -> 0).prefetch()).isEqualTo(5);
  }

  @Test
  void theLookaheadIsOneDeliveryPerSlotUnlessSet() throws Exception {
    Map<String, String> env = operatorEnv();
    WorkerConfig c = WorkerConfig.fromEnv(env, List.of("true"), () -> 0);
    assertThat(c.dispatch().lookahead()).isEqualTo(c.slots().slots()).isEqualTo(2);
    assertThat(c.toString()).contains("prefetch 2, lookahead 2 while attempts are short");
    env.put(WorkerEnv.LOOKAHEAD, "0");
    assertThat(WorkerConfig.fromEnv(env, List.of("true"), () -> 0).dispatch().lookahead()).isZero();
    env.put(WorkerEnv.LOOKAHEAD, "-1");
    assertThatThrownBy(() -> WorkerConfig.fromEnv(env, List.of("true"), () -> 0)).isInstanceOf(ConfigException.class)
        .hasMessage("TRAINQ_LOOKAHEAD must be between 0 and 1000, got -1");
  }

  @Test
  void probationLastsAMinuteUnlessSet() throws Exception {
    Map<String, String> env = operatorEnv();
    assertThat(WorkerConfig.fromEnv(env, List.of("true"), () -> 0).dispatch().probation()).isEqualTo(Duration.ofSeconds(60));
    env.put(WorkerEnv.PROBATION_MS, "0");
    assertThat(WorkerConfig.fromEnv(env, List.of("true"), () -> 0).dispatch().probation()).isZero();
  }

  @Test
  void theTasksEnvironmentHasNoBrokerSettings() throws Exception {
    Map<String, String> env = operatorEnv();
    env.put("TRAINQ_RABBITMQ_URI", "amqp://u:s3cret@h/%2F");
    env.put("TRAINQ_RABBITMQ_HOST", "h");
    WorkerConfig c = WorkerConfig.fromEnv(env, List.of("true"), () -> 0);
    assertThat(c.taskEnv()).doesNotContainKeys("TRAINQ_RABBITMQ_PASSWORD", "TRAINQ_RABBITMQ_URI", "TRAINQ_RABBITMQ_USERNAME",
        "TRAINQ_RABBITMQ_ADDRESSES", "TRAINQ_RABBITMQ_HOST");
    assertThat(c.taskEnv().values()).noneMatch(v -> v.contains("s3cret"));
    assertThat(c.taskEnv()).containsEntry("TRAINQ_JOB_NAME", "sweep").containsEntry("PATH", "/usr/bin:/bin");
    assertThat(c.toString()).doesNotContain("s3cret");
  }

  @Test
  void badValuesNameTheirVariable() {
    assertBad(e -> e.remove(WorkerEnv.JOB_UID), "TRAINQ_JOB_UID is not set");
    assertBad(e -> e.put(WorkerEnv.MAX_ATTEMPTS, "many"), "TRAINQ_MAX_ATTEMPTS must be an integer, got 'many'");
    assertBad(e -> e.put(WorkerEnv.MAX_ATTEMPTS, "0"), "TRAINQ_MAX_ATTEMPTS must be >= 1, got 0");
    assertBad(e -> e.remove(WorkerEnv.BACKOFF_MAX_MS), "TRAINQ_BACKOFF_MAX_MS is not set (the operator and trainq run set it from the job's spec)");
    assertBad(e -> e.put(WorkerEnv.GPUS_PER_TASK, "0"), "TRAINQ_GPUS_PER_TASK must be >= 1, got 0");
    assertBad(e -> e.put(WorkerEnv.TASK_TIMEOUT_MS, "0"), "TRAINQ_TASK_TIMEOUT_MS must be > 0, got 0");
    assertBad(e -> e.put(WorkerEnv.IDLE_TIMEOUT_MS, "-1"), "TRAINQ_IDLE_TIMEOUT_MS must be >= 0, got -1");
    assertBad(e -> e.put(WorkerEnv.PROBATION_MS, "-5"), "TRAINQ_PROBATION_MS must be >= 0, got -5");
    assertBad(e -> e.put(WorkerEnv.HTTP_PORT, "70000"), "TRAINQ_HTTP_PORT must be a port (0 turns the server off), got 70000");
    assertBad(e -> e.put(WorkerEnv.BACKOFF_MAX_MS, "10"), "TRAINQ_BACKOFF_MAX_MS (10) must be >= TRAINQ_BACKOFF_INITIAL_MS (1000) >= 0");
    assertBad(e -> e.put(WorkerEnv.WORKING_DIR, "/no/such/dir"), "TRAINQ_WORKING_DIR /no/such/dir is not a directory");
    assertBad(e -> e.put(WorkerConfig.LOG_LEVEL, "loud"), "TRAINQ_LOG_LEVEL must be one of trace, debug, info, warn, error; got 'loud'");
    assertBad(e -> {
      e.remove("TRAINQ_RABBITMQ_ADDRESSES");
      e.remove("TRAINQ_RABBITMQ_URI");
    }, "RabbitMQ not configured: set TRAINQ_RABBITMQ_URI (amqp://user:pass@host:5672/%2F) or TRAINQ_RABBITMQ_ADDRESSES");
    assertBad(e -> {
      e.remove(WorkerEnv.SLOTS);
      e.put(WorkerEnv.GPUS, "0,1,2");
      e.put(WorkerEnv.GPUS_PER_TASK, "2");
    }, "TRAINQ_GPUS has 3 GPUs, not a multiple of TRAINQ_GPUS_PER_TASK=2");
  }

  @Test
  void aCommandIsRequired() {
    assertThatThrownBy(() -> WorkerConfig.fromEnv(operatorEnv(), List.of(), () -> 0))
        .hasMessage("no task command: give it after --, as in trainq-worker -- python train.py");
  }

  private static void assertBad(java.util.function.Consumer<Map<String, String>> change, String message) {
    Map<String, String> env = operatorEnv();
    change.accept(env);
    assertThatThrownBy(() -> WorkerConfig.fromEnv(env, List.of("true"), () -> 0))
        .isInstanceOf(ConfigException.class).hasMessage(message);
  }
}
