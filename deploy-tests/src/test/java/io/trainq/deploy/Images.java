package io.trainq.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The two images, built once per test run with images/build.sh (buildah, bases from Debian packages),
 * and a way to run what is inside them without a container engine: the layers unpacked in order,
 * then chroot as the image's user in a private mount namespace with /proc (and optionally a read-only
 * root and a tmpfs /tmp, as the chart's securityContext asks).
 */
final class Images {

  private static Path built;

  private Images() {}

  static synchronized Path build() throws IOException {
    if (built != null) {
      return built;
    }
    assertThat(Tools.run(List.of("id", "-u")).stdout().trim())
        .as("the image tests chroot into the extracted images: run them as root").isEqualTo("0");
    Path root = Tools.projectRoot();
    Path dir = Path.of(System.getProperty("trainq.images.dir", root.resolve("deploy-tests/target/images").toString()));
    String operatorLib = System.getProperty("trainq.operator.lib", root.resolve("operator/target/lib").toString());
    long t0 = System.nanoTime();
    Tools.run(List.of(root.resolve("images/build.sh").toString(), "--engine", "buildah", "--out", dir.toString(),
            "--operator-lib", operatorLib, "--worker-dist", root.resolve("worker/target/trainq-worker").toString()),
        null, Map.of(), 900).assertOk("images/build.sh");
    System.out.printf("images built in %d s%n", (System.nanoTime() - t0) / 1_000_000_000L);
    // What earlier runs unpacked.
    deleteTree(dir.resolve("extracted"));
    Files.createDirectories(dir.resolve("extracted"));
    built = dir;
    return dir;
  }

  static Path tarball(String image) throws Exception {
    return build().resolve(image + "-" + ChartIT.appVersion() + ".tar");
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

  /** Unpacks the image's layers in order, as a container runtime would, into a new directory. */
  static Path extract(Path tar, String name) throws IOException {
    Path dir = Files.createTempDirectory(build().resolve("extracted"), name + "-");
    // An image's root is world-readable; createTempDirectory's 0700 would lock out the image's user.
    Files.setPosixFilePermissions(dir, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
    Path layers = Files.createTempDirectory(build().resolve("extracted"), name + "-layers-");
    Tools.run(List.of("tar", "-xf", tar.toString(), "-C", layers.toString())).assertOk("unpack " + tar);
    JsonNode manifest = Manifests.JSON.readTree(layers.resolve("manifest.json").toFile());
    for (JsonNode layer : manifest.at("/0/Layers")) {
      Tools.run(List.of("tar", "-xf", layers.resolve(layer.asText()).toString(), "-C", dir.toString()))
          .assertOk("layer " + layer.asText());
    }
    deleteTree(layers);
    return dir;
  }

  /** Runs a command inside an extracted image as uid:gid, to completion. */
  static Tools.Result inImage(Path rootfs, String user, List<String> command) {
    return Tools.run(containerCommand(rootfs, user, false, command), null, Map.of(), 120);
  }

  /**
   * The command line that runs {@code command} in {@code rootfs}: a private mount namespace, /proc,
   * and with {@code readOnlyRoot} the root bind-mounted read-only with a tmpfs on /tmp.
   */
  static List<String> containerCommand(Path rootfs, String user, boolean readOnlyRoot, List<String> command) {
    // sh -c SCRIPT rootfs user command...: $0 is the root, $1 the user, the rest the command.
    String script = "r=$0; u=$1; shift; mkdir -p \"$r/proc\" \"$r/tmp\""
        + (readOnlyRoot ? " && mount --bind \"$r\" \"$r\" && mount -o remount,bind,ro \"$r\" && mount -t tmpfs -o mode=1777 tmpfs \"$r/tmp\"" : "")
        + " && mount -t proc proc \"$r/proc\" && exec chroot --userspec=\"$u\" \"$r\" \"$@\"";
    List<String> cmd = new ArrayList<>(List.of("unshare", "--mount", "--propagation", "private", "sh", "-c", script,
        rootfs.toString(), user));
    cmd.addAll(command);
    return cmd;
  }

  static List<Path> jarsContaining(Path dir, String entry) throws IOException {
    List<Path> out = new ArrayList<>();
    try (java.util.stream.Stream<Path> jars = Files.list(dir)) {
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

  /** The image's Env entries (NAME=value) as a map. */
  static Map<String, String> imageEnv(JsonNode config) {
    Map<String, String> env = new java.util.LinkedHashMap<>();
    for (JsonNode e : config.path("Env")) {
      String[] kv = e.asText().split("=", 2);
      env.put(kv[0], kv.length > 1 ? kv[1] : "");
    }
    return env;
  }

  static void deleteTree(Path dir) {
    if (Files.exists(dir)) {
      Tools.run(List.of("rm", "-rf", dir.toString())).assertOk("rm -rf " + dir);
    }
  }
}
