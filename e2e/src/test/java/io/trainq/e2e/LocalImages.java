package io.trainq.e2e;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The images the end-to-end tests run, on a cluster without a registry: the operator and worker
 * images (images/build.sh) and the stand-in training image (images/standin/build.sh), written as
 * docker-archives under images/target and imported into the local cluster's containerd.
 */
final class LocalImages {
  static final String STANDIN = "localhost/trainq-train-standin:1";

  private LocalImages() {}

  /** The chart's appVersion: the tag images/build.sh gives both images and the chart deploys. */
  static String appVersion() {
    try {
      Matcher m = Pattern.compile("(?m)^appVersion: *\"?([^\"\\s]+)\"?\\s*$")
          .matcher(Files.readString(Commands.projectRoot().resolve("helm/trainq/Chart.yaml")));
      if (!m.find()) {
        throw new IllegalStateException("no appVersion in helm/trainq/Chart.yaml");
      }
      return m.group(1);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Builds what is missing or older than the jars of this build, then imports the tarballs into
   * the local cluster (scripts/kube-local.sh images skips those already imported).
   */
  static void buildAndImport() {
    Path root = Commands.projectRoot();
    Path out = root.resolve("images/target");
    String version = appVersion();
    FileTime jars = newest(root.resolve("operator/target/lib"), root.resolve("worker/target/trainq-worker"));
    if (stale(out.resolve("trainq-operator-" + version + ".tar"), jars) || stale(out.resolve("trainq-worker-" + version + ".tar"), jars)) {
      Commands.run(Duration.ofMinutes(15), root.resolve("images/build.sh").toString(), "--engine", "buildah",
          "--out", out.toString(), "--operator-lib", root.resolve("operator/target/lib").toString(),
          "--worker-dist", root.resolve("worker/target/trainq-worker").toString());
    }
    if (stale(out.resolve("trainq-train-standin.tar"), newest(root.resolve("images/standin")))) {
      Commands.run(Duration.ofMinutes(5), root.resolve("images/standin/build.sh").toString());
    }
    Commands.run(Duration.ofMinutes(5), root.resolve("scripts/kube-local.sh").toString(), "images");
  }

  private static boolean stale(Path tar, FileTime inputs) {
    try {
      return !Files.isRegularFile(tar) || Files.getLastModifiedTime(tar).compareTo(inputs) < 0;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static FileTime newest(Path... dirs) {
    FileTime newest = FileTime.fromMillis(0);
    for (Path dir : dirs) {
      if (!Files.isDirectory(dir)) {
        throw new IllegalStateException(dir + " is missing: build the operator and the worker first"
            + " (mvn -pl e2e -am verify -Pe2e builds them)");
      }
      try (Stream<Path> files = Files.walk(dir)) {
        for (Path f : (Iterable<Path>) files.filter(Files::isRegularFile)::iterator) {
          FileTime t = Files.getLastModifiedTime(f);
          if (t.compareTo(newest) > 0) {
            newest = t;
          }
        }
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return newest;
  }
}
