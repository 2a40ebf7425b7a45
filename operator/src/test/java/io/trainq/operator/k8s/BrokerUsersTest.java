package io.trainq.operator.k8s;

import static org.assertj.core.api.Assertions.assertThat;

import io.trainq.engine.TopologyDeclarer;
import io.trainq.protocol.JobTopology;
import java.time.Duration;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The patterns a job's broker user gets, read as the broker reads them (whole-name regular
 * expressions; Java's syntax agrees with PCRE's for these). RealWorkersIT shows the same against a
 * real broker.
 */
class BrokerUsersTest {
  private final JobTopology mine = new JobTopology("ml", "sweep.a", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
  private final JobTopology other = new JobTopology("ml", "sweep-a", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");

  @Test
  void writesGoToTheThreeTopicExchangesOnlyNeverTheDefaultExchange() {
    Pattern write = Pattern.compile(BrokerUsers.permissions(mine).get("write"));
    assertThat(write.matcher(JobTopology.EVENTS_EXCHANGE).matches()).isTrue();
    assertThat(write.matcher(JobTopology.DEAD_LETTER_EXCHANGE).matches()).isTrue();
    assertThat(write.matcher(JobTopology.RETRY_EXCHANGE).matches()).isTrue();
    assertThat(write.matcher("amq.default").matches()).as("the default exchange reaches every queue").isFalse();
    assertThat(write.matcher("trainqXevents").matches()).as("dots are literal").isFalse();
    assertThat(BrokerUsers.permissions(mine).get("configure")).isEqualTo("^$");
  }

  @Test
  void readsReachTheJobsOwnQueuesOnly() {
    Pattern read = Pattern.compile(BrokerUsers.permissions(mine).get("read"));
    assertThat(read.matcher(mine.taskQueue()).matches()).isTrue();
    assertThat(read.matcher(mine.deadLetterQueue()).matches()).isTrue();
    assertThat(read.matcher(mine.retryQueue(Duration.ofSeconds(30))).matches()).isTrue();
    assertThat(read.matcher(other.taskQueue()).matches()).as("a name that differs by a dot").isFalse();
    assertThat(read.matcher(TopologyDeclarer.EVENTS_QUEUE).matches()).isFalse();
  }

  @Test
  void routingKeysAreTheJobsOwn() {
    Pattern events = Pattern.compile(BrokerUsers.topicPermission(mine, JobTopology.EVENTS_EXCHANGE).get("write"));
    assertThat(events.matcher(mine.key()).matches()).isTrue();
    assertThat(events.matcher(other.key()).matches()).isFalse();
    assertThat(events.matcher(mine.key() + ".x").matches()).isFalse();

    Pattern retry = Pattern.compile(BrokerUsers.topicPermission(mine, JobTopology.RETRY_EXCHANGE).get("write"));
    assertThat(retry.matcher(mine.retryQueue(Duration.ofSeconds(30))).matches()).isTrue();
    assertThat(retry.matcher(mine.retryQueue(Duration.ofMillis(250))).matches()).isTrue();
    assertThat(retry.matcher(other.retryQueue(Duration.ofSeconds(30))).matches()).isFalse();
    assertThat(retry.matcher(mine.taskQueue()).matches()).as("the retry exchange leads to retry queues only").isFalse();
    assertThat(retry.matcher(mine.key()).matches()).isFalse();
  }
}
