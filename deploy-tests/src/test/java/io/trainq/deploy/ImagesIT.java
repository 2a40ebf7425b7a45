package io.trainq.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.trainq.operator.k8s.WorkerCommand;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Builds both images without Docker (images/build.sh, buildah on bases made from Debian packages),
 * opens the docker-archive tarballs, and runs what is inside them: the operator's Java runtime on its
 * distroless base, and the worker image's entrypoint copying the worker into an "emptyDir" from which
 * it runs, with the pod's own command, inside another glibc image without a shell, as another user —
 * what the operator's worker pods do.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ImagesIT {

  String version;

  @BeforeAll
  void build() throws Exception {
    version = ChartIT.appVersion();
    Images.build();
  }

  @Test
  void operatorImageRunsItsJavaRuntimeAsNonRootOnTheDistrolessBase() throws Exception {
    Path tar = Images.tarball("trainq-operator");
    JsonNode config = Images.config(tar, "ghcr.io/trainq/trainq-operator:" + version);
    assertThat(config.path("User").asText()).isEqualTo("65532:65532");
    assertThat(config.path("WorkingDir").asText()).isEqualTo("/home/nonroot");
    List<String> entrypoint = Images.strings(config.path("Entrypoint"));
    assertThat(entrypoint.get(0)).isEqualTo("/opt/trainq-operator/runtime/bin/java");
    assertThat(entrypoint).contains("-XX:+ExitOnOutOfMemoryError", "-cp", "/opt/trainq-operator/lib/*")
        .endsWith("io.trainq.operator.OperatorMain");
    assertThat(config.at("/Labels/org.opencontainers.image.version").asText()).isEqualTo(version);

    Path rootfs = Images.extract(tar, "operator");
    // Distroless: no shell, no package manager.
    assertThat(rootfs.resolve("bin/sh")).doesNotExist();
    assertThat(rootfs.resolve("usr/bin/apt-get")).doesNotExist();
    assertThat(Files.readString(rootfs.resolve("etc/passwd"))).contains("nonroot:x:65532:65532");
    // The jlink'd runtime starts with only the base's libraries, as the image's user.
    Tools.Result java = Images.inImage(rootfs, "65532:65532", List.of(entrypoint.get(0), "-XX:-UsePerfData", "-version"));
    java.assertOk("java -version in the operator image");
    assertThat(java.stderr()).contains("version \"17");
    Tools.Result modules = Images.inImage(rootfs, "65532:65532", List.of(entrypoint.get(0), "--list-modules"));
    assertThat(modules.assertOk("java --list-modules").stdout())
        .contains("java.net.http", "jdk.crypto.ec", "java.management", "jdk.unsupported");
    // The main class is on the entrypoint's class path.
    assertThat(Images.jarsContaining(rootfs.resolve("opt/trainq-operator/lib"), "io/trainq/operator/OperatorMain.class"))
        .as("a jar in /opt/trainq-operator/lib with io.trainq.operator.OperatorMain").isNotEmpty();
  }

  @Test
  void workerImageCopiesTheWorkerThatThenRunsFromTheCopyInAnotherImage() throws Exception {
    Path tar = Images.tarball("trainq-worker");
    JsonNode config = Images.config(tar, "ghcr.io/trainq/trainq-worker:" + version);
    assertThat(config.path("User").asText()).isEqualTo("65532:65532");
    assertThat(config.path("WorkingDir").asText()).isEqualTo("/opt/trainq-worker");
    assertThat(Images.strings(config.path("Entrypoint"))).containsExactly("/bin/cp", "-R", "/opt/trainq-worker/.");
    assertThat(Images.strings(config.path("Cmd"))).containsExactly("/trainq/");

    Path rootfs = Images.extract(tar, "worker");
    assertThat(rootfs.resolve("opt/trainq-worker/bin/trainq-worker")).isExecutable();
    // The pod's emptyDir: created by the kubelet world-writable, mounted at /trainq.
    Path emptyDir = rootfs.resolve("trainq");
    Files.createDirectories(emptyDir);
    Files.setPosixFilePermissions(emptyDir, PosixFilePermissions.fromString("rwxrwxrwx"));
    List<String> init = new ArrayList<>(Images.strings(config.path("Entrypoint")));
    init.addAll(Images.strings(config.path("Cmd")));
    Tools.Result copy = Images.inImage(rootfs, config.path("User").asText(), init);
    copy.assertOk("the worker image's entrypoint " + init);
    assertThat(copy.output()).isEmpty();
    assertThat(emptyDir.resolve("bin/trainq-worker")).isExecutable();

    // The user's training image: another glibc image without a shell (here the operator image's
    // distroless base, which has no Java of its own), another user, the emptyDir mounted at /trainq.
    Path userImage = Images.extract(Images.tarball("trainq-operator"), "user-image");
    Images.deleteTree(userImage.resolve("opt/trainq-operator"));
    assertThat(userImage.resolve("bin/sh")).as("the user's image has no shell").doesNotExist();
    Tools.run(List.of("cp", "-a", emptyDir.toString(), userImage.toString())).assertOk("mount the emptyDir");
    // The worker starts there exactly as the pod starts it (WorkerPods' container command), with
    // --version in place of "--" and the task's command.
    List<String> worker = new ArrayList<>(WorkerCommand.jvm(List.of()));
    worker.add("--version");
    Tools.Result v = Images.inImage(userImage, "1000:1000", worker);
    v.assertOk("the worker's own --version in a shell-less image: " + worker);
    String distVersion = Files.readString(emptyDir.resolve("VERSION")).strip();
    assertThat(v.stdout().strip()).isEqualTo("trainq-worker " + distVersion);
    assertThat(distVersion).startsWith(version);
  }

}
