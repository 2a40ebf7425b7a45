package io.trainq.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class JobTopologyTest {

  @Test
  void namesAreDerivedFromNamespaceNameAndUid() {
    JobTopology t = new JobTopology("ml", "resnet-sweep", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
    assertThat(t.key()).isEqualTo("ml.resnet-sweep.0f1e2d3c4b5a");
    assertThat(t.taskQueue()).isEqualTo("tq.ml.resnet-sweep.0f1e2d3c4b5a.tasks");
    assertThat(t.deadLetterQueue()).isEqualTo("tq.ml.resnet-sweep.0f1e2d3c4b5a.dead");
    assertThat(t.retryQueue(Duration.ofSeconds(30))).isEqualTo("tq.ml.resnet-sweep.0f1e2d3c4b5a.retry.30000");
    assertThat(t.taskMessageId(7)).isEqualTo("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0:7");
  }

  @Test
  void longestNamesStayWithin255BytesAndDistinct() {
    String ns = "n".repeat(63);
    String name1 = "a".repeat(252) + "1";
    String name2 = "a".repeat(252) + "2";
    String uid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
    JobTopology a = new JobTopology(ns, name1, uid);
    JobTopology b = new JobTopology(ns, name2, uid);
    for (JobTopology t : new JobTopology[] {a, b}) {
      assertThat(t.retryQueue(Duration.ofDays(3650)).getBytes(StandardCharsets.UTF_8).length).isLessThanOrEqualTo(255);
      assertThat(t.taskQueue().getBytes(StandardCharsets.UTF_8).length).isLessThanOrEqualTo(255);
    }
    assertThat(a.taskQueue()).isNotEqualTo(b.taskQueue());
  }

  @Test
  void multiByteNamesAreCutOnCharacterBoundaries() {
    String cut = JobTopology.truncateUtf8("ééé", 5);
    assertThat(cut).isEqualTo("éé");
  }

  @Test
  void taskQueueArgumentsFollowTheContract() {
    JobSettings s = new JobSettings(3, Duration.ofSeconds(10), Duration.ofMinutes(10), Duration.ofHours(4), Duration.ofMinutes(3), 10);
    var args = new JobTopology("ns", "j", "uid-1").taskQueueArguments(s);
    assertThat(args)
        .containsEntry("x-queue-type", "quorum")
        .containsEntry("x-delivery-limit", 10)
        .containsEntry("x-dead-letter-exchange", JobTopology.DEAD_LETTER_EXCHANGE)
        .containsEntry("x-dead-letter-strategy", "at-least-once")
        .containsEntry("x-overflow", "reject-publish")
        .containsEntry("x-message-ttl", 180_000L)
        .containsEntry("x-dead-letter-routing-key", "ns.j.uid1");
    // the consumer timeout is above the task timeout
    assertThat((Long) args.get("x-consumer-timeout")).isGreaterThan(Duration.ofHours(4).toMillis());
  }

  @Test
  void retryDelaysAreDistinctTiers() {
    JobSettings s = new JobSettings(6, Duration.ofSeconds(10), Duration.ofSeconds(30), Duration.ofHours(1), null, 10);
    assertThat(JobTopology.retryDelays(s))
        .containsExactly(Duration.ofSeconds(10), Duration.ofSeconds(20), Duration.ofSeconds(30));
  }
}
