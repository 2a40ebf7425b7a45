package io.trainq.operator.k8s;

import io.javaoperatorsdk.operator.api.reconciler.IndexedResourceCache;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.trainq.api.TrainingJob;
import io.trainq.protocol.JobTopology;
import java.util.Collection;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/** The runtimes of the jobs this operator runs, by uid and by job key (the events' routing key). */
final class JobRegistry {
  private final Map<String, JobRuntime> byUid = new ConcurrentHashMap<>();
  private final Map<String, JobRuntime> byKey = new ConcurrentHashMap<>();
  private volatile IndexedResourceCache<TrainingJob> cache;
  private final OperatorMetrics metrics;

  JobRegistry(OperatorMetrics metrics) {
    this.metrics = metrics;
  }

  /** The controller's informer cache, to find jobs whose events arrive before their first reconciliation. */
  void useCache(IndexedResourceCache<TrainingJob> c) {
    this.cache = c;
  }

  /** The job's runtime, made (and its fold restored from the status) on first sight. */
  JobRuntime getOrCreate(TrainingJob job) {
    return byUid.computeIfAbsent(job.getMetadata().getUid(), uid -> {
      JobRuntime rt = JobRuntime.of(job, metrics.forJob(job.getMetadata().getNamespace(), job.getMetadata().getName(), uid));
      byKey.put(rt.topology.key(), rt);
      return rt;
    });
  }

  Optional<JobRuntime> get(String uid) {
    return Optional.ofNullable(byUid.get(uid));
  }

  /**
   * The runtime of the job with this key: known, or found in the informer cache (the namespace is
   * the key's first segment). Empty when no such job exists any more.
   *
   * @throws IllegalStateException before the cache is available (the caller retries later)
   */
  Optional<JobRuntime> byKey(String key) {
    JobRuntime rt = byKey.get(key);
    if (rt != null) {
      return Optional.of(rt);
    }
    IndexedResourceCache<TrainingJob> c = cache;
    if (c == null) {
      throw new IllegalStateException("no TrainingJob cache yet");
    }
    int dot = key.indexOf('.');
    if (dot < 0) {
      return Optional.empty();
    }
    String ns = key.substring(0, dot);
    return c.list(ns)
        .filter(j -> j.getMetadata().getUid() != null
            && new JobTopology(ns, j.getMetadata().getName(), j.getMetadata().getUid()).key().equals(key))
        .filter(j -> j.getMetadata().getDeletionTimestamp() == null)
        .findFirst()
        .map(this::getOrCreate);
  }

  /** Forgets a deleted job; its waiting events are released. */
  void remove(String uid) {
    JobRuntime rt = byUid.remove(uid);
    if (rt != null) {
      byKey.remove(rt.topology.key());
      rt.close();
    }
  }

  Collection<JobRuntime> all() {
    return byUid.values();
  }

  Optional<ResourceID> idOf(String uid) {
    return get(uid).map(rt -> rt.id);
  }
}
