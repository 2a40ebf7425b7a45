package io.trainq.worker;

import static org.assertj.core.api.Assertions.assertThat;

import io.trainq.protocol.WorkerEnv;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

class WorkerMainTest {

  private record Outcome(int code, String out, String err) {}

  private static synchronized Outcome run(Map<String, String> env, String... args) {
    PrintStream out = System.out;
    PrintStream err = System.err;
    ByteArrayOutputStream o = new ByteArrayOutputStream();
    ByteArrayOutputStream e = new ByteArrayOutputStream();
    try {
      System.setOut(new PrintStream(o, true, StandardCharsets.UTF_8));
      System.setErr(new PrintStream(e, true, StandardCharsets.UTF_8));
      int code = WorkerMain.run(args, env);
      return new Outcome(code, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8));
    } finally {
      System.setOut(out);
      System.setErr(err);
    }
  }

  @Test
  void versionPrintsTheBuildVersion() {
    Outcome r = run(Map.of(), "--version");
    assertThat(r.code()).isZero();
    assertThat(r.out()).startsWith("trainq-worker ").doesNotContain("${");
  }

  @Test
  void badConfigurationIsOneLineAndExitCode2() {
    Map<String, String> env = new java.util.HashMap<>(WorkerConfigTest.operatorEnv());
    env.remove(WorkerEnv.SLOTS);
    env.put(WorkerEnv.GPUS, "0,1,2");
    env.put(WorkerEnv.GPUS_PER_TASK, "2");
    Outcome r = run(env, "--", "true");
    assertThat(r.code()).isEqualTo(WorkerEnv.EXIT_BAD_CONFIG);
    assertThat(r.err()).isEqualTo("trainq-worker: TRAINQ_GPUS has 3 GPUs, not a multiple of TRAINQ_GPUS_PER_TASK=2" + System.lineSeparator());
  }

  @Test
  void aMissingCommandIsBadConfiguration() {
    Outcome r = run(WorkerConfigTest.operatorEnv(), "--", "no-such-program-xyz");
    assertThat(r.code()).isEqualTo(WorkerEnv.EXIT_BAD_CONFIG);
    assertThat(r.err()).isEqualTo("trainq-worker: task command no-such-program-xyz not found on PATH (/usr/bin:/bin)" + System.lineSeparator());
    r = run(WorkerConfigTest.operatorEnv());
    assertThat(r.code()).isEqualTo(WorkerEnv.EXIT_BAD_CONFIG);
    assertThat(r.err()).contains("no task command");
  }

  @Test
  void unknownOptionsAreBadConfiguration() {
    Outcome r = run(WorkerConfigTest.operatorEnv(), "--frobnicate", "--", "true");
    assertThat(r.code()).isEqualTo(WorkerEnv.EXIT_BAD_CONFIG);
    assertThat(r.err()).startsWith("trainq-worker: unknown option --frobnicate");
  }

  @Test
  void brokerVersionsThatEnforceQueueConsumerTimeouts() {
    assertThat(Worker.enforcesQueueConsumerTimeout("3.10.8")).isFalse();
    assertThat(Worker.enforcesQueueConsumerTimeout("3.11.28")).isFalse();
    assertThat(Worker.enforcesQueueConsumerTimeout("3.12.0")).isTrue();
    assertThat(Worker.enforcesQueueConsumerTimeout("4.0.5")).isTrue();
    assertThat(Worker.enforcesQueueConsumerTimeout("4.1.0-rc.1")).isTrue();
  }
}
