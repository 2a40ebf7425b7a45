package io.trainq.operator.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.tuple;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.EnvVarBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceRequirements;
import io.fabric8.kubernetes.api.model.ResourceRequirementsBuilder;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.trainq.api.RabbitmqSpec;
import io.trainq.api.RabbitmqTlsSpec;
import io.trainq.api.SchemaDefaults;
import io.trainq.api.SecretRef;
import io.trainq.api.TrainingJob;
import io.trainq.api.WorkerSpec;
import io.trainq.operator.KubeTestServer;
import io.trainq.operator.OperatorConfig;
import io.trainq.operator.OperatorHarness;
import io.trainq.protocol.RabbitSettings;
import io.trainq.protocol.RabbitTls;
import io.trainq.testkit.TestPems;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WorkerPodsTest {

  @Test
  void capacityFollowsTheWork() {
    // while publishing, every unfinished task wants a slot
    assertThat(WorkerPods.desired(4, 2, true, true, 100, 0, 0)).isEqualTo(4);
    assertThat(WorkerPods.desired(4, 2, true, true, 3, 0, 0)).isEqualTo(2);
    // afterwards, what is queued or running: tasks waiting out a backoff do not hold GPUs
    assertThat(WorkerPods.desired(4, 2, true, false, 10, 0, 1)).isEqualTo(1);
    assertThat(WorkerPods.desired(4, 2, true, false, 10, 5, 0)).isEqualTo(3);
    assertThat(WorkerPods.desired(4, 2, true, false, 10, 0, 0)).as("retries in backoff only").isZero();
    // none when done, suspended or unable to run
    assertThat(WorkerPods.desired(4, 2, true, false, 0, 0, 0)).isZero();
    assertThat(WorkerPods.desired(4, 2, false, true, 100, 0, 0)).isZero();
  }

  @Test
  void graceLetsATaskFinishWithinTheMaximum() {
    assertThat(WorkerPods.grace(Duration.ofMinutes(2), Duration.ofHours(1))).isEqualTo(Duration.ofSeconds(150));
    assertThat(WorkerPods.grace(Duration.ofHours(24), Duration.ofHours(1))).isEqualTo(Duration.ofHours(1));
  }

  @Test
  void theJobsRunnerReachesTheWorker() {
    TrainingJob tj = job(null);
    assertThat(env(pod(tj))).containsEntry("TRAINQ_RUNNER_MODE", "Process").doesNotContainKey("TRAINQ_RUNNER_MAX_TASKS");
    io.trainq.api.RunnerSpec r = new io.trainq.api.RunnerSpec();
    r.setMode(io.trainq.api.RunnerSpec.Mode.Persistent);
    r.setMaxTasksPerProcess(20);
    tj.getSpec().setRunner(r);
    assertThat(env(pod(tj))).containsEntry("TRAINQ_RUNNER_MODE", "Persistent").containsEntry("TRAINQ_RUNNER_MAX_TASKS", "20")
        .containsEntry("TRAINQ_RUNNER_START_TIMEOUT_MS", "600000");
  }

  private static Map<String, String> env(io.fabric8.kubernetes.api.model.Pod pod) {
    Map<String, String> m = new java.util.HashMap<>();
    for (EnvVar e : pod.getSpec().getContainers().get(0).getEnv()) {
      if (e.getValue() != null) {
        m.put(e.getName(), e.getValue());
      }
    }
    return m;
  }

  @Test
  void gpusComeFromGpusPerPodWhateverTheUserSet() {
    ResourceRequirements user = new ResourceRequirementsBuilder().addToRequests("cpu", new Quantity("4"))
        .addToLimits("memory", new Quantity("16Gi")).build();
    ResourceRequirements r = WorkerPods.resources(user, 8);
    assertThat(r.getLimits()).containsEntry("nvidia.com/gpu", new Quantity("8")).containsEntry("memory", new Quantity("16Gi"));
    assertThat(r.getRequests()).containsEntry("cpu", new Quantity("4")).doesNotContainKey("nvidia.com/gpu");
    assertThat(WorkerPods.resources(null, 1).getLimits()).containsEntry("nvidia.com/gpu", new Quantity("1"));
  }

  @Test
  void podNamesFitAHostname() {
    // the API server appends 5 characters to a generateName
    String n = Names.workerPodPrefix("a".repeat(80) + "-b");
    assertThat(n.length() + 5).isLessThanOrEqualTo(63);
    assertThat(n).matches("a+-worker-");
    assertThat(Names.workerPodPrefix("sweep")).isEqualTo("sweep-worker-");
    assertThat(Names.workerPodPrefix("x".repeat(49) + ".y")).doesNotContain(".-").endsWith("x-worker-");
  }

  @Test
  void theBrokerUserSecretIsPerJobInstanceAndAValidName() {
    TrainingJob first = OperatorHarness.job("ns", "sweep", 1);
    first.getMetadata().setUid("0b3c5d7e-1111-2222-3333-444455556666");
    TrainingJob again = OperatorHarness.job("ns", "sweep", 1);
    again.getMetadata().setUid("9f8e7d6c-1111-2222-3333-444455556666");
    assertThat(Names.brokerUserSecret(first)).isEqualTo("sweep-broker-user-0b3c5d7e1111");
    assertThat(Names.brokerUserSecret(again)).as("a job created again under the same name").isNotEqualTo(Names.brokerUserSecret(first));
    TrainingJob longName = OperatorHarness.job("ns", "x".repeat(253), 1);
    longName.getMetadata().setUid("0b3c5d7e-1111-2222-3333-444455556666");
    assertThat(Names.brokerUserSecret(longName)).hasSize(253).endsWith("x-broker-user-0b3c5d7e1111");
  }

  @Test
  void aJobSecretGivesTheConnection() {
    RabbitmqSpec spec = new RabbitmqSpec();
    spec.setSecretRef(new SecretRef("rabbit-default-user"));
    var secret = new SecretBuilder().withNewMetadata().withName("rabbit-default-user").endMetadata()
        .withData(Map.of("username", b64("user"), "password", b64("pw"), "host", b64("rabbit.ns.svc"), "port", b64("5672"))).build();
    JobConnection.Resolved r = JobConnection.resolve(spec, secret, "ns", Optional.empty());
    assertThat(r.problem()).isNull();
    assertThat(r.settings().addressList()).isEqualTo("rabbit.ns.svc:5672");
    assertThat(r.settings().username()).isEqualTo("user");

    spec.setAddresses(List.of("r-0:5672", "r-1:5672"));
    assertThat(JobConnection.resolve(spec, secret, "ns", Optional.empty()).settings().addressList()).isEqualTo("r-0:5672,r-1:5672");

    assertThat(JobConnection.resolve(spec, null, "ns", Optional.empty()).problem())
        .isEqualTo("Secret rabbit-default-user (spec.rabbitmq.secretRef) not found in namespace ns");
    var noPassword = new SecretBuilder().withData(Map.of("username", b64("u"))).build();
    assertThat(JobConnection.resolve(spec, noPassword, "ns", Optional.empty()).problem()).contains("no key 'password'");
    assertThat(JobConnection.resolve(null, null, "ns", Optional.empty()).problem()).contains("no default connection");
    RabbitSettings dflt = new RabbitSettings(List.of(new com.rabbitmq.client.Address("h", 1)), "a", "b", "/", null);
    assertThat(JobConnection.resolve(null, null, "ns", Optional.of(dflt)).settings()).isSameAs(dflt);
  }

  @Test
  void aJobsTlsSecretIsCheckedAndMountedIntoTheWorker(@TempDir Path dir) throws Exception {
    TestPems pems = TestPems.make(dir);
    RabbitmqSpec spec = new RabbitmqSpec();
    spec.setSecretRef(new SecretRef("rabbit-default-user"));
    var secret = new SecretBuilder().withData(Map.of("username", b64("user"), "password", b64("pw"), "addresses", b64("r:5671"))).build();
    RabbitmqTlsSpec tls = new RabbitmqTlsSpec();
    tls.setSecretRef(new SecretRef("rabbit-tls"));
    spec.setTls(tls);
    var tlsSecret = new SecretBuilder().withData(Map.of("ca.crt", b64(pems.pem("ca.crt")), "tls.crt", b64(pems.pem("client.crt")),
        "tls.key", b64(pems.pem("client-pkcs1.key")))).build();

    JobConnection.Resolved r = JobConnection.resolve(spec, secret, tlsSecret, "ns", Optional.empty());
    assertThat(r.problem()).isNull();
    assertThat(r.settings().tls().caPem()).isEqualTo(pems.pem("ca.crt").trim());
    assertThat(r.settings().tls().certPem()).isNotNull();
    assertThat(r.settings().toString()).startsWith("amqps://user:***@r:5671");

    assertThat(JobConnection.resolve(spec, secret, null, "ns", Optional.empty()).problem())
        .isEqualTo("Secret rabbit-tls (spec.rabbitmq.tls.secretRef) not found in namespace ns");
    var noCa = new SecretBuilder().withData(Map.of("tls.crt", b64(pems.pem("client.crt")))).build();
    assertThat(JobConnection.resolve(spec, secret, noCa, "ns", Optional.empty()).problem()).contains("no key 'ca.crt'");
    var garbage = new SecretBuilder().withData(Map.of("ca.crt", b64("not PEM at all"))).build();
    assertThat(JobConnection.resolve(spec, secret, garbage, "ns", Optional.empty()).problem())
        .startsWith("Secret rabbit-tls (spec.rabbitmq.tls.secretRef): ").contains("the Secret's ca.crt").contains("no PEM certificate");
    var certWithoutKey = new SecretBuilder().withData(Map.of("ca.crt", b64(pems.pem("ca.crt")), "tls.crt", b64(pems.pem("client.crt")))).build();
    assertThat(JobConnection.resolve(spec, secret, certWithoutKey, "ns", Optional.empty()).problem()).contains("tls.key is missing");
    spec.setTls(new RabbitmqTlsSpec());
    assertThat(JobConnection.resolve(spec, secret, null, "ns", Optional.empty()).settings().tls()).isEqualTo(RabbitTls.SYSTEM_TRUST);

    // the worker gets TLS on, and the Secret as files
    TrainingJob tj = job(null);
    spec.setTls(tls);
    tj.getSpec().setRabbitmq(spec);
    var p = pod(tj);
    assertThat(p.getSpec().getVolumes()).anySatisfy(v -> {
      assertThat(v.getName()).isEqualTo(WorkerPods.TLS_VOLUME);
      assertThat(v.getSecret().getSecretName()).isEqualTo("rabbit-tls");
    });
    var worker = p.getSpec().getContainers().get(0);
    assertThat(worker.getVolumeMounts()).anySatisfy(m -> {
      assertThat(m.getMountPath()).isEqualTo("/etc/trainq/rabbitmq-tls");
      assertThat(m.getReadOnly()).isTrue();
    });
    assertThat(worker.getEnv()).extracting(EnvVar::getName, EnvVar::getValue)
        .contains(tuple(RabbitTls.TLS, "true"), tuple(RabbitTls.TLS_DIR, "/etc/trainq/rabbitmq-tls"));
    var plain = pod(job(null)).getSpec();
    assertThat(plain.getVolumes()).noneMatch(v -> v.getName().equals(WorkerPods.TLS_VOLUME));
    assertThat(plain.getContainers().get(0).getEnv()).noneMatch(e -> e.getName().startsWith("TRAINQ_RABBITMQ_TLS"));
  }

  @Test
  void theWorkerContainerStartsTheCopiedRuntimeWithoutAShell() {
    Container c = pod(job(null)).getSpec().getContainers().get(0);
    // exec form, nothing the training image must provide: a distroless image has no /bin/sh
    assertThat(c.getCommand()).containsExactly("/trainq/runtime/bin/java", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        "-Xss512k", "-Xmx96m", "-XX:-UsePerfData", "-XX:+ExitOnOutOfMemoryError", "-Xshare:auto",
        "-Djdk.lang.Process.launchMechanism=VFORK", "-cp", "/trainq/lib/trainq-worker.jar", "io.trainq.worker.WorkerMain",
        "--", "python3", "train.py");
    assertThat(c.getArgs()).isNullOrEmpty();
    assertThat(c.getVolumeMounts()).singleElement().satisfies(m -> assertThat(m.getMountPath()).isEqualTo(WorkerCommand.MOUNT));
  }

  @Test
  void theWorkerIsNotPid1SoThatATaskCanKillIt() {
    assertThat(pod(job(null)).getSpec().getShareProcessNamespace()).isTrue();
    assertThat(pod(job(null)).getSpec().getRestartPolicy()).isEqualTo("OnFailure");
  }

  @Test
  void podsWaitingForANodeAreReportedInTheSchedulersWords() {
    String words = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu.";
    Pod pending = new PodBuilder().withNewMetadata().withName("w-1").endMetadata().withNewStatus().withPhase("Pending")
        .addNewCondition().withType("PodScheduled").withStatus("False").withReason("Unschedulable").withMessage(words)
        .endCondition().endStatus().build();
    Pod running = new PodBuilder().withNewMetadata().withName("w-2").endMetadata().withNewStatus().withPhase("Running")
        .addNewCondition().withType("PodScheduled").withStatus("True").endCondition().endStatus().build();
    Pod created = new PodBuilder().withNewMetadata().withName("w-3").endMetadata().build();

    assertThat(WorkerPods.unschedulable(List.of(pending, running)))
        .isEqualTo("1 of 2 worker pods cannot be scheduled: " + words);
    assertThat(WorkerPods.unschedulable(List.of(pending))).isEqualTo("1 of 1 worker pod cannot be scheduled: " + words);
    assertThat(WorkerPods.unschedulable(List.of(running, created))).as("not yet looked at by the scheduler is not unschedulable")
        .isNull();
    assertThat(WorkerPods.unschedulable(List.of())).isNull();
  }

  @Test
  void hostNetworkOnlyWhenTheJobAsksForIt() {
    assertThat(pod(job(null)).getSpec().getHostNetwork()).isNull();
    TrainingJob tj = job(List.of());
    tj.getSpec().getWorkers().setHostNetwork(true);
    var spec = pod(tj).getSpec();
    assertThat(spec.getHostNetwork()).isTrue();
    // without it a hostNetwork pod would resolve only the node's names, not the cluster's Services
    assertThat(spec.getDnsPolicy()).isEqualTo("ClusterFirstWithHostNet");
  }

  @Test
  void theUsersHeapAndJavaOptionsReachTheWorkersJvm() {
    List<EnvVar> env = List.of(plain(WorkerCommand.HEAP, "1g"), plain(WorkerCommand.HEAP, "2g"),
        plain(WorkerCommand.JAVA_OPTS, "  -Dx=1\t-XX:+PrintFlagsFinal "),
        new EnvVarBuilder().withName(WorkerCommand.HEAP).withNewValueFrom().withNewSecretKeyRef().withName("s").withKey("heap")
            .endSecretKeyRef().endValueFrom().build());
    List<String> command = pod(job(env)).getSpec().getContainers().get(0).getCommand();
    // the last literal value wins, as the kubelet's environment does; one from a Secret cannot be read here
    assertThat(command).contains("-Xmx2g").doesNotContain("-Xmx96m", "-Xmx1g")
        .containsSubsequence("-Djdk.lang.Process.launchMechanism=VFORK", "-Dx=1", "-XX:+PrintFlagsFinal", "-cp")
        .endsWith("io.trainq.worker.WorkerMain", "--", "python3", "train.py");
  }

  /** The launcher for people (worker/src/dist/trainq-worker) and the pod start the same JVM: run both with a java that prints its arguments. */
  @Test
  void theLauncherStartsTheWorkerAsThePodDoes(@TempDir Path dist) throws Exception {
    Path launcher = KubeTestServer.projectRoot().resolve("worker/src/dist/trainq-worker");
    Files.createDirectories(dist.resolve("bin"));
    Files.createDirectories(dist.resolve("runtime/bin"));
    Files.copy(launcher, dist.resolve("bin/trainq-worker"));
    Path java = dist.resolve("runtime/bin/java");
    Files.writeString(java, "#!/bin/sh\nprintf '%s\\n' \"$0\" \"$@\"\n");
    Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));
    String home = dist.toRealPath() + "/";

    for (Map<String, String> vars : List.of(Map.<String, String>of(),
        Map.of(WorkerCommand.HEAP, "2g", WorkerCommand.JAVA_OPTS, "-Dx=1 -XX:+PrintFlagsFinal"))) {
      ProcessBuilder pb = new ProcessBuilder("sh", dist.resolve("bin/trainq-worker").toString(), "--", "python3", "train.py");
      pb.environment().keySet().removeIf(k -> k.startsWith("TRAINQ_WORKER_"));
      pb.environment().putAll(vars);
      pb.redirectErrorStream(true);
      Process p = pb.start();
      List<String> launched = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).lines().toList();
      assertThat(p.waitFor()).as("the launcher: %s", launched).isZero();

      List<EnvVar> env = new ArrayList<>();
      vars.forEach((k, v) -> env.add(plain(k, v)));
      List<String> inPod = WorkerCommand.of(env, List.of("python3", "train.py")).stream()
          .map(a -> a.startsWith(WorkerCommand.MOUNT + "/") ? home + a.substring(WorkerCommand.MOUNT.length() + 1) : a)
          .toList();
      assertThat(launched).as("with %s", vars).isEqualTo(inPod);
    }
  }

  private static EnvVar plain(String name, String value) {
    return new EnvVarBuilder().withName(name).withValue(value).build();
  }

  private static TrainingJob job(List<EnvVar> env) {
    TrainingJob tj = OperatorHarness.job("ns", "sweep", 10);
    tj.getMetadata().setUid("0b3c5d7e-1111-2222-3333-444455556666");
    if (env != null) {
      WorkerSpec w = new WorkerSpec();
      w.setEnv(env);
      tj.getSpec().setWorkers(w);
    }
    return tj;
  }

  private static io.fabric8.kubernetes.api.model.Pod pod(TrainingJob tj) {
    OperatorConfig config = new OperatorConfig(java.util.Set.of("ns"), "default", "test-operator", "ghcr.io/trainq/trainq-worker:test",
        "IfNotPresent", OperatorConfig.DEFAULT_SECRET, Optional.empty(), "/", false, "trainq-operator", Duration.ofSeconds(15),
        Duration.ofSeconds(10), Duration.ofSeconds(2), -1, 2000, 256, Duration.ofSeconds(2), Duration.ofHours(1), "trainq.events",
        8, Duration.ofMillis(200));
    tj.setSpec(SchemaDefaults.applied(tj.getSpec())); // as the API server stores it
    return WorkerPods.desired(tj, JobRuntime.of(tj), config, "rabbit-default-user", null);
  }

  private static String b64(String s) {
    return java.util.Base64.getEncoder().encodeToString(s.getBytes(java.nio.charset.StandardCharsets.UTF_8));
  }
}
