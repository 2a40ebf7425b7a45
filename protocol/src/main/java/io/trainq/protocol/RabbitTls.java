package io.trainq.protocol;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * TLS to RabbitMQ (amqps): the CA that signed the broker's certificate (PEM; none: the JVM's
 * default trust store), and optionally a client certificate and its key (PEM, PKCS#8 or PKCS#1
 * RSA) for brokers that verify clients. The broker's host name is always verified against its
 * certificate. {@code files} names the PEM files the settings came from, so a child process can be
 * given the same ({@link #toEnv()}); settings read from a Kubernetes Secret have none.
 */
public record RabbitTls(String caPem, String certPem, String keyPem, PemFiles files) {

  /** {@code TRAINQ_RABBITMQ_TLS=true} turns TLS on (so do an amqps:// URI and a CA file). */
  public static final String TLS = "TRAINQ_RABBITMQ_TLS";
  public static final String CA_FILE = "TRAINQ_RABBITMQ_CA_FILE";
  public static final String CERT_FILE = "TRAINQ_RABBITMQ_CERT_FILE";
  public static final String KEY_FILE = "TRAINQ_RABBITMQ_KEY_FILE";
  /**
   * A directory holding a Kubernetes TLS Secret's files: ca.crt, and tls.crt with tls.key, each used
   * when present (a mounted Secret); the *_FILE variables override its files.
   */
  public static final String TLS_DIR = "TRAINQ_RABBITMQ_TLS_DIR";
  /** The default amqps port. */
  public static final int DEFAULT_PORT = 5671;

  /** TLS with the JVM's default trust store and no client certificate. */
  public static final RabbitTls SYSTEM_TRUST = new RabbitTls(null, null, null, null);

  /** Where the PEMs were read from (each may be null). */
  public record PemFiles(Path ca, Path cert, Path key) {}

  public RabbitTls {
    if ((certPem == null) != (keyPem == null)) {
      throw new IllegalArgumentException("RabbitMQ TLS: a client certificate needs its key and a key its certificate"
          + " (" + (certPem == null ? CERT_FILE + " / tls.crt is missing" : KEY_FILE + " / tls.key is missing") + ")");
    }
  }

  /** TLS from PEM text (a Kubernetes Secret's ca.crt, tls.crt and tls.key); each may be null. */
  public static RabbitTls ofPem(String caPem, String certPem, String keyPem) {
    return new RabbitTls(blankToNull(caPem), blankToNull(certPem), blankToNull(keyPem), null);
  }

  /**
   * Reads {@link #TLS}, {@link #TLS_DIR}, {@link #CA_FILE}, {@link #CERT_FILE} and {@link #KEY_FILE}:
   * null when none asks for TLS and {@code tlsByUri} is false.
   *
   * @throws IllegalArgumentException naming the variable whose file cannot be read or whose value is wrong
   */
  public static RabbitTls fromEnv(Map<String, String> env, boolean tlsByUri) {
    String flag = blankToNull(env.get(TLS));
    boolean on = tlsByUri;
    if (flag != null) {
      if (!flag.equalsIgnoreCase("true") && !flag.equalsIgnoreCase("false")) {
        throw new IllegalArgumentException(TLS + " must be true or false, got '" + flag + "'");
      }
      if (flag.equalsIgnoreCase("false") && tlsByUri) {
        throw new IllegalArgumentException(TLS + "=false contradicts the amqps:// URI");
      }
      on = flag.equalsIgnoreCase("true");
    }
    Path dir = path(env, TLS_DIR);
    if (dir != null && !Files.isDirectory(dir)) {
      throw new IllegalArgumentException(TLS_DIR + ": " + dir + " is not a directory");
    }
    Path ca = path(env, CA_FILE, dir, "ca.crt");
    Path cert = path(env, CERT_FILE, dir, "tls.crt");
    Path key = path(env, KEY_FILE, dir, "tls.key");
    if (!on && (ca != null || cert != null || key != null)) {
      if (flag != null) {
        throw new IllegalArgumentException(TLS + "=false, but " + (ca != null ? CA_FILE : cert != null ? CERT_FILE : KEY_FILE)
            + " is set: certificates are for TLS");
      }
      on = true;
    }
    if (!on) {
      return null;
    }
    return new RabbitTls(read(ca, CA_FILE), read(cert, CERT_FILE), read(key, KEY_FILE), new PemFiles(ca, cert, key));
  }

  /** The variables that give a child process the same TLS settings (the files, not their contents). */
  public Map<String, String> toEnv() {
    Map<String, String> env = new LinkedHashMap<>();
    env.put(TLS, "true");
    if (files != null) {
      if (files.ca() != null) {
        env.put(CA_FILE, files.ca().toString());
      }
      if (files.cert() != null) {
        env.put(CERT_FILE, files.cert().toString());
        env.put(KEY_FILE, files.key().toString());
      }
    } else if (caPem != null || certPem != null) {
      throw new IllegalStateException("RabbitMQ TLS settings from PEM text cannot be handed to a child process as files");
    }
    return env;
  }

  /**
   * The SSL context: trusts the CA (or the JVM's defaults), presents the client certificate when
   * there is one.
   *
   * @throws IllegalArgumentException naming what cannot be parsed (where it came from, never its contents)
   */
  public SSLContext sslContext() {
    try {
      TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      if (caPem == null) {
        tmf.init((KeyStore) null);
      } else {
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        int i = 0;
        for (Certificate c : certificates(caPem, "the CA (" + where(files == null ? null : files.ca(), "ca.crt") + ")")) {
          trust.setCertificateEntry("ca-" + i++, c);
        }
        tmf.init(trust);
      }
      KeyManagerFactory kmf = null;
      if (certPem != null) {
        String certWhere = where(files == null ? null : files.cert(), "tls.crt");
        List<Certificate> chain = certificates(certPem, "the client certificate (" + certWhere + ")");
        PrivateKey key = privateKey(keyPem, where(files == null ? null : files.key(), "tls.key"));
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        char[] pw = new char[0];
        ks.setKeyEntry("client", key, pw, chain.toArray(new Certificate[0]));
        kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, pw);
      }
      SSLContext ctx = SSLContext.getInstance("TLS");
      ctx.init(kmf == null ? null : kmf.getKeyManagers(), tmf.getTrustManagers(), null);
      return ctx;
    } catch (GeneralSecurityException | IOException e) {
      throw new IllegalArgumentException("RabbitMQ TLS: cannot set up the SSL context: " + e.getMessage(), e);
    }
  }

  static List<Certificate> certificates(String pem, String what) {
    if (!pem.contains("-----BEGIN CERTIFICATE-----")) {
      throw new IllegalArgumentException("RabbitMQ TLS: " + what + " holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
    }
    try {
      Collection<? extends Certificate> all = CertificateFactory.getInstance("X.509")
          .generateCertificates(new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)));
      if (all.isEmpty()) {
        throw new IllegalArgumentException("RabbitMQ TLS: " + what + " holds no certificate");
      }
      return new ArrayList<>(all);
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException("RabbitMQ TLS: " + what + " is not a valid PEM certificate: " + e.getMessage(), e);
    }
  }

  private static final Pattern PEM_KEY = Pattern.compile("-----BEGIN ([A-Z ]*)PRIVATE KEY-----([^-]*)-----END \\1PRIVATE KEY-----");

  /** A PKCS#8 key (RSA, EC or Ed25519) or a PKCS#1 RSA key, as PEM. */
  static PrivateKey privateKey(String pem, String where) {
    Matcher m = PEM_KEY.matcher(pem);
    if (!m.find()) {
      throw new IllegalArgumentException("RabbitMQ TLS: the client key (" + where + ") holds no PEM private key"
          + " (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)");
    }
    String type = m.group(1).trim();
    byte[] der;
    try {
      der = Base64.getMimeDecoder().decode(m.group(2).trim());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("RabbitMQ TLS: the client key (" + where + ") is not valid base64");
    }
    if (type.equals("RSA")) {
      der = pkcs1ToPkcs8(der);
    } else if (!type.isEmpty()) {
      throw new IllegalArgumentException("RabbitMQ TLS: the client key (" + where + ") is a " + type
          + " PRIVATE KEY; give it as PKCS#8 (openssl pkcs8 -topk8 -nocrypt -in key.pem) or unencrypted");
    }
    for (String alg : List.of("RSA", "EC", "Ed25519", "EdDSA")) {
      try {
        return KeyFactory.getInstance(alg).generatePrivate(new PKCS8EncodedKeySpec(der));
      } catch (GeneralSecurityException e) {
        // try the next algorithm
      }
    }
    throw new IllegalArgumentException("RabbitMQ TLS: the client key (" + where + ") is not an RSA, EC or Ed25519 private key");
  }

  /** Wraps a PKCS#1 RSAPrivateKey in a PKCS#8 PrivateKeyInfo (version 0, rsaEncryption, NULL). */
  static byte[] pkcs1ToPkcs8(byte[] pkcs1) {
    byte[] algorithm = {0x30, 0x0d, 0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00};
    byte[] version = {0x02, 0x01, 0x00};
    byte[] octets = der(0x04, pkcs1);
    byte[] body = new byte[version.length + algorithm.length + octets.length];
    System.arraycopy(version, 0, body, 0, version.length);
    System.arraycopy(algorithm, 0, body, version.length, algorithm.length);
    System.arraycopy(octets, 0, body, version.length + algorithm.length, octets.length);
    return der(0x30, body);
  }

  private static byte[] der(int tag, byte[] content) {
    int n = content.length;
    byte[] len = n < 0x80 ? new byte[] {(byte) n}
        : n < 0x100 ? new byte[] {(byte) 0x81, (byte) n}
        : n < 0x10000 ? new byte[] {(byte) 0x82, (byte) (n >> 8), (byte) n}
        : new byte[] {(byte) 0x83, (byte) (n >> 16), (byte) (n >> 8), (byte) n};
    byte[] out = new byte[1 + len.length + n];
    out[0] = (byte) tag;
    System.arraycopy(len, 0, out, 1, len.length);
    System.arraycopy(content, 0, out, 1 + len.length, n);
    return out;
  }

  private static String where(Path file, String secretKey) {
    return file != null ? file.toString() : "the Secret's " + secretKey;
  }

  /** The variable's file, else the directory's file of that name when it exists. */
  private static Path path(Map<String, String> env, String name, Path dir, String inDir) {
    Path p = path(env, name);
    if (p == null && dir != null && Files.exists(dir.resolve(inDir))) {
      p = dir.resolve(inDir);
    }
    return p;
  }

  private static Path path(Map<String, String> env, String name) {
    String v = blankToNull(env.get(name));
    // absolute: a child process may run in another directory
    return v == null ? null : Path.of(v).toAbsolutePath();
  }

  private static String read(Path file, String variable) {
    if (file == null) {
      return null;
    }
    try {
      return Files.readString(file, StandardCharsets.US_ASCII);
    } catch (IOException | RuntimeException e) {
      throw new IllegalArgumentException(variable + ": cannot read " + file + " (" + e.getClass().getSimpleName()
          + (e.getMessage() == null ? "" : ": " + e.getMessage()) + ")");
    }
  }

  private static String blankToNull(String s) {
    return s == null || s.isBlank() ? null : s;
  }

  @Override
  public String toString() {
    // never the key
    return "RabbitTls[ca=" + (caPem == null ? "system trust store" : files != null && files.ca() != null ? files.ca() : "PEM")
        + ", clientCertificate=" + (certPem != null) + "]";
  }
}
