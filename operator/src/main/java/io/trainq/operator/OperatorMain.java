package io.trainq.operator;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.trainq.operator.k8s.TrainqOperator;
import java.time.Clock;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The operator process: configuration from {@code TRAINQ_*} variables (read once, see
 * {@link OperatorConfig#fromEnv}), the Kubernetes client from the in-cluster service account or
 * {@code KUBECONFIG}, then the operator until SIGTERM.
 */
public final class OperatorMain {
  private static final Logger log = LoggerFactory.getLogger(OperatorMain.class);

  private OperatorMain() {}

  public static void main(String[] args) throws Exception {
    OperatorConfig config;
    try {
      config = OperatorConfig.fromEnv(System.getenv());
    } catch (IllegalArgumentException e) {
      System.err.println("trainq-operator: " + e.getMessage());
      System.exit(2);
      return;
    }
    KubernetesClient client = new KubernetesClientBuilder().build();
    TrainqOperator operator = new TrainqOperator(config, client, Clock.systemUTC());
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      log.info("stopping");
      try {
        operator.close();
        client.close();
      } finally {
        stopped.countDown();
      }
    }, "trainq-shutdown"));
    operator.start();
    stopped.await();
  }
}
