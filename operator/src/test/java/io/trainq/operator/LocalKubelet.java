package io.trainq.operator;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodConditionBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.trainq.operator.k8s.Names;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Does a kubelet's part for the worker pods of one namespace on an API server without nodes: each
 * new pod's worker runs as a local process ({@link WorkerProcesses}); the pod is marked Running and
 * Ready, Succeeded when its worker exits 0 (a crash restarts it, as restartPolicy OnFailure does); a
 * deleted pod's worker gets SIGTERM, and the pod object goes once the worker has exited. So the
 * operator's decisions (create, scale, delete) have real workers behind them.
 */
public final class LocalKubelet implements AutoCloseable {
  private final KubernetesClient client;
  private final String namespace;
  private final Thread thread;
  private final Map<String, Process> running = new ConcurrentHashMap<>();
  private final Map<String, Long> exitedAt = new ConcurrentHashMap<>();
  private final List<Path> logs = new ArrayList<>();
  private volatile boolean stop;

  public LocalKubelet(KubernetesClient client, String namespace) throws Exception {
    WorkerProcesses.distribution();
    this.client = client;
    this.namespace = namespace;
    this.thread = new Thread(this::loop, "local-kubelet-" + namespace);
    thread.setDaemon(true);
    thread.start();
  }

  /** When the worker of {@code pod} exited by itself (nanoTime), or null. */
  public Long exitedAt(String pod) {
    return exitedAt.get(pod);
  }

  /** Pod names whose worker exited by itself, in no order. */
  public java.util.Set<String> exited() {
    return java.util.Set.copyOf(exitedAt.keySet());
  }

  private void loop() {
    while (!stop) {
      try {
        step();
      } catch (KubernetesClientException e) {
        // the API server is busy or the pod changed meanwhile: next round
      } catch (Exception e) {
        e.printStackTrace();
      }
      try {
        Thread.sleep(200);
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  private void step() throws Exception {
    List<Pod> pods = client.pods().inNamespace(namespace).withLabel(Names.COMPONENT, Names.WORKER).list().getItems();
    for (Pod pod : pods) {
      String name = pod.getMetadata().getName();
      String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
      Process p = running.get(name);
      if (pod.getMetadata().getDeletionTimestamp() != null) {
        if (p != null && p.isAlive()) {
          p.destroy();
          continue;
        }
        running.remove(name);
        client.pods().inNamespace(namespace).withName(name).withGracePeriod(0).delete();
        continue;
      }
      if ("Succeeded".equals(phase) || "Failed".equals(phase)) {
        continue;
      }
      if (p == null) {
        Path log = Files.createTempFile("kubelet-" + name, ".log");
        synchronized (logs) {
          logs.add(log);
        }
        running.put(name, WorkerProcesses.start(client, pod, Map.of("TRAINQ_HTTP_PORT", "0"), log));
        setPhase(name, "Running", true);
      } else if (!p.isAlive()) {
        if (p.exitValue() == 0) {
          exitedAt.putIfAbsent(name, System.nanoTime());
          setPhase(name, "Succeeded", false);
        } else {
          // restartPolicy OnFailure
          running.remove(name);
        }
      }
    }
  }

  private void setPhase(String name, String phase, boolean ready) {
    client.pods().inNamespace(namespace).withName(name).editStatus(p -> {
      p.getStatus().setPhase(phase);
      p.getStatus().setConditions(List.of(new PodConditionBuilder().withType("Ready").withStatus(ready ? "True" : "False").build()));
      return p;
    });
  }

  /** The last lines of every worker's log, for a failed test's report. */
  public String logs(int lines) throws Exception {
    StringBuilder b = new StringBuilder();
    synchronized (logs) {
      for (Path log : logs) {
        List<String> all = Files.readAllLines(log);
        b.append("--- ").append(log).append('\n');
        all.subList(Math.max(0, all.size() - lines), all.size()).forEach(l -> b.append(l).append('\n'));
      }
    }
    return b.toString();
  }

  @Override
  public void close() throws Exception {
    stop = true;
    thread.interrupt();
    thread.join(5000);
    for (Process p : running.values()) {
      if (p.isAlive()) {
        p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    }
  }
}
