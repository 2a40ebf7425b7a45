package io.trainq.cli.local;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** `trainq` run through the README's launcher as a user runs it, its output kept in a file. */
final class TrainqProcess {
  static final Path ROOT = Path.of(System.getProperty("trainq.project.root", "..")).toAbsolutePath().normalize();

  /** How a run ended: its exit code and everything it printed. */
  record Result(int code, String output) {}

  private TrainqProcess() {}

  /**
   * Writes a job of the sample dummy program whose tasks all succeed, each taking {@code seconds}; its
   * name gets a number that differs from run to run.
   *
   * @param extra more lines of the spec (indented as its fields), or ""
   */
  static Path dummyJob(Path file, String name, int tasks, String seconds, String extra) throws IOException {
    Files.writeString(file, """
        apiVersion: trainq.io/v1alpha1
        kind: TrainingJob
        metadata: {name: %s-%d}
        spec:
          image: python:3.12-slim
          command: ["python3", "samples/tasks/dummy_train.py"]
          tasks: {count: %d}
          workers:
            env:
            - {name: DUMMY_SECONDS, value: "%s"}
            - {name: DUMMY_FAIL_RATE, value: "0"}
            - {name: DUMMY_CRASH_RATE, value: "0"}
        """.formatted(name, System.nanoTime() % 100000, tasks, seconds) + extra);
    return file;
  }

  /**
   * Starts {@code trainq ARGS} from the project root. As from a terminal: SIGINT at its default
   * disposition (a build started in the background by a non-interactive shell inherits it ignored, and
   * the JVM then never sees Ctrl-C); exec keeps the pid, so a signal to the process reaches the JVM.
   */
  static Process start(Path out, List<String> args) throws IOException {
    return start(out, args, java.util.Map.of());
  }

  /** {@link #start(Path, List)} with more environment variables. */
  static Process start(Path out, List<String> args, java.util.Map<String, String> env) throws IOException {
    List<String> cmd = new ArrayList<>(List.of("python3", "-c",
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])",
        ROOT.resolve("trainq").toString()));
    cmd.addAll(args);
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(ROOT.toFile()).redirectErrorStream(true).redirectOutput(out.toFile());
    pb.environment().putAll(env);
    return pb.start();
  }

  static Result await(Process p, Duration timeout, Path out) throws Exception {
    if (!p.waitFor(timeout.toSeconds(), TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError("trainq did not finish within " + timeout + ":\n" + Files.readString(out));
    }
    return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8));
  }

  /** A number of the run's summary ("  succeeded          40"). */
  static int summary(String output, String row) {
    Matcher m = Pattern.compile("^  " + Pattern.quote(row) + "\\s+(\\d+)", Pattern.MULTILINE).matcher(output);
    assertThat(m.find()).as("summary row '%s' in:\n%s", row, output).isTrue();
    return Integer.parseInt(m.group(1));
  }
}
