package io.trainq.worker;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

/** Task programs for the tests: small shell scripts. */
final class Scripts {
  private Scripts() {}

  /** Writes an executable {@code #!/bin/sh} script with {@code D} set to {@code dir}; returns its command line. */
  static List<String> sh(Path dir, String name, String body) throws IOException {
    Path p = dir.resolve(name);
    Files.writeString(p, "#!/bin/sh\nD='" + dir + "'\ni=$TRAINQ_TASK_INDEX\na=$TRAINQ_TASK_ATTEMPT\n" + body + "\n");
    Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
    return List.of(p.toString());
  }

  static List<String> lines(Path file) throws IOException {
    return Files.exists(file) ? Files.readAllLines(file) : List.of();
  }
}
