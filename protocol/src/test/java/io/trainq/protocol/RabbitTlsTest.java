package io.trainq.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.rabbitmq.client.Address;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.util.List;
import java.util.Map;
import io.trainq.testkit.TestPems;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** TLS settings: where they are read from, what they hand to a child process, and what bad PEM gets. */
class RabbitTlsTest {
  @TempDir
  static Path dir;
  static TestPems pems;

  @BeforeAll
  static void makePems() throws Exception {
    pems = TestPems.make(dir);
  }

  @Test
  void noTlsVariableAndAnAmqpUriArePlainAmqp() {
    assertThat(RabbitTls.fromEnv(Map.of(), false)).isNull();
    RabbitSettings s = RabbitSettings.fromEnv(Map.of("TRAINQ_RABBITMQ_URI", "amqp://u:p@h:5672/%2F"));
    assertThat(s.tls()).isNull();
    assertThat(s.toEnv()).doesNotContainKey(RabbitTls.TLS);
    assertThat(s.toString()).startsWith("amqp://");
  }

  @Test
  void anAmqpsUriIsTlsOnPort5671WithTheSystemTrustStore() {
    RabbitSettings s = RabbitSettings.fromUri("amqps://u:secret@broker.example:/%2F");
    assertThat(s.addresses()).containsExactly(new Address("broker.example", 5671));
    assertThat(s.tls()).isEqualTo(RabbitTls.SYSTEM_TRUST);
    assertThat(s.toString()).isEqualTo("amqps://u:***@broker.example:5671/%2F").doesNotContain("secret");
    assertThat(s.toEnv()).containsEntry(RabbitTls.TLS, "true").doesNotContainKey(RabbitTls.CA_FILE);
    // the same through the environment, and with a cluster's every node
    RabbitSettings many = RabbitSettings.fromUri("amqps://u:p@a:5671,b:5671/%2F");
    assertThat(many.tls()).isNotNull();
    assertThat(many.addresses()).hasSize(2);
    assertThat(RabbitSettings.fromUri("amqps://u:p@h:1234/v").addresses()).containsExactly(new Address("h", 1234));
  }

  @Test
  void anotherSchemeIsRefusedNamingBothThatWork() {
    assertThatThrownBy(() -> RabbitSettings.fromUri("https://u:pw@h/%2F"))
        .hasMessageContaining("amqp://").hasMessageContaining("amqps://").hasMessageNotContaining("pw");
  }

  @Test
  void theCaFileTurnsTlsOnAndIsHandedToChildrenAsAnAbsolutePath() throws Exception {
    RabbitSettings s = RabbitSettings.fromEnv(Map.of("TRAINQ_RABBITMQ_ADDRESSES", "localhost:5671",
        RabbitTls.CA_FILE, pems.file("ca.crt").toString()));
    assertThat(s.tls()).isNotNull();
    assertThat(s.tls().caPem()).isEqualTo(pems.pem("ca.crt"));
    assertThat(s.toEnv()).containsEntry(RabbitTls.TLS, "true").containsEntry(RabbitTls.CA_FILE, pems.file("ca.crt").toString());
    assertThat(s.tls().sslContext().getProtocol()).isEqualTo("TLS");
    // a child reads the same back
    RabbitSettings child = RabbitSettings.fromEnv(s.toEnv());
    assertThat(child.tls()).isEqualTo(s.tls());
    assertThat(child.toString()).startsWith("amqps://");
  }

  @Test
  void aClientCertificateWithItsKeyGoesToChildrenToo() throws Exception {
    RabbitTls tls = RabbitTls.fromEnv(Map.of(RabbitTls.TLS, "true", RabbitTls.CA_FILE, pems.file("ca.crt").toString(),
        RabbitTls.CERT_FILE, pems.file("client.crt").toString(), RabbitTls.KEY_FILE, pems.file("client.key").toString()), false);
    assertThat(tls.toEnv()).containsEntry(RabbitTls.CERT_FILE, pems.file("client.crt").toString())
        .containsEntry(RabbitTls.KEY_FILE, pems.file("client.key").toString());
    assertThat(tls.sslContext()).isNotNull();
    assertThat(tls.toString()).doesNotContain("PRIVATE");
  }

  @Test
  void aDirectoryHoldingAMountedSecretGivesTheFilesItHas() throws Exception {
    Path secret = Files.createDirectories(dir.resolve("mounted"));
    Files.copy(pems.file("ca.crt"), secret.resolve("ca.crt"));
    RabbitTls caOnly = RabbitTls.fromEnv(Map.of(RabbitTls.TLS, "true", RabbitTls.TLS_DIR, secret.toString()), false);
    assertThat(caOnly.caPem()).isEqualTo(pems.pem("ca.crt"));
    assertThat(caOnly.certPem()).isNull();
    Files.copy(pems.file("client.crt"), secret.resolve("tls.crt"));
    Files.copy(pems.file("client-pkcs1.key"), secret.resolve("tls.key"));
    RabbitTls mutual = RabbitTls.fromEnv(Map.of(RabbitTls.TLS, "true", RabbitTls.TLS_DIR, secret.toString()), false);
    assertThat(mutual.certPem()).isEqualTo(pems.pem("client.crt"));
    assertThat(mutual.sslContext()).isNotNull();
    assertThatThrownBy(() -> RabbitTls.fromEnv(Map.of(RabbitTls.TLS_DIR, dir.resolve("nowhere").toString()), true))
        .hasMessageContaining(RabbitTls.TLS_DIR).hasMessageContaining("not a directory");
  }

  @Test
  void keysAsPkcs8Pkcs1AndEcAreRead() throws Exception {
    PrivateKey pkcs8 = RabbitTls.privateKey(pems.pem("client.key"), "client.key");
    PrivateKey pkcs1 = RabbitTls.privateKey(pems.pem("client-pkcs1.key"), "client-pkcs1.key");
    assertThat(pems.pem("client-pkcs1.key")).contains("BEGIN RSA PRIVATE KEY");
    assertThat(pkcs1.getAlgorithm()).isEqualTo("RSA");
    assertThat(pkcs1.getEncoded()).isEqualTo(pkcs8.getEncoded());
    assertThat(RabbitTls.privateKey(pems.pem("ec.key"), "ec.key").getAlgorithm()).isEqualTo("EC");
    assertThat(RabbitTls.ofPem(null, pems.pem("ec.crt"), pems.pem("ec.key")).sslContext()).isNotNull();
  }

  @Test
  void badPemIsAnErrorNamingWhereItCameFromNeverItsContents() throws Exception {
    String sec1 = pems.pem("ec-sec1.key");
    assertThat(sec1).contains("BEGIN EC PRIVATE KEY");
    assertThatThrownBy(() -> RabbitTls.privateKey(sec1, "the Secret's tls.key"))
        .hasMessageContaining("the Secret's tls.key").hasMessageContaining("EC PRIVATE KEY").hasMessageContaining("PKCS#8")
        .hasMessageNotContaining(sec1.lines().skip(1).findFirst().orElseThrow());
    assertThatThrownBy(() -> RabbitTls.ofPem("not a certificate", null, null).sslContext())
        .hasMessageContaining("the Secret's ca.crt").hasMessageContaining("no PEM certificate");
    assertThatThrownBy(() -> RabbitTls.ofPem(null, pems.pem("client.crt"), "garbage").sslContext())
        .hasMessageContaining("tls.key").hasMessageContaining("no PEM private key");
    String broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    assertThatThrownBy(() -> RabbitTls.ofPem(broken, null, null).sslContext()).hasMessageContaining("not a valid PEM certificate");
  }

  @Test
  void wrongVariablesAreNamed() {
    assertThatThrownBy(() -> RabbitTls.fromEnv(Map.of(RabbitTls.TLS, "yes"), false)).hasMessageContaining(RabbitTls.TLS + " must be true or false");
    assertThatThrownBy(() -> RabbitTls.fromEnv(Map.of(RabbitTls.TLS, "false"), true)).hasMessageContaining("amqps://");
    assertThatThrownBy(() -> RabbitTls.fromEnv(Map.of(RabbitTls.TLS, "false", RabbitTls.CA_FILE, "/x"), false))
        .hasMessageContaining(RabbitTls.CA_FILE);
    assertThatThrownBy(() -> RabbitTls.fromEnv(Map.of(RabbitTls.CA_FILE, dir.resolve("missing.crt").toString()), false))
        .hasMessageContaining(RabbitTls.CA_FILE).hasMessageContaining("missing.crt");
    assertThatThrownBy(() -> RabbitTls.fromEnv(Map.of(RabbitTls.CERT_FILE, pems.file("client.crt").toString()), false))
        .hasMessageContaining(RabbitTls.KEY_FILE);
  }

  @Test
  void settingsFromPemTextCannotBeHandedToAChild() throws Exception {
    RabbitTls fromSecret = RabbitTls.ofPem(pems.pem("ca.crt"), null, null);
    assertThatThrownBy(fromSecret::toEnv).isInstanceOf(IllegalStateException.class);
    assertThat(RabbitTls.SYSTEM_TRUST.toEnv()).isEqualTo(Map.of(RabbitTls.TLS, "true"));
    assertThat(new RabbitSettings(List.of(new Address("h", 5671)), "u", "p", "/", null, fromSecret).toString()).startsWith("amqps://");
  }
}
