package io.trainq.cli.validate;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.StatusCause;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.trainq.api.TrainingJob;
import io.trainq.testkit.kube.TestCluster;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * `trainq run` validates with the CRD's schema and CEL rules itself; this proves it says what the
 * real API server says, file for file: the same set of field errors, valid or not.
 */
class SameMessagesAsApiServerIT {
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  private static TestCluster cluster;
  private static KubernetesClient client;
  private final CrdSchemaValidator local = CrdSchemaValidator.fromClasspathCrd("META-INF/fabric8/trainingjobs.trainq.io-v1.yml");

  @BeforeAll
  static void startApiServer() throws Exception {
    cluster = TestCluster.start(TestCluster.Kind.API_SERVER);
    client = cluster.client();
    try (var in = SameMessagesAsApiServerIT.class.getClassLoader().getResourceAsStream("META-INF/fabric8/trainingjobs.trainq.io-v1.yml")) {
      CustomResourceDefinition crd = client.getKubernetesSerialization().unmarshal(in, CustomResourceDefinition.class);
      client.resource(crd).serverSideApply();
    }
    TestCluster.awaitEstablished(client, TrainingJob.CRD_NAME);
  }

  @AfterAll
  static void stop() {
    if (cluster != null) {
      cluster.close();
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {
    "{image: i, command: [python, t.py], tasks: {count: 10}}",
    "{command: [x], tasks: {count: 1}}",
    "{image: i, command: [], tasks: {count: 1}}",
    "{image: i, command: [x], tasks: {count: 0}}",
    "{image: i, command: [x], tasks: {count: 2000000}}",
    "{image: i, command: [x], tasks: {count: 1}, gpusPerTask: 0}",
    "{image: i, command: [x], tasks: {count: 1}, taskTimeout: 4 hours}",
    "{image: i, command: [x], tasks: {count: 1, grid: {a: [1]}}}",
    "{image: i, command: [x], tasks: {}}",
    "{image: i, command: [x], tasks: {count: 1}, gpusPerTask: 2, workers: {gpusPerPod: 3}}",
    "{image: i, command: [x], tasks: {count: 1}, retry: {maxAttempts: 0, backoff: {initial: soon}}}",
    "{image: i, command: [x], tasks: {grid: {lr: []}}}",
    "{image: i, command: [x], tasks: {count: 1}, workers: {maxPods: 0, imagePullPolicy: Sometimes}}",
    "{image: i, command: [x], tasks: {count: 1}, rabbitmq: {secretRef: {name: Bad_Name}}}",
    "{image: i, command: [x], tasks: {count: 1}, gpusPerTask: two}",
    "{image: i, command: [x], tasks: {count: 1}, retry: {backoff: {initial: 20m, max: 1m}}}",
    // valid, with every optional part
    "{image: i, command: [python, ''], workingDir: /w, tasks: {grid: {lr: [0.1, 0.01], seed: [1]}}, gpusPerTask: 2,"
        + " workers: {maxPods: 2, gpusPerPod: 4, tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}],"
        + " resources: {limits: {cpu: 2, memory: 4Gi}}, env: [{name: A, value: b}], idleTimeout: 1m30s},"
        + " retry: {maxAttempts: 5, deliveryLimit: 20, backoff: {initial: 1s, max: 1h}}, taskTimeout: 250ms500ms1s, taskTTL: 3m,"
        + " rabbitmq: {secretRef: {name: rmq}, addresses: ['a:5672'], vhost: v}, suspend: true, ttlSecondsAfterFinished: 0}"
  })
  void localValidationReportsWhatTheApiServerReports(String spec) throws Exception {
    assertThat(local(spec)).as("local validation of %s", spec).containsExactlyInAnyOrderElementsOf(server(spec));
  }

  /**
   * One mistake, one error that names the field, and the same words from `trainq run`: every CEL rule
   * of the CRD is here, and the mistakes people make (durations, zero GPUs, an empty command, bad task
   * sources, bad tolerations). A rule that also fires on a value its field's schema already refused
   * (modulus by zero, index out of bounds, a duration that does not parse) shows up as a second error.
   */
  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', quoteCharacter = '"', textBlock = """
      image missing                     | command: [x], tasks: {count: 1}                                   | spec.image
      image empty                       | image: '', command: [x], tasks: {count: 1}                         | spec.image
      command empty                     | image: i, command: [], tasks: {count: 1}                           | spec.command
      command's program empty           | image: i, command: [''], tasks: {count: 1}                         | spec.command
      command a string                  | image: i, command: python train.py, tasks: {count: 1}              | spec.command
      tasks missing                     | image: i, command: [x]                                            | spec.tasks
      no task source                    | image: i, command: [x], tasks: {}                                  | spec.tasks
      two task sources                  | image: i, command: [x], tasks: {count: 2, items: [{a: 1}]}         | spec.tasks
      count zero                        | image: i, command: [x], tasks: {count: 0}                          | spec.tasks.count
      count negative                    | image: i, command: [x], tasks: {count: -3}                         | spec.tasks.count
      count too large                   | image: i, command: [x], tasks: {count: 2000000}                    | spec.tasks.count
      count a string                    | image: i, command: [x], tasks: {count: '10'}                       | spec.tasks.count
      items empty                       | image: i, command: [x], tasks: {items: []}                         | spec.tasks.items
      item not an object                | image: i, command: [x], tasks: {items: [1]}                        | spec.tasks.items[0]
      grid empty                        | image: i, command: [x], tasks: {grid: {}}                          | spec.tasks.grid
      grid parameter without values     | image: i, command: [x], tasks: {grid: {lr: []}}                    | spec.tasks.grid.lr
      grid parameter not a list         | image: i, command: [x], tasks: {grid: {lr: 0.1}}                   | spec.tasks.grid.lr
      gpusPerTask zero                  | image: i, command: [x], tasks: {count: 1}, gpusPerTask: 0, workers: {gpusPerPod: 2} | spec.gpusPerTask
      gpusPerTask negative              | image: i, command: [x], tasks: {count: 1}, gpusPerTask: -1, workers: {gpusPerPod: 2} | spec.gpusPerTask
      gpusPerTask too large             | image: i, command: [x], tasks: {count: 1}, gpusPerTask: 65         | spec.gpusPerTask
      gpusPerTask a fraction            | image: i, command: [x], tasks: {count: 1}, gpusPerTask: 1.5        | spec.gpusPerTask
      gpusPerPod zero                   | image: i, command: [x], tasks: {count: 1}, workers: {gpusPerPod: 0} | spec.workers.gpusPerPod
      gpusPerPod not a multiple         | image: i, command: [x], tasks: {count: 1}, gpusPerTask: 2, workers: {gpusPerPod: 3} | spec.workers.gpusPerPod
      taskTimeout negative              | image: i, command: [x], tasks: {count: 1}, taskTimeout: -5m        | spec.taskTimeout
      taskTimeout zero                  | image: i, command: [x], tasks: {count: 1}, taskTimeout: 0s         | spec.taskTimeout
      taskTimeout under a second        | image: i, command: [x], tasks: {count: 1}, taskTimeout: 500ms      | spec.taskTimeout
      taskTimeout with a fraction       | image: i, command: [x], tasks: {count: 1}, taskTimeout: 1.5h       | spec.taskTimeout
      taskTimeout in days               | image: i, command: [x], tasks: {count: 1}, taskTimeout: 2d         | spec.taskTimeout
      taskTimeout in words              | image: i, command: [x], tasks: {count: 1}, taskTimeout: 4 hours    | spec.taskTimeout
      taskTimeout without a unit        | image: i, command: [x], tasks: {count: 1}, taskTimeout: 3600       | spec.taskTimeout
      taskTimeout a unit in microseconds | image: i, command: [x], tasks: {count: 1}, taskTimeout: 10us      | spec.taskTimeout
      taskTTL negative                  | image: i, command: [x], tasks: {count: 1}, taskTTL: -1s            | spec.taskTTL
      taskTTL zero                      | image: i, command: [x], tasks: {count: 1}, taskTTL: 0s             | spec.taskTTL
      taskTTL empty                     | image: i, command: [x], tasks: {count: 1}, taskTTL: ''             | spec.taskTTL
      backoff initial negative          | image: i, command: [x], tasks: {count: 1}, retry: {backoff: {initial: -10s}} | spec.retry.backoff.initial
      backoff initial not a duration    | image: i, command: [x], tasks: {count: 1}, retry: {backoff: {initial: soon, max: 1m}} | spec.retry.backoff.initial
      backoff max not a duration        | image: i, command: [x], tasks: {count: 1}, retry: {backoff: {initial: 1s, max: 1x}} | spec.retry.backoff.max
      backoff initial above max         | image: i, command: [x], tasks: {count: 1}, retry: {backoff: {initial: 20m, max: 1m}} | spec.retry.backoff.initial
      backoff initial above default max | image: i, command: [x], tasks: {count: 1}, retry: {backoff: {initial: 1h}} | spec.retry.backoff.initial
      maxAttempts zero                  | image: i, command: [x], tasks: {count: 1}, retry: {maxAttempts: 0} | spec.retry.maxAttempts
      deliveryLimit too large           | image: i, command: [x], tasks: {count: 1}, retry: {deliveryLimit: 101} | spec.retry.deliveryLimit
      maxPods zero                      | image: i, command: [x], tasks: {count: 1}, workers: {maxPods: 0}   | spec.workers.maxPods
      imagePullPolicy unknown           | image: i, command: [x], tasks: {count: 1}, workers: {imagePullPolicy: Sometimes} | spec.workers.imagePullPolicy
      idleTimeout negative              | image: i, command: [x], tasks: {count: 1}, workers: {idleTimeout: -1m} | spec.workers.idleTimeout
      extraPrefetch negative            | image: i, command: [x], tasks: {count: 1}, workers: {extraPrefetch: -1} | spec.workers.extraPrefetch
      GPUs in resources limits          | image: i, command: [x], tasks: {count: 1}, workers: {resources: {limits: {nvidia.com/gpu: 1}}} | spec.workers.resources
      GPUs in resources requests        | image: i, command: [x], tasks: {count: 1}, workers: {resources: {requests: {nvidia.com/gpu: 1}}} | spec.workers.resources
      tolerations an object             | image: i, command: [x], tasks: {count: 1}, workers: {tolerations: {key: nvidia.com/gpu}} | spec.workers.tolerations
      toleration a string               | image: i, command: [x], tasks: {count: 1}, workers: {tolerations: [nvidia.com/gpu]} | spec.workers.tolerations[0]
      tolerationSeconds a word          | image: i, command: [x], tasks: {count: 1}, workers: {tolerations: [{key: k, tolerationSeconds: soon}]} | spec.workers.tolerations[0].tolerationSeconds
      nodeSelector value a number       | image: i, command: [x], tasks: {count: 1}, workers: {nodeSelector: {gpus: 8}} | spec.workers.nodeSelector.gpus
      env a map                         | image: i, command: [x], tasks: {count: 1}, workers: {env: {A: b}}  | spec.workers.env
      rabbitmq without secretRef        | image: i, command: [x], tasks: {count: 1}, rabbitmq: {vhost: v}    | spec.rabbitmq.secretRef
      secret name invalid               | image: i, command: [x], tasks: {count: 1}, rabbitmq: {secretRef: {name: Bad_Name}} | spec.rabbitmq.secretRef.name
      suspend a word                    | image: i, command: [x], tasks: {count: 1}, suspend: 'yes'          | spec.suspend
      ttlSecondsAfterFinished negative  | image: i, command: [x], tasks: {count: 1}, ttlSecondsAfterFinished: -1 | spec.ttlSecondsAfterFinished
      """)
  void oneMistakeGivesOneErrorNamingTheField(String what, String spec, String field) throws Exception {
    List<String> serverErrors = server("{" + spec + "}");
    assertThat(serverErrors.stream().filter(e -> !e.equals(CrdSchemaValidator.RULES_NOT_CHECKED)).toList())
        .as("API server's errors for %s", what)
        .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
        .startsWith(field + ": ");
    assertThat(local("{" + spec + "}")).as("local validation of %s", what).containsExactlyInAnyOrderElementsOf(serverErrors);
  }

  private List<String> local(String spec) throws Exception {
    return local.validate((ObjectNode) YAML.readTree(yaml(spec)));
  }

  /** The API server's field errors for a dry-run create, each as "field: message" (empty when it accepts). */
  private static List<String> server(String spec) {
    GenericKubernetesResource r = client.getKubernetesSerialization().unmarshal(yaml(spec), GenericKubernetesResource.class);
    try {
      client.resource(r).inNamespace("default").dryRun().create();
      return List.of();
    } catch (KubernetesClientException e) {
      assertThat(e.getCode()).as(e.getMessage()).isEqualTo(422);
      return e.getStatus().getDetails().getCauses().stream().map(SameMessagesAsApiServerIT::text).toList();
    }
  }

  private static String yaml(String spec) {
    return "apiVersion: trainq.io/v1alpha1\nkind: TrainingJob\nmetadata: {name: job, namespace: default}\nspec: " + spec + "\n";
  }

  /** Unknown fields are pruned by a plain create; kubectl apply's strict field validation (its default) refuses them. */
  @org.junit.jupiter.api.Test
  void unknownFieldsAreRefusedAsKubectlRefusesThem(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
    String yaml = "apiVersion: trainq.io/v1alpha1\nkind: TrainingJob\nmetadata: {name: job, namespace: default}\n"
        + "spec: {image: i, command: [x], tasks: {count: 1}, retrys: {maxAttempts: 2}}\n";
    Path kubeconfig = cluster.kubeconfigPath();
    Path file = dir.resolve("job.yaml");
    Files.writeString(file, yaml);
    Path kubectl = TestCluster.kubectl();
    Process p = new ProcessBuilder(kubectl.toString(), "--kubeconfig", kubeconfig.toString(), "apply", "--dry-run=server", "-f", file.toString())
        .redirectErrorStream(true).start();
    String kubectlOut = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    assertThat(p.waitFor()).as(kubectlOut).isNotZero();
    assertThat(kubectlOut).contains("unknown field \"spec.retrys\"");
    assertThat(local.validate((ObjectNode) YAML.readTree(yaml))).containsExactly("unknown field \"spec.retrys\"");
  }

  private static String text(StatusCause c) {
    return c.getField() == null || c.getField().isEmpty() ? c.getMessage() : c.getField() + ": " + c.getMessage();
  }
}
