package io.trainq.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.rabbitmq.client.Address;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.Recoverable;
import com.rabbitmq.client.RecoveryListener;
import com.rabbitmq.client.TopologyRecoveryException;
import com.rabbitmq.client.impl.DefaultExceptionHandler;
import io.trainq.testkit.RabbitBroker;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * The first connect against a real broker: a refusal the broker will keep giving (wrong password,
 * unknown vhost) ends it at once with the broker's words, while an unreachable broker is retried.
 */
@Tag("broker")
class ConnectionsIT {
  private static final Duration TIMEOUT = Duration.ofSeconds(30);
  private final RabbitBroker broker = RabbitBroker.single();

  private RabbitSettings settings(String user, String password, String vhost) {
    return new RabbitSettings(List.of(new Address("127.0.0.1", broker.amqpPort(0))), user, password, vhost, null);
  }

  @Test
  void rightCredentialsConnect() throws Exception {
    try (Connection c = Connections.connect(settings(RabbitBroker.USERNAME, RabbitBroker.PASSWORD, RabbitBroker.VHOST),
        "connections-it", TIMEOUT)) {
      assertThat(c.isOpen()).isTrue();
    }
  }

  @Test
  void wrongPasswordFailsAtOnceNamingUserAndBroker() {
    String password = "not-the-password-" + System.nanoTime();
    long t0 = System.nanoTime();
    assertThatThrownBy(() -> Connections.connect(settings(RabbitBroker.USERNAME, password, "/"), "connections-it", TIMEOUT))
        .isInstanceOf(BrokerRefusedException.class)
        .hasMessageContaining("ACCESS_REFUSED")
        .hasMessageContaining("user '" + RabbitBroker.USERNAME + "'")
        .hasMessageContaining("127.0.0.1:" + broker.amqpPort(0))
        .hasMessageContaining("check the user name and password")
        .hasMessageNotContaining(password);
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(10));
  }

  @Test
  void unknownVhostFailsAtOnceNamingIt() {
    String vhost = "no-such-vhost-" + System.nanoTime();
    long t0 = System.nanoTime();
    assertThatThrownBy(() -> Connections.connect(settings(RabbitBroker.USERNAME, RabbitBroker.PASSWORD, vhost),
        "connections-it", TIMEOUT))
        .isInstanceOf(BrokerRefusedException.class)
        .hasMessageContaining("NOT_ALLOWED")
        .hasMessageContaining("vhost '" + vhost + "'")
        .hasMessageContaining("user '" + RabbitBroker.USERNAME + "'")
        .hasMessageNotContaining(RabbitBroker.PASSWORD + "@");
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(10));
  }

  @Test
  void refusedConnectionIsRetriedUntilTheDeadlineAndSaysSo() throws IOException {
    int closedPort;
    try (ServerSocket s = new ServerSocket(0)) {
      closedPort = s.getLocalPort();
    }
    RabbitSettings nobody = new RabbitSettings(List.of(new Address("127.0.0.1", closedPort)), "u", "secret-pw", "/", null);
    Logger logger = (Logger) LoggerFactory.getLogger(Connections.class);
    ListAppender<ILoggingEvent> logged = new ListAppender<>();
    logged.start();
    logger.addAppender(logged);
    long t0 = System.nanoTime();
    try {
      assertThatThrownBy(() -> Connections.connect(nobody, "connections-it", Duration.ofSeconds(3)))
          .isInstanceOf(IOException.class)
          .isNotInstanceOf(BrokerRefusedException.class)
          .hasMessageContaining("cannot reach RabbitMQ at 127.0.0.1:" + closedPort)
          .hasMessageNotContaining("secret-pw");
    } finally {
      logger.detachAppender(logged);
    }
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isGreaterThanOrEqualTo(Duration.ofSeconds(1));
    assertThat(logged.list).extracting(ILoggingEvent::getFormattedMessage)
        .anySatisfy(m -> assertThat(m)
            .contains("127.0.0.1:" + closedPort).contains("user 'u'").contains("retrying for another")
            .doesNotContain("secret-pw"));
  }

  @Test
  void recoveryReplaysNothingDeclaredOnAChannelTheApplicationClosed() throws Exception {
    String queue = RabbitBroker.uniqueName("recovery-it");
    String name = "connections-it-" + queue;
    List<Throwable> topologyErrors = new CopyOnWriteArrayList<>();
    try (Connection c = Connections.connect(settings(RabbitBroker.USERNAME, RabbitBroker.PASSWORD, RabbitBroker.VHOST),
        f -> f.setExceptionHandler(new DefaultExceptionHandler() {
          @Override
          public void handleTopologyRecoveryException(Connection conn, Channel ch, TopologyRecoveryException e) {
            topologyErrors.add(e);
          }
        }), name, TIMEOUT)) {
      // a job's topology declared on a short-lived channel, as the runner and the operator do
      Channel declare = c.createChannel();
      declare.queueDeclare(queue, true, false, false, Map.of("x-queue-type", "quorum"));
      declare.close();
      Channel consume = c.createChannel();
      BlockingQueue<String> got = new LinkedBlockingQueue<>();
      consume.basicConsume(queue, true, (tag, d) -> got.add(new String(d.getBody(), StandardCharsets.UTF_8)), tag -> { });
      CountDownLatch recovered = new CountDownLatch(1);
      ((Recoverable) c).addRecoveryListener(new RecoveryListener() {
        @Override
        public void handleRecovery(Recoverable r) {
          recovered.countDown();
        }

        @Override
        public void handleRecoveryStarted(Recoverable r) { }
      });

      String node = broker.nodeName(0);
      String pid = broker.ctl(node, "rabbitmqctl", "list_connections", "pid", "client_properties", "--silent").lines()
          .filter(l -> l.contains(name)).map(l -> l.split("\t")[0].trim()).findFirst().orElseThrow();
      broker.ctl(node, "rabbitmqctl", "close_connection", pid, "connections-it");
      assertThat(recovered.await(30, TimeUnit.SECONDS)).as("the connection recovered").isTrue();

      try (Connection p = broker.newConnection("connections-it-publisher"); Channel pc = p.createChannel()) {
        pc.basicPublish("", queue, null, "after".getBytes(StandardCharsets.UTF_8));
      }
      assertThat(got.poll(15, TimeUnit.SECONDS)).as("the consumer recovered").isEqualTo("after");
      assertThat(topologyErrors).as("recovery errors").isEmpty();
    } finally {
      broker.deleteQueue(queue);
    }
  }
}
