package io.trainq.worker;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** The worker's version, from the build. */
final class Version {
  private Version() {}

  static String get() {
    try (InputStream in = Version.class.getResourceAsStream("/io/trainq/worker/version.properties")) {
      if (in != null) {
        Properties p = new Properties();
        p.load(in);
        return p.getProperty("version", "unknown");
      }
    } catch (IOException e) {
      // fall through
    }
    return "unknown";
  }
}
