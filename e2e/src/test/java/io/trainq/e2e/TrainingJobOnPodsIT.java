package io.trainq.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.trainq.api.TrainingJob;
import io.trainq.api.TrainingJobStatus;
import io.trainq.testkit.RabbitBroker;
import io.trainq.testkit.kube.TestCluster;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * TrainingJobs on pods that really run: the chart installed with the project's images (the operator
 * in a pod, as the chart's ServiceAccount), worker pods scheduled on fake GPUs and run by a kubelet,
 * the stand-in training program, the RabbitMQ 4.0 single node. The kubelet, not trainq, restarts a
 * worker that a task killed ({@code restartPolicy: OnFailure}).
 *
 * <p>Needs a cluster that runs pods; on this machine kind that is scripts/kube-local.sh, whose
 * network is loopback only, so the operator and the workers are hostNetwork pods and the operator
 * reaches the API server at 127.0.0.1. Fails, never skips, when there is no such cluster.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TrainingJobOnPodsIT {
  static final Duration JOB_LIMIT = Duration.ofMinutes(6);
  static final String SECRET = "trainq-rabbitmq-default-user";

  TestCluster cluster;
  KubernetesClient client;
  RabbitBroker broker;
  String ns;
  String release;

  @BeforeAll
  void installTheChart() {
    long t0 = System.nanoTime();
    cluster = TestCluster.shared();
    client = cluster.client();
    assertThat(cluster.runsPods()).as("%s (cluster: %s)", TestCluster.NO_KUBELET, cluster.kind()).isTrue();
    if (cluster.kind() == TestCluster.Kind.LOCAL) {
      LocalImages.buildAndImport();
    }
    broker = RabbitBroker.single();
    ns = cluster.createNamespace("e2e");
    release = "trainq-" + ns.substring(ns.lastIndexOf('-') + 1);
    // The operator's connection, as the RabbitMQ Cluster Operator's <cluster>-default-user Secret holds it.
    client.resource(new SecretBuilder().withNewMetadata().withName(SECRET).withNamespace(ns).endMetadata()
        .withStringData(Map.of("username", RabbitBroker.USERNAME, "password", RabbitBroker.PASSWORD,
            "host", "127.0.0.1", "port", Integer.toString(broker.amqpPort(0))))
        .build()).create();

    String kubeconfig = cluster.kubeconfigPath().toString();
    String chart = Commands.projectRoot().resolve("helm/trainq").toString();
    // The CRD as this checkout generates it, also over an older one a previous run left (helm never upgrades CRDs).
    Commands.run(Duration.ofMinutes(1), TestCluster.kubectl().toString(), "--kubeconfig", kubeconfig, "apply",
        "--server-side", "--force-conflicts", "-f", chart + "/crds/");
    List<String> helm = new ArrayList<>(List.of(TestCluster.helm().toString(), "install", release, chart,
        "--kubeconfig", kubeconfig, "--namespace", ns, "--skip-crds", "--wait", "--timeout", "5m",
        "--set", "fullnameOverride=" + release,
        "--set", "image.pullPolicy=Never", "--set", "workerImage.pullPolicy=Never",
        "--set", "leaderElection.enabled=false"));
    if (cluster.hostNetworkOnly()) {
      // 18080, not 8080: the worker pods' metrics port is on the same node's network.
      helm.addAll(List.of("--set", "hostNetwork=true", "--set", "metrics.port=18080"));
      int i = 0;
      for (Map.Entry<String, String> e : TestCluster.LOCAL_API_ENV.entrySet()) {
        helm.addAll(List.of("--set", "extraEnv[" + i + "].name=" + e.getKey(),
            "--set-string", "extraEnv[" + i + "].value=" + e.getValue()));
        i++;
      }
    }
    Commands.run(Duration.ofMinutes(6), helm);
    System.out.printf("chart installed, operator ready: %.1f s%n", (System.nanoTime() - t0) / 1e9);
  }

  @AfterAll
  void uninstall() {
    if (release != null) {
      // Its ClusterRoles and bindings are cluster-wide; the namespace goes when the cluster closes.
      Commands.run(Duration.ofMinutes(2), TestCluster.helm().toString(), "uninstall", release,
          "--kubeconfig", cluster.kubeconfigPath().toString(), "--namespace", ns, "--wait");
    }
  }

  /** Every task succeeds on real worker pods, and the status counts each one exactly once. */
  @Test
  void jobSucceedsWithExactCountsOnRealWorkerPods() {
    int tasks = 40;
    TrainingJob job = apply("exact", tasks, "0", "0");
    Observed seen = awaitFinished(job);

    TrainingJobStatus status = seen.status;
    assertThat(status.getPhase()).as(seen.dump).isEqualTo("Succeeded");
    assertThat(status.getCounts().getTotal()).isEqualTo(tasks);
    assertThat(status.getCounts().getSucceeded()).as(seen.dump).isEqualTo(tasks);
    assertThat(status.getCounts().getDeadLettered()).isZero();
    assertThat(status.getSucceededIndexes()).isEqualTo("0-" + (tasks - 1));
    assertThat(status.getFailedIndexes()).isNullOrEmpty();
    // Real pods did the work: one was seen running, scheduled on the node's fake GPUs.
    assertThat(seen.runningWorkerSeen).as("a worker pod was seen Running; " + seen.dump).isTrue();
    assertThat(seen.workerPods).isNotEmpty().allSatisfy(p -> {
      assertThat(p.getSpec().getNodeName()).isNotBlank();
      assertThat(p.getSpec().getContainers().get(0).getResources().getLimits()).containsKey("nvidia.com/gpu");
    });
  }

  /**
   * The worker process is killed (SIGKILL, from the node, as the OOM killer would) while its tasks
   * run, and 10% of the attempts fail: the kubelet restarts the worker container in place, the broker
   * redelivers what it held, and each task is still counted succeeded exactly once.
   *
   * <p>The stand-in's own "kill the worker" (DUMMY_CRASH_RATE, as samples/tasks/dummy_train.py does
   * with SIGKILL to its parent) cannot work in a pod: the worker is the container's PID 1, which the
   * kernel protects from SIGKILL sent inside its PID namespace. So the kill comes from the node.
   */
  @Test
  void killedWorkersAreRestartedInPlaceAndEveryTaskSucceedsOnce() {
    assertThat(cluster.kind()).as("the worker is killed through the node's containerd").isEqualTo(TestCluster.Kind.LOCAL);
    int tasks = 100;
    TrainingJob job = apply("crash", tasks, "0", "0.1");
    long deadline = System.nanoTime() + JOB_LIMIT.toNanos();
    int kills = 0;
    while (kills < 2 && System.nanoTime() < deadline) {
      TrainingJob now = client.resources(TrainingJob.class).inNamespace(ns).withName("crash").get();
      int succeeded = now.getStatus() == null || now.getStatus().getCounts() == null
          || now.getStatus().getCounts().getSucceeded() == null ? 0 : now.getStatus().getCounts().getSucceeded();
      // the first kill after 20 successes, the second after 50, each while tasks run on a ready worker
      if (succeeded >= (kills == 0 ? 20 : 50)) {
        for (Pod p : workerPods(now)) {
          if (statuses(p).stream().anyMatch(st -> st.getState() != null && st.getState().getRunning() != null
              && Boolean.TRUE.equals(st.getReady()))) {
            killWorkerProcess(p);
            kills++;
            break;
          }
        }
      }
      sleep(Duration.ofMillis(200));
    }
    Observed seen = awaitFinished(job);
    assertThat(kills).as("workers killed; " + seen.dump).isEqualTo(2);

    TrainingJobStatus status = seen.status;
    assertThat(status.getPhase()).as(seen.dump).isEqualTo("Succeeded");
    assertThat(status.getCounts().getSucceeded()).as(seen.dump).isEqualTo(tasks);
    assertThat(status.getCounts().getDeadLettered()).as(seen.dump).isZero();
    assertThat(status.getSucceededIndexes()).isEqualTo("0-" + (tasks - 1));
    // The restart happened in the pod, not by a new pod: restartCount counts it, the last exit was SIGKILL.
    int restarts = seen.workerPods.stream().flatMap(p -> statuses(p).stream())
        .mapToInt(s -> s.getRestartCount() == null ? 0 : s.getRestartCount()).sum();
    assertThat(restarts).as("worker restarts; " + seen.dump).isEqualTo(kills);
    // seen while the job ran: once the pod has completed, the kubelet may report no last state
    assertThat(seen.lastExitCodes).as("last exit codes of restarted workers; " + seen.dump).contains(137);
  }

  /** SIGKILL to the worker container's main process, found through the local cluster's containerd. */
  private void killWorkerProcess(Pod pod) {
    String id = statuses(pod).stream().filter(s -> "worker".equals(s.getName())).findFirst().orElseThrow()
        .getContainerID().replaceFirst("^containerd://", "");
    String socket = cluster.kubeconfigPath().getParent().resolve("run/containerd.sock").toString();
    String tasks = Commands.run(Duration.ofSeconds(20), "ctr", "--address", socket, "--namespace", "k8s.io", "tasks", "ls");
    long pid = tasks.lines().map(l -> l.trim().split("\\s+")).filter(f -> f.length >= 2 && f[0].equals(id))
        .mapToLong(f -> Long.parseLong(f[1])).findFirst()
        .orElseThrow(() -> new AssertionError("container " + id + " not among containerd's tasks:\n" + tasks));
    ProcessHandle worker = ProcessHandle.of(pid).orElseThrow(() -> new AssertionError("no process " + pid));
    System.out.printf("killing worker %s (pid %d: %s)%n", pod.getMetadata().getName(), pid, worker.info().command().orElse("?"));
    assertThat(worker.destroyForcibly()).as("SIGKILL sent to %d", pid).isTrue();
  }

  private TrainingJob apply(String name, int tasks, String crashRate, String failRate) {
    String yaml = """
        apiVersion: trainq.io/v1alpha1
        kind: TrainingJob
        metadata: {name: %s, namespace: %s}
        spec:
          image: %s
          command: ["/usr/local/bin/dummy-train"]
          tasks: {count: %d}
          gpusPerTask: 1
          workers:
            maxPods: 1
            gpusPerPod: 4
            hostNetwork: %s
            imagePullPolicy: Never
            idleTimeout: 5s
            env:
            - {name: DUMMY_SECONDS, value: "0.4"}
            - {name: DUMMY_CRASH_RATE, value: "%s"}
            - {name: DUMMY_FAIL_RATE, value: "%s"}
          retry: {maxAttempts: 10, backoff: {initial: 1s, max: 4s}}
          taskTimeout: 1m
          rabbitmq: {secretRef: {name: %s}}
        """.formatted(name, ns, LocalImages.STANDIN, tasks, cluster.hostNetworkOnly(), crashRate, failRate, SECRET);
    return client.resources(TrainingJob.class)
        .load(new ByteArrayInputStream(yaml.getBytes(StandardCharsets.UTF_8))).create();
  }

  /** What a test saw of a job until it finished (or the limit passed), and a dump for failure messages. */
  record Observed(TrainingJobStatus status, List<Pod> workerPods, boolean runningWorkerSeen, Set<Integer> lastExitCodes,
      String dump) {}

  private Observed awaitFinished(TrainingJob job) {
    long deadline = System.nanoTime() + JOB_LIMIT.toNanos();
    boolean runningSeen = false;
    Map<String, Pod> pods = new HashMap<>();
    Set<Integer> lastExitCodes = new TreeSet<>();
    TrainingJobStatus status = null;
    while (System.nanoTime() < deadline) {
      TrainingJob now = client.resources(TrainingJob.class).inNamespace(ns).withName(job.getMetadata().getName()).get();
      status = now.getStatus();
      for (Pod p : workerPods(now)) {
        pods.put(p.getMetadata().getName(), p); // the latest state of every pod, also of those gone since
        runningSeen |= p.getStatus() != null && "Running".equals(p.getStatus().getPhase());
        statuses(p).stream().filter(s -> s.getLastState() != null && s.getLastState().getTerminated() != null)
            .forEach(s -> lastExitCodes.add(s.getLastState().getTerminated().getExitCode()));
      }
      if (status != null && ("Succeeded".equals(status.getPhase()) || "Failed".equals(status.getPhase()))) {
        break;
      }
      sleep(Duration.ofMillis(500));
    }
    return new Observed(status == null ? new TrainingJobStatus() : status, List.copyOf(pods.values()), runningSeen,
        lastExitCodes, dump(job.getMetadata().getName(), pods.keySet()));
  }

  private List<Pod> workerPods(TrainingJob job) {
    return client.pods().inNamespace(ns).withLabel("trainq.io/job-uid", job.getMetadata().getUid()).list().getItems();
  }

  /** What a person needs when a job does not end as expected: its status, its pods, their logs. */
  private String dump(String job, Iterable<String> workerPods) {
    StringBuilder out = new StringBuilder("\n--- TrainingJob ").append(job).append(" ---\n");
    try {
      out.append(client.getKubernetesSerialization().asYaml(
          client.resources(TrainingJob.class).inNamespace(ns).withName(job).get().getStatus()));
      for (Pod p : client.pods().inNamespace(ns).list().getItems()) {
        out.append("--- pod ").append(p.getMetadata().getName()).append(": ").append(p.getStatus().getPhase());
        for (ContainerStatus s : statuses(p)) {
          out.append(", ").append(s.getName()).append(" restarts=").append(s.getRestartCount());
        }
        out.append('\n');
      }
      for (String pod : workerPods) {
        out.append("--- log of ").append(pod).append(" (tail) ---\n").append(tail(pod, "worker"));
      }
      client.pods().inNamespace(ns).withLabel("app.kubernetes.io/instance", release).list().getItems()
          .forEach(p -> out.append("--- log of ").append(p.getMetadata().getName()).append(" (tail) ---\n")
              .append(tail(p.getMetadata().getName(), "operator")));
    } catch (RuntimeException e) {
      out.append("(dump failed: ").append(e).append(")\n");
    }
    return out.toString();
  }

  private String tail(String pod, String container) {
    try {
      return Objects.toString(client.pods().inNamespace(ns).withName(pod).inContainer(container).tailingLines(40).getLog(), "");
    } catch (RuntimeException e) {
      return "(no log: " + e.getMessage() + ")\n";
    }
  }

  private static List<ContainerStatus> statuses(Pod p) {
    return p.getStatus() == null || p.getStatus().getContainerStatuses() == null ? List.of() : p.getStatus().getContainerStatuses();
  }

  private static void sleep(Duration d) {
    try {
      Thread.sleep(d.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
