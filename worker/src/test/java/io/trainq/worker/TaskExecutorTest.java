package io.trainq.worker;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class TaskExecutorTest {

  /** An outcome's duration in the log: seconds with three decimals, rounded half up as "%.3f" would. */
  @Test
  void durationsAreSecondsWithThreeDecimals() {
    assertThat(TaskExecutor.seconds(0)).isEqualTo("0.000");
    assertThat(TaskExecutor.seconds(5_400_000)).isEqualTo("0.005");
    assertThat(TaskExecutor.seconds(5_500_000)).isEqualTo("0.006");
    assertThat(TaskExecutor.seconds(201_000_000)).isEqualTo("0.201");
    assertThat(TaskExecutor.seconds(12_040_000_000L)).isEqualTo("12.040");
    assertThat(TaskExecutor.seconds(3_600_000_000_000L)).isEqualTo("3600.000");
    for (long ms = 0; ms < 3000; ms += 7) {
      long nanos = ms * 1_000_000 + 123_456;
      assertThat(TaskExecutor.seconds(nanos)).isEqualTo(String.format(java.util.Locale.ROOT, "%.3f", nanos / 1e9));
    }
  }
}
