package io.trainq.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs the project's scripts and tools (helm, kubectl, images/build.sh), failing the test on a non-zero exit. */
final class Commands {
  private Commands() {}

  /** The checkout under test: failsafe passes it; a run from the module directory falls back to its parent. */
  static Path projectRoot() {
    String root = System.getProperty("trainq.project.root");
    return root == null || root.isBlank() ? Path.of("").toAbsolutePath().getParent() : Path.of(root);
  }

  /** Runs COMMAND in the project root; returns stdout and stderr together. */
  static String run(Duration limit, List<String> command) {
    long t0 = System.nanoTime();
    try {
      Path output = Files.createTempFile("trainq-e2e-", ".log");
      try {
        Process p = new ProcessBuilder(command).directory(projectRoot().toFile())
            .redirectErrorStream(true).redirectOutput(output.toFile()).start();
        boolean done = p.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS);
        if (!done) {
          p.destroyForcibly();
        }
        String out = Files.readString(output);
        assertThat(done).as("%s finished within %s; output:%n%s", command, limit, out).isTrue();
        assertThat(p.exitValue()).as("exit status of %s; output:%n%s", command, out).isZero();
        System.out.printf("%s: %.1f s%n", String.join(" ", command.subList(0, Math.min(2, command.size()))),
            (System.nanoTime() - t0) / 1e9);
        return out;
      } finally {
        Files.deleteIfExists(output);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  static String run(Duration limit, String... command) {
    return run(limit, List.of(command));
  }
}
