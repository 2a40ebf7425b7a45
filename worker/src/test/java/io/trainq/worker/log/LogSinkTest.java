package io.trainq.worker.log;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.slf4j.event.Level;

class LogSinkTest {

  @Test
  void textLinesCarryTheTaskPrefix() {
    Map<String, String> mdc = new LinkedHashMap<>();
    mdc.put("task", "7");
    mdc.put("stream", "stderr");
    assertThat(LogSink.text(Level.INFO, "loss=nan", mdc, null)).matches("\\d{4}-.*Z INFO  \\[task 7 stderr\\] loss=nan");
    mdc.put("stream", "stdout");
    assertThat(LogSink.text(Level.WARN, "epoch 1", mdc, null)).endsWith("WARN  [task 7] epoch 1");
    assertThat(LogSink.text(Level.INFO, "plain", null, null)).endsWith("INFO  plain");
  }

  @Test
  void jsonLinesAreEscaped() {
    Map<String, String> mdc = new LinkedHashMap<>();
    mdc.put("task", "3");
    String line = LogSink.json(Level.INFO, "task", "say \"hi\"\n\tbye\u0001", mdc, null);
    assertThat(line).startsWith("{\"ts\":\"").endsWith(",\"level\":\"INFO\",\"logger\":\"task\",\"msg\":\"say \\\"hi\\\"\\n\\tbye\\u0001\",\"task\":\"3\"}"
        .substring(0)).doesNotContain("\n");
  }
}
