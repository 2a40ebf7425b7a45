package io.trainq.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class MessagesTest {

  @Test
  void taskRoundTrips() throws Exception {
    var params = JsonNodeFactory.instance.objectNode().put("lr", 0.01).put("seed", 3);
    TaskMessage t = new TaskMessage("uid-1", 42, 2, params);
    TaskMessage back = Messages.decodeTask(Messages.encodeTask(t));
    assertThat(back).isEqualTo(t);
    var props = Messages.taskProperties(t);
    assertThat(props.getMessageId()).isEqualTo("uid-1:42");
    assertThat(props.getDeliveryMode()).isEqualTo(2);
    assertThat(props.getHeaders()).containsEntry(Messages.ATTEMPT_HEADER, 2);
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
    "not json at all|body is not valid JSON",
    "[1,2]|body is not a JSON object",
    "{\"jobUid\":\"u\",\"index\":1,\"attempt\":1}|missing field: schema",
    "{\"schema\":9,\"jobUid\":\"u\",\"index\":1,\"attempt\":1}|unknown schema version 9",
    "{\"schema\":1,\"index\":1,\"attempt\":1}|missing field: jobUid",
    "{\"schema\":1,\"jobUid\":\"u\",\"attempt\":1}|missing field: index",
    "{\"schema\":1,\"jobUid\":\"u\",\"index\":-1,\"attempt\":1}|field index must be an integer >= 0",
    "{\"schema\":1,\"jobUid\":\"u\",\"index\":1,\"attempt\":0}|field attempt must be an integer >= 1",
    "{\"schema\":1,\"jobUid\":\"u\",\"index\":1,\"attempt\":1,\"params\":[1]}|field params must be a JSON object"
  })
  void malformedTasksNameWhatIsWrong(String body, String reason) {
    assertThatThrownBy(() -> Messages.decodeTask(body.getBytes(StandardCharsets.UTF_8)))
        .isInstanceOf(MalformedMessageException.class)
        .hasMessageContaining(reason);
  }

  @Test
  void eventRoundTrips() throws Exception {
    TaskEvent e = new TaskEvent(TaskEvent.SCHEMA, TaskEvent.Type.SUCCEEDED, "ns.j.u", "u", 3, 1, "w-1", 0, 0, 1200L, 2.4, null, null, 1700000000000L);
    assertThat(Messages.decodeEvent(Messages.encodeEvent(e))).isEqualTo(e);
    assertThat(e.messageId()).isEqualTo("u:3:1:SUCCEEDED");
  }

  @Test
  void eventBatchesRoundTripAndNameTheBadElement() throws Exception {
    TaskEvent a = new TaskEvent(TaskEvent.SCHEMA, TaskEvent.Type.SUCCEEDED, "ns.j.1", "uid", 4, 1, "w", 0, 0, 10L, 1.0, null, null, 5);
    TaskEvent b = new TaskEvent(TaskEvent.SCHEMA, TaskEvent.Type.SUCCEEDED, "ns.j.1", "uid", 7, 2, "w", 1, 0, 12L, 1.2, null, null, 6);
    com.rabbitmq.client.AMQP.BasicProperties props = Messages.eventBatchProperties(java.util.List.of(a, b));
    assertThat(props.getType()).isEqualTo(Messages.EVENT_BATCH_TYPE);
    assertThat(props.getMessageId()).isEqualTo(a.messageId() + "+1");
    assertThat(Messages.decodeEventMessage(props, Messages.encodeEvents(java.util.List.of(a, b)))).containsExactly(a, b);
    assertThat(Messages.decodeEventMessage(Messages.eventProperties(a), Messages.encodeEvent(a))).containsExactly(a);

    byte[] bad = "{\"schema\":2,\"events\":[{\"schema\":1,\"type\":\"SUCCEEDED\",\"jobKey\":\"k\"},{\"schema\":9}]}"
        .getBytes(java.nio.charset.StandardCharsets.UTF_8);
    assertThatThrownBy(() -> Messages.decodeEvents(bad)).isInstanceOf(MalformedMessageException.class).hasMessageContaining("events[1]");
    assertThatThrownBy(() -> Messages.decodeEvents("{\"schema\":2,\"events\":[]}".getBytes(java.nio.charset.StandardCharsets.UTF_8)))
        .hasMessageContaining("non-empty array");
    assertThatThrownBy(() -> Messages.decodeEvents("{\"schema\":3}".getBytes(java.nio.charset.StandardCharsets.UTF_8)))
        .hasMessageContaining("unknown event batch schema 3");
  }

  @Test
  void tailKeepsTheEnd() {
    assertThat(Messages.tail("abcdef", 4)).isEqualTo("…def");
    assertThat(Messages.tail("abc", 4)).isEqualTo("abc");
  }

  @Test
  void settingsNeverPrintThePassword() {
    RabbitSettings s = RabbitSettings.fromUri("amqp://trainq:s3cret@127.0.0.1:5701/%2F");
    assertThat(s.toString()).doesNotContain("s3cret").contains("127.0.0.1:5701");
    assertThat(s.vhost()).isEqualTo("/");
    assertThat(s.password()).isEqualTo("s3cret");
    assertThatThrownBy(() -> RabbitSettings.fromUri("http://u:pw@h/")).hasMessageNotContaining("pw@");
  }

  @Test
  void aUriMayNameEveryNodeOfACluster() {
    RabbitSettings s = RabbitSettings.fromUri("amqp://trainq:s3cret@127.0.0.1:5701,127.0.0.1:5702, 127.0.0.1/vh");
    assertThat(s.addressList()).isEqualTo("127.0.0.1:5701,127.0.0.1:5702,127.0.0.1:5672");
    assertThat(s.username()).isEqualTo("trainq");
    assertThat(s.password()).isEqualTo("s3cret");
    assertThat(s.vhost()).isEqualTo("vh");
    assertThat(s.toString()).doesNotContain("s3cret");
    assertThat(RabbitSettings.fromUri("amqp://127.0.0.1:5701,127.0.0.1:5702").addresses()).hasSize(2);
    assertThatThrownBy(() -> RabbitSettings.fromUri("amqp://u:pw@h1:x,h2/")).hasMessage("invalid RabbitMQ address 'h1:x': expected host:port");
  }
}
