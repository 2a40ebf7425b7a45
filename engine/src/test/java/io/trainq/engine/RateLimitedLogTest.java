package io.trainq.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class RateLimitedLogTest {

  @Test
  void oneLinePerKeyAndIntervalWithTheCountLeftOut() {
    AtomicLong now = new AtomicLong(1_000_000_000L);
    RateLimitedLog log = new RateLimitedLog(Duration.ofMinutes(1), now::get);
    assertThat(log.permit("job-a:other-job")).as("the first occurrence is written").isZero();
    for (int i = 0; i < 54; i++) {
      assertThat(log.permit("job-a:other-job")).isEqualTo(-1);
    }
    assertThat(log.permit("job-b:other-job")).as("another key has its own budget").isZero();
    now.addAndGet(Duration.ofSeconds(59).toNanos());
    assertThat(log.permit("job-a:other-job")).isEqualTo(-1);
    now.addAndGet(Duration.ofSeconds(1).toNanos());
    assertThat(log.permit("job-a:other-job")).as("a minute later: one line saying how many were left out").isEqualTo(55);
    assertThat(log.permit("job-a:other-job")).isEqualTo(-1);
  }
}
