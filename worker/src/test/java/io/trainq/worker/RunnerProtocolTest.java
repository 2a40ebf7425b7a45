package io.trainq.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import io.trainq.protocol.Messages;
import io.trainq.protocol.RunnerSettings;
import io.trainq.protocol.TaskMessage;
import io.trainq.protocol.WorkerEnv;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RunnerProtocolTest {
  private static final TaskMessage TASK = new TaskMessage("uid", 7, 2, JsonNodeFactory.instance.objectNode().put("lr", 0.1));

  @Test
  void aTaskIsOneLineOfJson() throws Exception {
    String line = new String(RunnerProtocol.taskLine(TASK, Path.of("/tmp/p.json")), StandardCharsets.UTF_8);
    assertThat(line).endsWith("\n").doesNotContain("\n\n");
    JsonNode n = Messages.mapper().readTree(line);
    assertThat(n.toString()).isEqualTo("{\"type\":\"task\",\"index\":7,\"attempt\":2,\"params\":{\"lr\":0.1},\"paramsFile\":\"/tmp/p.json\"}");
  }

  @Test
  void readyMustComeFirstAndSpeakThisVersion() throws Exception {
    RunnerProtocol.checkReady(RunnerProtocol.parse("{\"type\":\"ready\",\"protocol\":1,\"pid\":3}"));
    assertThatThrownBy(() -> RunnerProtocol.checkReady(RunnerProtocol.parse("{\"type\":\"ready\",\"protocol\":2}")))
        .hasMessage("the runner speaks protocol 2; this worker speaks 1");
    assertThatThrownBy(() -> RunnerProtocol.checkReady(RunnerProtocol.parse("{\"type\":\"ready\"}")))
        .hasMessage("'ready' without an integer \"protocol\" (this worker speaks 1)");
    assertThatThrownBy(() -> RunnerProtocol.checkReady(RunnerProtocol.parse("{\"type\":\"done\",\"index\":7,\"attempt\":2}")))
        .hasMessageStartingWith("a 'done' message before 'ready'");
  }

  @Test
  void answersNameTheirTask() throws Exception {
    assertThat(RunnerProtocol.answer(RunnerProtocol.parse("{\"type\":\"done\",\"index\":7,\"attempt\":2}"), TASK))
        .isEqualTo(new RunnerProtocol.Answer(true, null, false));
    assertThat(RunnerProtocol.answer(RunnerProtocol.parse(
        "{\"type\":\"failed\",\"index\":7,\"attempt\":2,\"error\":\"boom\",\"exiting\":true}"), TASK))
        .isEqualTo(new RunnerProtocol.Answer(false, "boom", true));
    assertThatThrownBy(() -> RunnerProtocol.answer(RunnerProtocol.parse("{\"type\":\"done\",\"index\":7,\"attempt\":1}"), TASK))
        .hasMessage("'done' for index 7 attempt 1 during index 7 attempt 2");
    assertThatThrownBy(() -> RunnerProtocol.answer(RunnerProtocol.parse("{\"type\":\"done\",\"index\":\"7\"}"), TASK))
        .hasMessage("'done' without integer \"index\" and \"attempt\"");
    assertThatThrownBy(() -> RunnerProtocol.answer(RunnerProtocol.parse("{\"type\":\"progress\"}"), TASK))
        .hasMessage("a 'progress' message during task 7 (expected 'done' or 'failed')");
  }

  @Test
  void linesThatAreNotMessagesAreNamed() {
    assertThatThrownBy(() -> RunnerProtocol.parse("[1,2]")).hasMessage("a line that is not a JSON object: [1,2]");
    assertThatThrownBy(() -> RunnerProtocol.parse("{\"kind\":\"done\"}"))
        .hasMessage("a message without a string \"type\": {\"kind\":\"done\"}");
    assertThatThrownBy(() -> RunnerProtocol.parse("x".repeat(500))).hasMessageStartingWith("a line that is not JSON (")
        .hasMessageEndingWith("x".repeat(200) + "...");
  }

  @Test
  void theRunnerSettingsTravelInTheWorkersEnvironment() {
    assertThat(WorkerEnv.runnerSettings(Map.of(WorkerEnv.RUNNER_MODE, "Process"))).isEqualTo(RunnerSettings.PROCESS);
    assertThatThrownBy(() -> WorkerEnv.runnerSettings(Map.of())).hasMessage("TRAINQ_RUNNER_MODE is not set (Process or Persistent)");
    RunnerSettings r = WorkerEnv.runnerSettings(Map.of(WorkerEnv.RUNNER_MODE, "Persistent", WorkerEnv.RUNNER_MAX_TASKS, "5",
        WorkerEnv.RUNNER_START_TIMEOUT_MS, "2000"));
    assertThat(r.persistent()).isTrue();
    assertThat(r.maxTasksPerProcess()).isEqualTo(5);
    assertThat(r.startTimeout().toMillis()).isEqualTo(2000);
    assertThatThrownBy(() -> WorkerEnv.runnerSettings(Map.of(WorkerEnv.RUNNER_MODE, "forked")))
        .hasMessage("TRAINQ_RUNNER_MODE must be Process or Persistent, got 'forked'");
    assertThatThrownBy(() -> WorkerEnv.runnerSettings(Map.of(WorkerEnv.RUNNER_MODE, "Persistent", WorkerEnv.RUNNER_MAX_TASKS, "-1")))
        .hasMessage("TRAINQ_RUNNER_MAX_TASKS must be >= 0 (0: no limit), got -1");
    assertThatThrownBy(() -> WorkerEnv.runnerSettings(Map.of(WorkerEnv.RUNNER_MODE, "Persistent")))
        .hasMessageStartingWith("TRAINQ_RUNNER_START_TIMEOUT_MS is not set");
  }
}
