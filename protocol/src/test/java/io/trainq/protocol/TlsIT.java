package io.trainq.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.rabbitmq.client.Address;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import io.trainq.testkit.RabbitBroker;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import io.trainq.testkit.TestPems;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * amqps against the broker's TLS listener, made with scripts/rabbitmq.sh's throwaway certificates:
 * with the CA the connection works and the broker sees TLS (and the client certificate, when one is
 * given); a certificate not trusted, a host name the certificate does not hold and a port without
 * TLS each end the first connect at once with a clear reason.
 */
@Tag("broker")
class TlsIT {
  private static final Duration TIMEOUT = Duration.ofSeconds(20);
  private final RabbitBroker broker = RabbitBroker.single();
  @TempDir
  static Path dir;
  static TestPems pems;

  @BeforeAll
  static void makePems() throws Exception {
    pems = TestPems.make(dir);
  }

  private RabbitSettings settings(String host, int port, RabbitTls tls) {
    return new RabbitSettings(List.of(new Address(host, port)), RabbitBroker.USERNAME, RabbitBroker.PASSWORD, "/", null, tls);
  }

  private RabbitTls caOnly() {
    return RabbitTls.fromEnv(Map.of(RabbitTls.CA_FILE, broker.tlsFile("ca.crt").toString()), false);
  }

  @Test
  void withTheCaTasksTravelOverTlsWithConfirms() throws Exception {
    String name = RabbitBroker.uniqueName("tls-it");
    try (Connection c = Connections.connect(settings("127.0.0.1", broker.tlsPort(0), caOnly()), name, TIMEOUT);
        Channel ch = c.createChannel()) {
      String q = ch.queueDeclare("", false, true, true, null).getQueue();
      ch.confirmSelect();
      ch.basicPublish("", q, null, "over tls".getBytes(StandardCharsets.UTF_8));
      ch.waitForConfirmsOrDie(10_000);
      GetResponse r = ch.basicGet(q, true);
      assertThat(new String(r.getBody(), StandardCharsets.UTF_8)).isEqualTo("over tls");
      JsonNode seen = broker.connectionNamed(name);
      assertThat(seen.path("ssl").asBoolean()).as("the broker's view: %s", seen).isTrue();
      assertThat(seen.path("peer_cert_subject").isMissingNode() || seen.path("peer_cert_subject").isNull()
          || seen.path("peer_cert_subject").asText().isEmpty()).as("no client certificate sent: %s", seen).isTrue();
    }
  }

  @Test
  void anAmqpsUriByHostNameWithTheClientCertificateFromTheEnvironment() throws Exception {
    String name = RabbitBroker.uniqueName("tls-it-mutual");
    RabbitSettings s = RabbitSettings.fromEnv(Map.of(
        "TRAINQ_RABBITMQ_URI", "amqps://" + RabbitBroker.USERNAME + ":" + RabbitBroker.PASSWORD + "@localhost:" + broker.tlsPort(0) + "/%2F",
        RabbitTls.CA_FILE, broker.tlsFile("ca.crt").toString(),
        RabbitTls.CERT_FILE, broker.tlsFile("client.crt").toString(),
        RabbitTls.KEY_FILE, broker.tlsFile("client.key").toString()));
    try (Connection c = Connections.connect(s, name, TIMEOUT)) {
      assertThat(c.isOpen()).isTrue();
      JsonNode seen = broker.connectionNamed(name);
      assertThat(seen.path("ssl").asBoolean()).isTrue();
      assertThat(seen.path("peer_cert_subject").asText()).as("the broker's view: %s", seen).contains("CN=trainq-test-client");
    }
  }

  @Test
  void aCertificateNotSignedByATrustedCaFailsAtOnceNamingTheCaSetting() {
    long t0 = System.nanoTime();
    assertThatThrownBy(() -> Connections.connect(settings("127.0.0.1", broker.tlsPort(0), RabbitTls.SYSTEM_TRUST), "tls-it", TIMEOUT))
        .isInstanceOf(BrokerRefusedException.class)
        .hasMessageContaining("not signed by a CA trusted here")
        .hasMessageContaining(RabbitTls.CA_FILE)
        .hasMessageContaining("127.0.0.1:" + broker.tlsPort(0))
        .hasMessageNotContaining(RabbitBroker.PASSWORD + "@");
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).as("no retries").isLessThan(TIMEOUT.dividedBy(2));
  }

  @Test
  void aHostTheCertificateDoesNotNameFailsAtOnce() {
    // the listener answers on 127.0.0.2 too, with a certificate for localhost and 127.0.0.1 only
    assertThatThrownBy(() -> Connections.connect(settings("127.0.0.2", broker.tlsPort(0), caOnly()), "tls-it", TIMEOUT))
        .isInstanceOf(BrokerRefusedException.class)
        .hasMessageContaining("does not name the host");
  }

  @Test
  void tlsToThePlainAmqpPortFailsAtOnce() {
    assertThatThrownBy(() -> Connections.connect(settings("127.0.0.1", broker.amqpPort(0), caOnly()), "tls-it", TIMEOUT))
        .isInstanceOf(BrokerRefusedException.class)
        .hasMessageContaining("does not speak TLS");
  }

  @Test
  void aClientCertificateFromACaTheBrokerDoesNotListIsNotSent() throws Exception {
    // The broker names the CAs it accepts; the client sends only a certificate they signed. This
    // broker verifies client certificates when sent but does not require one, so the connection
    // stands, without a client identity.
    String name = RabbitBroker.uniqueName("tls-it-rogue");
    RabbitTls rogue = new RabbitTls(caOnly().caPem(), pemOf("rogue.crt"), pemOf("rogue.key"), null);
    try (Connection c = Connections.connect(settings("127.0.0.1", broker.tlsPort(0), rogue), name, TIMEOUT)) {
      JsonNode seen = broker.connectionNamed(name);
      assertThat(seen.path("ssl").asBoolean()).isTrue();
      assertThat(seen.path("peer_cert_subject").asText("")).as("the broker's view: %s", seen).doesNotContain("rogue");
    }
  }

  private static String pemOf(String name) {
    try {
      return pems.pem(name);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
