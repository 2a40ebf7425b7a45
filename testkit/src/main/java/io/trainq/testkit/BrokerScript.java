package io.trainq.testkit;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Runs {@code scripts/rabbitmq.sh}, the one place that knows how brokers start and stop. */
final class BrokerScript {

  static final String PROJECT_ROOT_PROPERTY = "trainq.project.root";
  private static final String SCRIPT = "scripts/rabbitmq.sh";
  private static final Logger log = LoggerFactory.getLogger(BrokerScript.class);

  /** What a run printed (stdout and stderr together) and how it exited. */
  record Result(int exitCode, String output) {}

  private final Path root;

  private BrokerScript(Path root) {
    this.root = root;
  }

  /**
   * The script of this checkout: {@code -Dtrainq.project.root}, else the nearest directory
   * above the working directory that holds {@code scripts/rabbitmq.sh}.
   */
  static BrokerScript locate() {
    String configured = System.getProperty(PROJECT_ROOT_PROPERTY);
    if (configured != null && !configured.isBlank()) {
      Path dir = Path.of(configured).toAbsolutePath().normalize();
      if (Files.isRegularFile(dir.resolve(SCRIPT))) {
        return new BrokerScript(dir);
      }
    }
    for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
      if (Files.isRegularFile(dir.resolve(SCRIPT))) {
        return new BrokerScript(dir);
      }
    }
    throw new IllegalStateException("cannot find " + SCRIPT + " above " + Path.of("").toAbsolutePath()
        + "; set -D" + PROJECT_ROOT_PROPERTY + "=<the trainq checkout>");
  }

  Path root() {
    return root;
  }

  /** Runs the script with {@code args}; never throws on a non-zero exit. */
  Result run(Duration timeout, String... args) {
    List<String> command = new ArrayList<>();
    command.add("bash");
    command.add(root.resolve(SCRIPT).toString());
    command.addAll(List.of(args));
    log.info("running {}", String.join(" ", command.subList(1, command.size())));
    try {
      Process process = new ProcessBuilder(command)
          .directory(root.toFile())
          .redirectErrorStream(true)
          .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
          .start();
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      Thread reader = new Thread(() -> copy(process.getInputStream(), out), "rabbitmq.sh-output");
      reader.setDaemon(true);
      reader.start();
      if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
        reader.join(1000);
        return new Result(-1, out.toString(StandardCharsets.UTF_8)
            + "\n(" + SCRIPT + " did not finish within " + timeout.toSeconds() + " s)");
      }
      reader.join(5000);
      return new Result(process.exitValue(), out.toString(StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot run " + command, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while running " + command, e);
    }
  }

  /** Runs the script and returns its output; throws with that output when it fails. */
  String runOrThrow(Duration timeout, String... args) {
    Result result = run(timeout, args);
    if (result.exitCode() != 0) {
      throw new IllegalStateException(SCRIPT + " " + String.join(" ", args) + " failed (exit "
          + result.exitCode() + "):\n" + result.output());
    }
    return result.output();
  }

  private static void copy(InputStream in, ByteArrayOutputStream out) {
    byte[] buffer = new byte[8192];
    try (in) {
      int n;
      while ((n = in.read(buffer)) >= 0) {
        out.write(buffer, 0, n); // ByteArrayOutputStream synchronizes its writes
      }
    } catch (IOException e) {
      // the process went away; what was read so far is what we report
    }
  }
}
