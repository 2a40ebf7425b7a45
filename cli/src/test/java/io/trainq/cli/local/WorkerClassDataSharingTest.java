package io.trainq.cli.local;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** When a worker JVM writes the class-data archive, when it maps it, and when it does neither. */
class WorkerClassDataSharingTest {
  private final String classPath = System.getProperty("java.class.path");

  @TempDir Path dir;

  @AfterEach
  void restore() {
    System.setProperty("java.class.path", classPath);
    System.clearProperty("trainq.worker.cds");
  }

  @Test
  void theFirstWorkerWritesTheArchiveAndLaterOnesMapIt() throws Exception {
    Path jar = Files.writeString(dir.resolve("trainq-cli.jar"), "jar");
    System.setProperty("java.class.path", jar.toString());
    Path archive = dir.resolve("trainq-cli.worker.jsa");

    assertThat(WorkerSupervisor.classDataSharing(0)).contains("-XX:ArchiveClassesAtExit=" + archive);
    assertThat(WorkerSupervisor.classDataSharing(1)).as("one writer only").isEmpty();

    Files.writeString(archive, "archive");
    Files.setLastModifiedTime(archive, FileTime.fromMillis(Files.getLastModifiedTime(jar).toMillis() + 1000));
    assertThat(WorkerSupervisor.classDataSharing(3)).contains("-XX:SharedArchiveFile=" + archive, "-Xlog:cds=off");

    // a jar rebuilt after the archive: written again by the first worker
    Files.setLastModifiedTime(jar, FileTime.fromMillis(Files.getLastModifiedTime(archive).toMillis() + 1000));
    assertThat(WorkerSupervisor.classDataSharing(0)).contains("-XX:ArchiveClassesAtExit=" + archive);

    System.setProperty("trainq.worker.cds", "false");
    assertThat(WorkerSupervisor.classDataSharing(0)).isEmpty();
  }

  @Test
  void aClassPathOfSeveralEntriesGetsNone() {
    System.setProperty("java.class.path", dir.resolve("a.jar") + java.io.File.pathSeparator + dir.resolve("b.jar"));
    assertThat(WorkerSupervisor.classDataSharing(0)).isEmpty();
  }
}
