package io.trainq.operator.k8s;

import io.fabric8.kubernetes.api.model.EnvVar;
import java.util.ArrayList;
import java.util.List;

/**
 * The worker container's command: the copied Java runtime started directly, in exec form, so the
 * user's image needs no shell (distroless images have none; a {@code #!/bin/sh} launcher fails there
 * with exit 127). The JVM options are those of the distribution's launcher
 * (worker/src/dist/trainq-worker), which stays for people starting the worker by hand; a test keeps
 * the two lists equal.
 */
public final class WorkerCommand {
  /** Where the init container copies the worker distribution (an emptyDir). */
  public static final String MOUNT = "/trainq";
  /** The jlink'd runtime of the distribution: its {@code runtime/}. */
  public static final String JAVA = MOUNT + "/runtime/bin/java";
  /** The worker's jar of the distribution: its {@code lib/}. */
  public static final String CLASS_PATH = MOUNT + "/lib/trainq-worker.jar";
  public static final String MAIN_CLASS = "io.trainq.worker.WorkerMain";
  /** The worker's heap, as the launcher reads it; in a pod, a literal value in {@code spec.workers.env}. */
  public static final String HEAP = "TRAINQ_WORKER_HEAP";
  /** Extra JVM options split at whitespace, as the launcher reads them; in a pod, a literal value in {@code spec.workers.env}. */
  public static final String JAVA_OPTS = "TRAINQ_WORKER_JAVA_OPTS";
  public static final String DEFAULT_HEAP = "96m";

  private WorkerCommand() {}

  /**
   * The JVM options before the user's {@code TRAINQ_WORKER_JAVA_OPTS}. VFORK: the cheapest way for
   * Java to start a task's process; a small serial-GC heap and C1 only: the worker is mostly waiting,
   * and starts fast.
   */
  public static List<String> jvmOptions(String heap) {
    return List.of("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k", "-Xmx" + heap, "-XX:-UsePerfData",
        "-XX:+ExitOnOutOfMemoryError", "-Xshare:auto", "-Djdk.lang.Process.launchMechanism=VFORK");
  }

  /**
   * The worker's command line up to its own arguments ({@code --version}, or {@code --} and the task's
   * command): java, the JVM options, the class path and the main class.
   *
   * @param env the container's environment as written in the pod (the user's {@code spec.workers.env}
   *     included); its last {@link #HEAP} and {@link #JAVA_OPTS} with a literal value apply, as in the
   *     launcher (the kubelet expands {@code $(VAR)} references in them); values from a Secret or
   *     the downward API cannot be split before the container starts and are ignored
   */
  public static List<String> jvm(List<EnvVar> env) {
    String heap = DEFAULT_HEAP;
    String opts = "";
    for (EnvVar e : env) {
      if (e.getValue() == null || e.getValueFrom() != null) {
        continue;
      }
      if (e.getName().equals(HEAP) && !e.getValue().isBlank()) {
        heap = e.getValue().strip();
      } else if (e.getName().equals(JAVA_OPTS)) {
        opts = e.getValue();
      }
    }
    List<String> argv = new ArrayList<>();
    argv.add(JAVA);
    argv.addAll(jvmOptions(heap));
    for (String o : opts.strip().split("\\s+")) {
      if (!o.isEmpty()) {
        argv.add(o);
      }
    }
    argv.add("-cp");
    argv.add(CLASS_PATH);
    argv.add(MAIN_CLASS);
    return argv;
  }

  /** The container's command: the worker, then {@code --} and the task's command. */
  public static List<String> of(List<EnvVar> env, List<String> task) {
    List<String> argv = new ArrayList<>(jvm(env));
    argv.add("--");
    argv.addAll(task);
    return argv;
  }
}
