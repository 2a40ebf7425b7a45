package io.trainq.worker;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class MetricsTest {

  @Test
  void rendersThePrometheusTextFormat() {
    Metrics m = new Metrics(4, 4, () -> 3, "0.1.0", "ns/job", "pod-\"1\"");
    m.succeeded.add(5);
    m.retried.increment();
    m.duration.observeNanos(50_000_000L);     // 0.05 s
    m.duration.observeNanos(2_000_000_000L);  // 2 s
    String text = m.render();
    assertThat(text).contains(
        "trainq_worker_info{version=\"0.1.0\",broker_version=\"\",job=\"ns/job\",worker=\"pod-\\\"1\\\"\"} 1\n",
        "# TYPE trainq_worker_slots_busy gauge\ntrainq_worker_slots_busy 3\n",
        "trainq_worker_tasks_total{outcome=\"succeeded\"} 5\n",
        "trainq_worker_tasks_total{outcome=\"retried\"} 1\n",
        "trainq_worker_task_duration_seconds_bucket{le=\"0.01\"} 0\n",
        "trainq_worker_task_duration_seconds_bucket{le=\"0.1\"} 1\n",
        "trainq_worker_task_duration_seconds_bucket{le=\"10\"} 2\n",
        "trainq_worker_task_duration_seconds_bucket{le=\"+Inf\"} 2\n",
        "trainq_worker_task_duration_seconds_sum 2.050000\n",
        "trainq_worker_task_duration_seconds_count 2\n");
    // every sample line is "name{labels} value" or "name value" in the text exposition format: label values in quotes
    // with backslash, quote and newline escaped; the value a float as Go writes it (+Inf, -Inf, NaN included)
    String label = "[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\\\\n]|\\\\[\\\\\"n])*\"";
    String value = "(?:[+-]?(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]Inf|NaN)";
    String sample = "[a-zA-Z_:][a-zA-Z0-9_:]*(?:\\{" + label + "(?:," + label + ")*\\})? " + value;
    for (String line : text.split("\n")) {
      if (!line.startsWith("#")) {
        assertThat(line).matches(sample);
      }
    }
  }
}
