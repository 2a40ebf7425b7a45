package io.trainq.operator.k8s;

import io.fabric8.kubernetes.api.model.Secret;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.trainq.api.TrainingJob;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Connection Secrets read by name (the operator may get Secrets, not list or watch them), kept for
 * a short while: a busy job is reconciled several times a second, its Secret need not be read each time.
 */
final class SecretCache {
  private record Entry(Optional<Secret> secret, long readAtNanos) {}

  private final long ttlNanos;
  private final Map<String, Entry> entries = new ConcurrentHashMap<>();

  SecretCache(Duration ttl) {
    this.ttlNanos = ttl.toNanos();
  }

  /** The Secret, or null when it does not exist. */
  Secret get(Context<TrainingJob> ctx, String namespace, String name) {
    String key = namespace + "/" + name;
    Entry e = entries.get(key);
    long now = System.nanoTime();
    if (e == null || now - e.readAtNanos() > ttlNanos) {
      e = new Entry(Optional.ofNullable(ctx.getClient().secrets().inNamespace(namespace).withName(name).get()), now);
      if (entries.size() > 10_000) {
        entries.clear();
      }
      entries.put(key, e);
    }
    return e.secret().orElse(null);
  }

  void forget(String namespace, String name) {
    entries.remove(namespace + "/" + name);
  }
}
