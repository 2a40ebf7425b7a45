package io.trainq.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class BackoffTest {
  @Test
  void doublesUpToTheCap() {
    Duration i = Duration.ofSeconds(30);
    Duration max = Duration.ofMinutes(10);
    assertThat(Backoff.delay(1, i, max)).isEqualTo(Duration.ofSeconds(30));
    assertThat(Backoff.delay(2, i, max)).isEqualTo(Duration.ofSeconds(60));
    assertThat(Backoff.delay(5, i, max)).isEqualTo(Duration.ofSeconds(480));
    assertThat(Backoff.delay(6, i, max)).isEqualTo(max);
    assertThat(Backoff.delay(99, i, max)).isEqualTo(max);
  }

  @Test
  void rejectsAttemptZero() {
    assertThatThrownBy(() -> Backoff.delay(0, Duration.ofSeconds(1), Duration.ofSeconds(2)))
        .hasMessageContaining("failedAttempt");
  }
}
