package io.trainq.worker;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** The build's version (the worker's; `trainq`, built with it, reports the same). */
public final class Version {
  private Version() {}

  public static String get() {
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
