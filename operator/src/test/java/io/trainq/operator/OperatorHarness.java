package io.trainq.operator;

import com.rabbitmq.client.Address;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.trainq.api.TaskSource;
import io.trainq.api.TrainingJob;
import io.trainq.api.TrainingJobSpec;
import io.trainq.operator.k8s.TrainqOperator;
import io.trainq.protocol.RabbitSettings;
import io.trainq.testkit.RabbitBroker;
import java.time.Clock;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/** An operator started in the test's JVM against the test API server and broker, watching given namespaces. */
public final class OperatorHarness {
  private OperatorHarness() {}

  /** A configuration for tests: its own events queue, no leader election, any free HTTP port. */
  public static OperatorConfig config(RabbitBroker broker, Set<String> namespaces, String eventsQueue) {
    List<Address> addrs = Arrays.asList(broker.addresses());
    return new OperatorConfig(namespaces, "default", "test-operator", "ghcr.io/trainq/trainq-worker:test", "IfNotPresent",
        OperatorConfig.DEFAULT_SECRET,
        Optional.of(new RabbitSettings(addrs, RabbitBroker.USERNAME, RabbitBroker.PASSWORD, RabbitBroker.VHOST, null)),
        "/", false, "trainq-operator", Duration.ofSeconds(15), Duration.ofSeconds(10), Duration.ofSeconds(2),
        -1, 2000, 256, Duration.ofSeconds(2), Duration.ofHours(1), eventsQueue, 8, Duration.ofMillis(200));
  }

  public static TrainqOperator start(OperatorConfig config, KubernetesClient client) throws Exception {
    TrainqOperator op = new TrainqOperator(config, client, Clock.systemUTC());
    op.start();
    return op;
  }

  /** A job of {@code count} tasks running {@code python3 train.py}, not yet created; tests adjust its spec. */
  public static TrainingJob job(String namespace, String name, int count) {
    TrainingJobSpec spec = new TrainingJobSpec();
    spec.setImage("python:3.12-slim");
    spec.setCommand(List.of("python3", "train.py"));
    TaskSource tasks = new TaskSource();
    tasks.setCount(count);
    spec.setTasks(tasks);
    TrainingJob tj = new TrainingJob();
    tj.setMetadata(new ObjectMetaBuilder().withName(name).withNamespace(namespace).build());
    tj.setSpec(spec);
    return tj;
  }
}
