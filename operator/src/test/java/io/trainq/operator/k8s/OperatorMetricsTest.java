package io.trainq.operator.k8s;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The exposition the chart's dashboard reads: names, labels and values of the operator's own metrics. */
class OperatorMetricsTest {

  @Test
  void exposesTheDashboardsMetricsAndJosdksOwn() {
    OperatorMetrics m = new OperatorMetrics();
    m.leader(true);
    m.published(3);
    m.reconcileFailed();
    JobMeters job = m.forJob("ns", "sweep", "uid-1");
    job.outcome("succeeded");
    job.outcome("succeeded");
    job.rejected("index");
    job.duration(0.2);
    job.duration(7200);
    String text = m.scrape();
    assertThat(text)
        .contains("# TYPE trainq_operator_leader gauge")
        .contains("trainq_operator_leader 1.0\n")
        .contains("trainq_reconciliations_total{result=\"error\"} 1.0\n")
        .contains("trainq_reconciliations_total{result=\"success\"} 0.0\n")
        .contains("trainq_tasks_published_total 3.0\n")
        .contains("trainq_task_events_total{job_name=\"sweep\",namespace=\"ns\",outcome=\"succeeded\"} 2.0\n")
        .contains("trainq_events_rejected_total{job_name=\"sweep\",namespace=\"ns\",reason=\"index\"} 1.0\n")
        .contains("trainq_task_duration_seconds_bucket{job_name=\"sweep\",namespace=\"ns\",le=\"0.5\"} 1\n")
        .contains("trainq_task_duration_seconds_bucket{job_name=\"sweep\",namespace=\"ns\",le=\"7200.0\"} 2\n")
        .contains("trainq_task_duration_seconds_count{job_name=\"sweep\",namespace=\"ns\"} 2")
        .contains("jvm_memory_used_bytes{area=\"heap\"");

    m.forget("uid-1");
    assertThat(m.scrape()).as("a deleted job's meters go with it").doesNotContain("job_name=\"sweep\"")
        .contains("trainq_tasks_published_total 3.0\n");
  }
}
