package io.trainq.worker;

import static org.assertj.core.api.Assertions.assertThat;

import io.trainq.protocol.JobSettings;
import io.trainq.protocol.TaskMessage;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class SettleDecisionTest {
  private static final JobSettings JOB = new JobSettings(3, Duration.ofSeconds(10), Duration.ofSeconds(25),
      Duration.ofHours(1), null, 10);

  @Test
  void aFailedAttemptIsRetriedWithAGrowingBackoffUntilTheBudgetIsSpent() {
    SettleDecision first = SettleDecision.afterFailure(new TaskMessage("uid", 4, 1, null), JOB);
    assertThat(first).isInstanceOfSatisfying(SettleDecision.Retry.class, r -> {
      assertThat(r.next().attempt()).isEqualTo(2);
      assertThat(r.next().index()).isEqualTo(4);
      assertThat(r.delay()).isEqualTo(Duration.ofSeconds(10));
    });
    SettleDecision second = SettleDecision.afterFailure(new TaskMessage("uid", 4, 2, null), JOB);
    assertThat(second).isInstanceOfSatisfying(SettleDecision.Retry.class, r -> {
      assertThat(r.next().attempt()).isEqualTo(3);
      assertThat(r.delay()).as("doubled, capped at the maximum").isEqualTo(Duration.ofSeconds(20));
    });
    assertThat(SettleDecision.afterFailure(new TaskMessage("uid", 4, 3, null), JOB)).isInstanceOf(SettleDecision.DeadLetter.class);
  }
}
