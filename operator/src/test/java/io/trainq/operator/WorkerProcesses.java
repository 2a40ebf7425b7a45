package io.trainq.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.trainq.operator.k8s.WorkerCommand;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Runs a worker pod's main container as a local process, as the kubelet would start it: the real
 * worker distribution (worker/target/trainq-worker, copied aside) in place of /trainq (its runtime's
 * java started directly, as in the pod), and the
 * container's environment resolved (Secret keys, the downward API, $(VAR) references).
 * There is no kubelet here, so this is how tests get real workers consuming.
 */
public final class WorkerProcesses {
  private static Path dist;

  private WorkerProcesses() {}

  /** A private copy of the jlink'd worker (other builds may rebuild worker/target meanwhile). */
  public static synchronized Path distribution() throws Exception {
    if (dist == null) {
      Path built = KubeTestServer.projectRoot().resolve("worker/target/trainq-worker");
      assertThat(built.resolve("runtime/bin/java"))
          .as("the worker distribution is missing: build it with `mvn -pl worker -am package -DskipTests`")
          .isExecutable();
      Path copy = Files.createTempDirectory("trainq-worker-dist");
      Process cp = new ProcessBuilder("cp", "-a", built + "/.", copy.toString()).inheritIO().start();
      assertThat(cp.waitFor()).isZero();
      dist = copy;
    }
    return dist;
  }

  /**
   * Starts the pod's worker.
   *
   * @param overrides variables set after the container's (e.g. TRAINQ_HTTP_PORT=0: all workers share this host)
   */
  public static Process start(KubernetesClient client, Pod pod, Map<String, String> overrides, Path log) throws Exception {
    Container c = pod.getSpec().getContainers().get(0);
    assertThat(c.getCommand().get(0)).isEqualTo(WorkerCommand.JAVA);
    Map<String, String> env = resolve(client, pod, c);
    env.putAll(overrides);
    // the distribution in place of the emptyDir, and $(VAR) references expanded, as the kubelet does
    String mount = WorkerCommand.MOUNT + "/";
    List<String> command = new ArrayList<>();
    for (String arg : c.getCommand()) {
      command.add(arg.startsWith(mount) ? distribution().resolve(arg.substring(mount.length())).toString() : expand(arg, env));
    }
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().clear();
    pb.environment().put("PATH", System.getenv("PATH"));
    pb.environment().putAll(env);
    return pb.start();
  }

  static Map<String, String> resolve(KubernetesClient client, Pod pod, Container c) throws IOException {
    String ns = pod.getMetadata().getNamespace();
    Map<String, String> env = new LinkedHashMap<>();
    for (EnvVar e : c.getEnv()) {
      if (e.getValue() != null) {
        env.put(e.getName(), expand(e.getValue(), env));
      } else if (e.getValueFrom().getSecretKeyRef() != null) {
        Secret s = client.secrets().inNamespace(ns).withName(e.getValueFrom().getSecretKeyRef().getName()).get();
        assertThat(s).as("Secret %s for %s", e.getValueFrom().getSecretKeyRef().getName(), e.getName()).isNotNull();
        String key = e.getValueFrom().getSecretKeyRef().getKey();
        String v = s.getData() != null && s.getData().containsKey(key)
            ? new String(Base64.getDecoder().decode(s.getData().get(key)), StandardCharsets.UTF_8)
            : s.getStringData().get(key);
        env.put(e.getName(), v);
      } else if (e.getValueFrom().getFieldRef() != null) {
        assertThat(e.getValueFrom().getFieldRef().getFieldPath()).isEqualTo("metadata.name");
        env.put(e.getName(), pod.getMetadata().getName());
      } else {
        throw new AssertionError("env source not emulated: " + e);
      }
    }
    return env;
  }

  static String expand(String value, Map<String, String> env) {
    Matcher m = Pattern.compile("\\$\\(([A-Za-z_][A-Za-z0-9_]*)\\)").matcher(value);
    StringBuilder sb = new StringBuilder();
    while (m.find()) {
      m.appendReplacement(sb, Matcher.quoteReplacement(env.getOrDefault(m.group(1), m.group())));
    }
    return m.appendTail(sb).toString();
  }
}
