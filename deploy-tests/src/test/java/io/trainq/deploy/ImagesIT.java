package io.trainq.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Builds both images without Docker (images/build.sh, buildah on bases made from Debian packages),
 * opens the docker-archive tarballs, and runs what is inside them: the operator's Java runtime on its
 * distroless base, and the worker image's entrypoint copying the worker into an "emptyDir" from which
 * it runs inside another glibc image, as another user — what the operator's worker pods do.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ImagesIT {

  Path images;
  String version;
  Path work;

  @BeforeAll
  void build() throws Exception {
    assertThat(Tools.run(List.of("id", "-u")).stdout().trim())
        .as("the image tests chroot into the extracted images: run them as root").isEqualTo("0");
    Path root = Tools.projectRoot();
    images = Path.of(System.getProperty("trainq.images.dir", root.resolve("deploy-tests/target/images").toString()));
    version = ChartIT.appVersion();
    String operatorLib = System.getProperty("trainq.operator.lib", root.resolve("deploy-tests/target/operator-lib").toString());
    long t0 = System.nanoTime();
    Tools.run(List.of(root.resolve("images/build.sh").toString(), "--engine", "buildah", "--out", images.toString(),
            "--operator-lib", operatorLib, "--worker-dist", root.resolve("worker/target/trainq-worker").toString()),
        null, Map.of(), 900).assertOk("images/build.sh");
    System.out.printf("images built in %d s%n", (System.nanoTime() - t0) / 1_000_000_000L);
    work = Files.createTempDirectory(images, "extracted");
  }

  @Test
  void operatorImageRunsItsJavaRuntimeAsNonRootOnTheDistrolessBase() throws Exception {
    Path tar = images.resolve("trainq-operator-" + version + ".tar");
    JsonNode config = config(tar, "ghcr.io/trainq/trainq-operator:" + version);
    assertThat(config.path("User").asText()).isEqualTo("65532:65532");
    assertThat(config.path("WorkingDir").asText()).isEqualTo("/home/nonroot");
    List<String> entrypoint = strings(config.path("Entrypoint"));
    assertThat(entrypoint.get(0)).isEqualTo("/opt/trainq-operator/runtime/bin/java");
    assertThat(entrypoint).contains("-XX:+ExitOnOutOfMemoryError", "-cp", "/opt/trainq-operator/lib/*")
        .endsWith("io.trainq.operator.OperatorMain");
    assertThat(config.at("/Labels/org.opencontainers.image.version").asText()).isEqualTo(version);

    Path rootfs = extract(tar, "operator");
    // Distroless: no shell, no package manager.
    assertThat(rootfs.resolve("bin/sh")).doesNotExist();
    assertThat(rootfs.resolve("usr/bin/apt-get")).doesNotExist();
    assertThat(Files.readString(rootfs.resolve("etc/passwd"))).contains("nonroot:x:65532:65532");
    // The jlink'd runtime starts with only the base's libraries, as the image's user.
    Tools.Result java = inImage(rootfs, "65532:65532", List.of(entrypoint.get(0), "-XX:-UsePerfData", "-version"));
    java.assertOk("java -version in the operator image");
    assertThat(java.stderr()).contains("version \"17");
    Tools.Result modules = inImage(rootfs, "65532:65532", List.of(entrypoint.get(0), "--list-modules"));
    assertThat(modules.assertOk("java --list-modules").stdout())
        .contains("java.net.http", "jdk.crypto.ec", "java.management", "jdk.unsupported");
    // The main class is on the entrypoint's class path.
    assertThat(jarsContaining(rootfs.resolve("opt/trainq-operator/lib"), "io/trainq/operator/OperatorMain.class"))
        .as("a jar in /opt/trainq-operator/lib with io.trainq.operator.OperatorMain").isNotEmpty();
  }

  @Test
  void workerImageCopiesTheWorkerThatThenRunsFromTheCopyInAnotherImage() throws Exception {
    Path tar = images.resolve("trainq-worker-" + version + ".tar");
    JsonNode config = config(tar, "ghcr.io/trainq/trainq-worker:" + version);
    assertThat(config.path("User").asText()).isEqualTo("65532:65532");
    assertThat(config.path("WorkingDir").asText()).isEqualTo("/opt/trainq-worker");
    assertThat(strings(config.path("Entrypoint"))).containsExactly("/bin/cp", "-R", "/opt/trainq-worker/.");
    assertThat(strings(config.path("Cmd"))).containsExactly("/trainq/");

    Path rootfs = extract(tar, "worker");
    assertThat(rootfs.resolve("opt/trainq-worker/bin/trainq-worker")).isExecutable();
    // The pod's emptyDir: created by the kubelet world-writable, mounted at /trainq.
    Path emptyDir = rootfs.resolve("trainq");
    Files.createDirectories(emptyDir);
    Files.setPosixFilePermissions(emptyDir, PosixFilePermissions.fromString("rwxrwxrwx"));
    List<String> init = new ArrayList<>(strings(config.path("Entrypoint")));
    init.addAll(strings(config.path("Cmd")));
    Tools.Result copy = inImage(rootfs, config.path("User").asText(), init);
    copy.assertOk("the worker image's entrypoint " + init);
    assertThat(copy.output()).isEmpty();
    assertThat(emptyDir.resolve("bin/trainq-worker")).isExecutable();

    // The user's training image: another glibc image (here the operator image's distroless base,
    // which has no Java of its own), another user, the emptyDir mounted at /trainq.
    Path userImage = extract(images.resolve("trainq-operator-" + version + ".tar"), "user-image");
    deleteTree(userImage.resolve("opt/trainq-operator"));
    Tools.run(List.of("cp", "-a", emptyDir.toString(), userImage.toString())).assertOk("mount the emptyDir");
    Tools.Result v = inImage(userImage, "1000:1000", List.of("/trainq/bin/trainq-worker", "--version"));
    if (v.exitCode() == 0) {
      assertThat(v.output()).contains(version);
    } else {
      // The worker has no --version: its runtime, started from the copied location, must work.
      System.out.println("trainq-worker --version unsupported (exit " + v.exitCode() + "); checking its runtime: " + v.output());
      Path java = Files.exists(emptyDir.resolve("bin/java")) ? Path.of("/trainq/bin/java") : Path.of("/trainq/runtime/bin/java");
      inImage(userImage, "1000:1000", List.of(java.toString(), "-XX:-UsePerfData", "-version")).assertOk("the copied worker runtime");
    }
  }

  static List<String> strings(JsonNode array) {
    List<String> out = new ArrayList<>();
    array.forEach(n -> out.add(n.asText()));
    return out;
  }

  /** The image config of a docker-archive tarball, checking its single tag. */
  static JsonNode config(Path tar, String expectedTag) throws IOException {
    assertThat(tar).isRegularFile();
    JsonNode manifest = Manifests.JSON.readTree(Tools.run(List.of("tar", "-xOf", tar.toString(), "manifest.json"))
        .assertOk("manifest.json of " + tar).stdout());
    assertThat(manifest.size()).isEqualTo(1);
    assertThat(strings(manifest.at("/0/RepoTags"))).containsExactly(expectedTag);
    JsonNode image = Manifests.JSON.readTree(Tools.run(List.of("tar", "-xOf", tar.toString(), manifest.at("/0/Config").asText()))
        .assertOk("config of " + tar).stdout());
    assertThat(image.path("os").asText()).isEqualTo("linux");
    assertThat(image.path("architecture").asText()).isEqualTo("amd64");
    return image.path("config");
  }

  /** Unpacks the image's layers in order, as a container runtime would. */
  Path extract(Path tar, String name) throws IOException {
    Path dir = work.resolve(name);
    deleteTree(dir);
    Files.createDirectories(dir);
    Path layers = work.resolve(name + "-layers");
    Files.createDirectories(layers);
    Tools.run(List.of("tar", "-xf", tar.toString(), "-C", layers.toString())).assertOk("unpack " + tar);
    JsonNode manifest = Manifests.JSON.readTree(layers.resolve("manifest.json").toFile());
    for (JsonNode layer : manifest.at("/0/Layers")) {
      Tools.run(List.of("tar", "-xf", layers.resolve(layer.asText()).toString(), "-C", dir.toString()))
          .assertOk("layer " + layer.asText());
    }
    deleteTree(layers);
    return dir;
  }

  /** Runs a command inside an extracted image: its own root, /proc mounted, a given uid:gid. */
  static Tools.Result inImage(Path rootfs, String user, List<String> command) {
    // sh -c SCRIPT rootfs user command...: $0 is the root, $1 the user, the rest the command.
    String script = "r=$0; u=$1; shift; mkdir -p \"$r/proc\" && mount -t proc proc \"$r/proc\""
        + " && exec chroot --userspec=\"$u\" \"$r\" \"$@\"";
    List<String> cmd = new ArrayList<>(List.of("unshare", "--mount", "--propagation", "private", "sh", "-c", script,
        rootfs.toString(), user));
    cmd.addAll(command);
    return Tools.run(cmd, null, Map.of(), 120);
  }

  static List<Path> jarsContaining(Path dir, String entry) throws IOException {
    List<Path> out = new ArrayList<>();
    try (Stream<Path> jars = Files.list(dir)) {
      for (Path jar : jars.filter(p -> p.toString().endsWith(".jar")).toList()) {
        try (var zip = new java.util.zip.ZipFile(jar.toFile())) {
          if (zip.getEntry(entry) != null) {
            out.add(jar);
          }
        }
      }
    }
    return out;
  }

  static void deleteTree(Path dir) throws IOException {
    if (Files.exists(dir)) {
      Tools.run(List.of("rm", "-rf", dir.toString())).assertOk("rm -rf " + dir);
    }
  }
}
