package io.trainq.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.rabbitmq.client.AMQP;
import io.trainq.protocol.Messages;
import io.trainq.protocol.TaskEvent;
import io.trainq.protocol.TaskMessage;
import java.nio.charset.StandardCharsets;
import java.util.Date;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JobEventTest {

  @Test
  void decodesWorkerEvents() throws Exception {
    TaskEvent e = new TaskEvent(TaskEvent.SCHEMA, TaskEvent.Type.SUCCEEDED, "ns.j.1", "uid", 4, 2, "pod-a", 1, 0, 10L, 1.5, null, null, 99);
    JobEvent d = JobEvent.decode("ns.j.1", Messages.eventProperties(e), Messages.encodeEvent(e));
    assertThat(d).isEqualTo(new JobEvent.Progress(e));
    assertThat(d.jobKey()).isEqualTo("ns.j.1");
    assertThat(d.index()).isEqualTo(4);
    assertThat(d.attempt()).isEqualTo(2);
  }

  @Test
  void decodesAGroupCommitIntoItsEvents() throws Exception {
    TaskEvent a = new TaskEvent(TaskEvent.SCHEMA, TaskEvent.Type.SUCCEEDED, "ns.j.1", "uid", 4, 1, "pod-a", 0, 0, 10L, 1.0, null, null, 99);
    TaskEvent b = new TaskEvent(TaskEvent.SCHEMA, TaskEvent.Type.SUCCEEDED, "ns.j.1", "uid", 5, 1, "pod-a", 1, 0, 11L, 1.1, null, null, 100);
    java.util.List<JobEvent> d = JobEvent.decodeAll("ns.j.1", Messages.eventBatchProperties(java.util.List.of(a, b)),
        Messages.encodeEvents(java.util.List.of(a, b)));
    assertThat(d).containsExactly(new JobEvent.Progress(a), new JobEvent.Progress(b));
  }

  @Test
  void decodesBrokerDeadLettersByTheDeathInTheTaskQueue() throws Exception {
    TaskMessage t = new TaskMessage("uid", 7, 2, null);
    Map<String, Object> headers = new HashMap<>(Messages.taskProperties(t).getHeaders());
    // a retried task first died of expiry in its retry queue; the reason that counts is the task queue's
    headers.put("x-first-death-reason", "expired");
    headers.put("x-death", List.of(
        Map.of("queue", "tq.ns.j.1.tasks", "reason", "delivery_limit", "count", 1L, "time", new Date(123_000)),
        Map.of("queue", "tq.ns.j.1.retry.10000", "reason", "expired", "count", 1L)));
    AMQP.BasicProperties props = Messages.taskProperties(t).builder().headers(headers).build();
    JobEvent d = JobEvent.decode("ns.j.1", props, Messages.encodeTask(t));
    assertThat(d).isEqualTo(new JobEvent.DeadLettered("ns.j.1", "uid", 7, 2, "delivery-limit", null, null, null, 123_000,
        JobEvent.digest(t.messageId(), Messages.encodeTask(t))));
  }

  @Test
  void workerDeadLettersCarryTheirOwnReason() throws Exception {
    TaskMessage t = new TaskMessage("uid", 3, 3, null);
    Map<String, Object> headers = new HashMap<>();
    headers.put(Messages.REASON_HEADER, "timeout");
    headers.put(Messages.EXIT_CODE_HEADER, 137);
    headers.put(Messages.ERROR_HEADER, "killed after 4h");
    headers.put(Messages.WORKER_HEADER, "pod-b");
    AMQP.BasicProperties props = Messages.taskProperties(t).builder().headers(headers).build();
    JobEvent.DeadLettered d = (JobEvent.DeadLettered) JobEvent.decode("k", props, Messages.encodeTask(t));
    assertThat(d.reason()).isEqualTo("timeout");
    assertThat(d.exitCode()).isEqualTo(137);
    assertThat(d.error()).isEqualTo("killed after 4h");
    assertThat(d.worker()).isEqualTo("pod-b");
    assertThat(d.attempt()).isEqualTo(3);
  }

  @Test
  void aMalformedMessageNamesNoTaskWhateverItsMessageIdSays() throws Exception {
    Map<String, Object> headers = Map.of(Messages.REASON_HEADER, "malformed", Messages.ERROR_HEADER, "body is not valid JSON");
    AMQP.BasicProperties props = new AMQP.BasicProperties.Builder().type(Messages.TASK_TYPE).messageId("uid:12").headers(headers).build();
    JobEvent.DeadLettered d = (JobEvent.DeadLettered) JobEvent.decode("k", props, "not json".getBytes(StandardCharsets.UTF_8));
    assertThat(d.index()).isEqualTo(-1);
    assertThat(d.jobUid()).isNull();
    assertThat(d.unreadable()).isTrue();
    assertThat(d.reason()).isEqualTo("malformed");
    assertThat(d.error()).isEqualTo("body is not valid JSON");
    assertThat(d.digest()).hasSize(16)
        .isEqualTo(JobEvent.digest("uid:12", "not json".getBytes(StandardCharsets.UTF_8)))
        .isNotEqualTo(JobEvent.digest("uid:13", "not json".getBytes(StandardCharsets.UTF_8)))
        .isNotEqualTo(JobEvent.digest("uid:12", "not json!".getBytes(StandardCharsets.UTF_8)));
    JobEvent noId = JobEvent.decode("k", new AMQP.BasicProperties.Builder().type(Messages.TASK_TYPE).build(), new byte[] {1});
    assertThat(noId.index()).isEqualTo(-1);
    assertThatThrownBy(() -> JobEvent.decode("", props, new byte[] {1})).hasMessageContaining("routing key");
    assertThatThrownBy(() -> JobEvent.decode("k", new AMQP.BasicProperties.Builder().type("other").build(), new byte[0]))
        .hasMessageContaining("unknown message type");
  }
}
