package io.trainq.worker;

import io.trainq.protocol.JobSettings;
import io.trainq.protocol.RunnerSettings;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;

/** Task programs for the tests: small shell scripts, and their Python twins for persistent runners. */
final class Scripts {
  private Scripts() {}

  /** How the tests' workers run their task programs. */
  enum Mode {
    /** A process per attempt: the shell script. */
    PROCESS,
    /** A runner per slot: the Python program, its body in {@code for task in tasks():}. */
    PERSISTENT;

    JobSettings apply(JobSettings s) {
      return this == PROCESS ? s : s.withRunner(new RunnerSettings(RunnerSettings.Mode.PERSISTENT, 0, Duration.ofSeconds(30)));
    }

    /** The task program in this mode's form: {@code sh} as a script, or {@code py} in the task loop. */
    List<String> program(Path dir, String name, String sh, String py) throws IOException {
      return this == PROCESS ? sh(dir, name + ".sh", sh) : python(dir, name + ".py", py);
    }
  }

  /** Writes an executable {@code #!/bin/sh} script with {@code D} set to {@code dir}; returns its command line. */
  static List<String> sh(Path dir, String name, String body) throws IOException {
    Path p = dir.resolve(name);
    Files.writeString(p, "#!/bin/sh\nD='" + dir + "'\ni=$TRAINQ_TASK_INDEX\na=$TRAINQ_TASK_ATTEMPT\n" + body + "\n");
    Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
    return List.of(p.toString());
  }

  /**
   * Writes a Python program that runs {@code body} for each task of {@code trainq_task.tasks()}, with
   * {@code D} (the directory), {@code i}, {@code a}, {@code task}, {@code append(file, line)},
   * {@code first(name)} (true once per name: mkdir), {@code WORKER} (the parent's pid at start) and
   * {@code kill_worker()} at hand; returns its command line.
   */
  static List<String> python(Path dir, String name, String body) throws IOException {
    return pythonProgram(dir, name, """
        for task in tasks():
            i, a = task.index, task.attempt
        """ + indent(body, "    "));
  }

  /** Writes a Python program with the helpers of {@link #python} and the given top level. */
  static List<String> pythonProgram(Path dir, String name, String program) throws IOException {
    Path p = dir.resolve(name);
    Files.writeString(p, """
        import json, os, subprocess, sys, time
        from trainq_task import tasks, serve
        D = '%s'
        # the worker, as the runner started: os.getppid() changes once a killed worker's runner is reparented
        WORKER = os.getppid()
        def kill_worker():
            try:
                os.kill(WORKER, 9)
            except ProcessLookupError:
                pass
        def append(f, line):
            with open(os.path.join(D, f), 'a') as out:
                out.write(line + '\\n')
        def first(n):
            try:
                os.mkdir(os.path.join(D, n))
                return True
            except FileExistsError:
                return False
        """.formatted(dir) + program + "\n");
    return List.of("python3", p.toString());
  }

  static String indent(String body, String by) {
    return body.lines().map(l -> by + l).reduce((x, y) -> x + "\n" + y).orElse(by + "pass");
  }

  static List<String> lines(Path file) throws IOException {
    return Files.exists(file) ? Files.readAllLines(file) : List.of();
  }

  /** The file's lines once it has at least {@code n}, or what it has after {@code timeout}. */
  static List<String> awaitLines(Path file, int n, Duration timeout) throws IOException, InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (lines(file).size() < n && System.nanoTime() < deadline) {
      Thread.sleep(50);
    }
    return lines(file);
  }
}
