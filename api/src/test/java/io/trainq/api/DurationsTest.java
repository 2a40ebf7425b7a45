package io.trainq.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class DurationsTest {

  @Test
  void parsesCompoundDurations() {
    assertThat(Durations.parse("1h30m")).isEqualTo(Duration.ofMinutes(90));
    assertThat(Durations.parse("250ms")).isEqualTo(Duration.ofMillis(250));
    assertThat(Durations.parse("3m")).isEqualTo(Duration.ofMinutes(3));
    assertThat(Durations.parse("1m30s500ms")).isEqualTo(Duration.ofMillis(90_500));
  }

  @Test
  void rejectsWhatTheSchemaRejects() {
    for (String bad : new String[] {"", "10", "1.5h", "-1s", "1d", "s", "10 s", "99999999999999999999h"}) {
      assertThatThrownBy(() -> Durations.parse(bad))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("invalid duration");
    }
  }

  @Test
  void formatsRoundTrip() {
    for (String s : new String[] {"1h30m", "250ms", "10s", "24h", "1m1s1ms"}) {
      assertThat(Durations.format(Durations.parse(s))).isEqualTo(s);
    }
  }
}
