package io.trainq.worker;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class LookaheadTest {
  private static final long MS = 1_000_000;
  private final AtomicInteger firstFinished = new AtomicInteger();
  private final Lookahead lookahead = new Lookahead(Duration.ofMillis(100), firstFinished::incrementAndGet);

  @Test
  void beforeAnyAttemptFinishedAttemptsCountAsShortUntilTheSlotsRunOldOnes() {
    long now = 10_000 * MS;
    assertThat(lookahead.wanted(List.of(), now)).isTrue();
    assertThat(lookahead.wanted(List.of(now - 50 * MS, now - 99 * MS), now)).isTrue();
    // one of two slots runs an attempt past the threshold: half, no longer fewer than half
    assertThat(lookahead.wanted(List.of(now - 50 * MS, now - 100 * MS), now)).isFalse();
    assertThat(lookahead.wanted(List.of(now - 50 * MS, now - 20 * MS, now - 300 * MS), now)).isTrue();
    assertThat(firstFinished).hasValue(0);
  }

  @Test
  void theFirstFinishedAttemptIsToldOnceAndALongOneTurnsTheLookaheadOff() {
    lookahead.finished(500 * MS);
    lookahead.finished(10 * MS);
    assertThat(firstFinished).hasValue(1);
    // the average (0.8 * 500 + 0.2 * 10 ms) is long, whatever the slots run now
    assertThat(lookahead.wanted(List.of(), 1000 * MS)).isFalse();
    for (int i = 0; i < 20; i++) {
      lookahead.finished(10 * MS);
    }
    assertThat(lookahead.wanted(List.of(), 1000 * MS)).isTrue();
  }

  @Test
  void aHeldDeliveryGoesBackAfterTwiceTheThreshold() {
    assertThat(lookahead.releaseAfter()).isEqualTo(Duration.ofMillis(200));
  }
}
