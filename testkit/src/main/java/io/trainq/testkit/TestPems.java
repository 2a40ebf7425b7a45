package io.trainq.testkit;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Throwaway PEM files made with openssl (which scripts/test.sh installs): a CA, a client certificate
 * signed by it with its key as PKCS#8, PKCS#1 ("RSA PRIVATE KEY") and an EC key in both PKCS#8 and
 * SEC1 ("EC PRIVATE KEY"), and a self-signed certificate no broker trusts.
 */
public final class TestPems {
  public final Path dir;

  private TestPems(Path dir) {
    this.dir = dir;
  }

  /** Makes the files in {@code dir} (an empty directory). */
  public static TestPems make(Path dir) throws IOException, InterruptedException {
    TestPems p = new TestPems(dir);
    p.openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test CA",
        "-keyout", "ca.key", "-out", "ca.crt", "-addext", "basicConstraints=critical,CA:TRUE");
    p.openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=test-client", "-keyout", "client.key", "-out", "client.csr");
    p.openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-out", "client.crt");
    p.openssl("rsa", "-in", "client.key", "-traditional", "-out", "client-pkcs1.key");
    p.openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ec.key");
    p.openssl("req", "-new", "-x509", "-key", "ec.key", "-subj", "/CN=test-ec", "-days", "2", "-out", "ec.crt");
    p.openssl("ec", "-in", "ec.key", "-out", "ec-sec1.key");
    p.openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=rogue-client",
        "-keyout", "rogue.key", "-out", "rogue.crt");
    return p;
  }

  public Path file(String name) {
    return dir.resolve(name);
  }

  public String pem(String name) throws IOException {
    return Files.readString(dir.resolve(name), StandardCharsets.US_ASCII);
  }

  private void openssl(String... args) throws IOException, InterruptedException {
    List<String> argv = new ArrayList<>(List.of("openssl"));
    argv.addAll(List.of(args));
    Process p = new ProcessBuilder(argv).directory(dir.toFile()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IOException("openssl " + String.join(" ", args) + " failed: " + out);
    }
  }
}
