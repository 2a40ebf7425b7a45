package io.trainq.cli.local;

import io.trainq.protocol.RabbitSettings;
import io.trainq.protocol.RabbitTls;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * The broker of a single-machine run: the one the user names, or a local RabbitMQ 4.0 node started with
 * the project's own script (the same one the tests use), which is left running for the next run.
 */
public final class LocalBroker {
  static final String LOCAL_URI = "amqp://trainq:trainq@127.0.0.1:5672/%2F";

  private LocalBroker() {}

  /**
   * @param uri the user's broker (--rabbitmq or TRAINQ_RABBITMQ_URI), or null to use or start a local one
   * @param projectRoot where scripts/rabbitmq.sh lives, or null when running outside the source tree
   */
  public static RabbitSettings resolve(String uri, Path projectRoot, Consumer<String> say) throws IOException, InterruptedException {
    if (uri != null && !uri.isBlank()) {
      RabbitSettings s = RabbitSettings.fromUri(uri);
      // the CA and client certificate come from TRAINQ_RABBITMQ_CA_FILE, _CERT_FILE and _KEY_FILE
      return s.withTls(RabbitTls.fromEnv(System.getenv(), s.tls() != null));
    }
    if (listening("127.0.0.1", 5672)) {
      say.accept("Using the RabbitMQ on 127.0.0.1:5672 (pass --rabbitmq amqp://user:pass@host:port/vhost for another).");
      return RabbitSettings.fromUri(LOCAL_URI);
    }
    Path script = projectRoot == null ? null : projectRoot.resolve("scripts/rabbitmq.sh");
    if (script == null || !Files.isExecutable(script)) {
      throw new IOException("no RabbitMQ on 127.0.0.1:5672 and scripts/rabbitmq.sh not found to start one: "
          + "pass --rabbitmq amqp://user:pass@host:5672/%2F (or set TRAINQ_RABBITMQ_URI)");
    }
    say.accept("No RabbitMQ on 127.0.0.1:5672: starting a local RabbitMQ 4.0 node with scripts/rabbitmq.sh "
        + "(the first time this builds a Debian chroot, about a minute) ...");
    ProcessBuilder pb = new ProcessBuilder(script.toString(), "start", "--version", "4.0", "--nodes", "1")
        .directory(projectRoot.toFile())
        .redirectErrorStream(true);
    Process p = pb.start();
    StringBuilder out = new StringBuilder();
    try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      String line;
      while ((line = r.readLine()) != null) {
        out.append(line).append('\n');
      }
    }
    if (p.waitFor() != 0) {
      throw new IOException("scripts/rabbitmq.sh start failed:\n" + out);
    }
    say.accept("Started RabbitMQ 4.0 at amqp://127.0.0.1:5672 (management UI http://127.0.0.1:15672, user trainq). "
        + "It keeps running; stop it with: scripts/rabbitmq.sh stop");
    return RabbitSettings.fromUri(LOCAL_URI);
  }

  static boolean listening(String host, int port) {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(host, port), 300);
      return true;
    } catch (IOException e) {
      return false;
    }
  }
}
