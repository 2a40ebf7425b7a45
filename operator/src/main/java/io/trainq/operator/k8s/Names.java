package io.trainq.operator.k8s;

import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.trainq.api.TrainingJob;
import java.util.Map;

/** Names and labels of a TrainingJob's children: the one place they are made. */
public final class Names {
  public static final String MANAGED_BY = "app.kubernetes.io/managed-by";
  public static final String OPERATOR = "trainq-operator";
  public static final String COMPONENT = "app.kubernetes.io/component";
  public static final String WORKER = "worker";
  /** The owning job's uid: label values are at most 63 characters, job names may be longer. */
  public static final String JOB_UID = "trainq.io/job-uid";
  /** The owning job's name, as an annotation (no length limit). */
  public static final String JOB_NAME = "trainq.io/job-name";
  /** The selector of every worker pod the operator manages. */
  public static final String WORKER_SELECTOR = MANAGED_BY + "=" + OPERATOR + "," + COMPONENT + "=" + WORKER;

  /** The finalizer that deletes a job's queues before the job goes. */
  public static final String FINALIZER = "trainq.io/finalizer";

  /** Pod names are DNS subdomains, but their hostname is cut at 63; keep the whole name within it. */
  private static final int MAX_POD_NAME = 63;
  /** Characters the API server appends to a generateName. */
  private static final int GENERATED_CHARS = 5;

  private Names() {}

  /**
   * The {@code metadata.generateName} of a job's worker pods, {@code <job>-worker-}: the API server
   * adds 5 random characters. The job name is cut so that the whole name stays within a hostname.
   */
  /**
   * The Secret with the job's own broker user (per-job broker users), owned by the job. The uid is in
   * the name: a job deleted and created again under the same name never finds its predecessor's
   * Secret, which the garbage collector may not have removed yet.
   */
  public static String brokerUserSecret(TrainingJob job) {
    String uid = job.getMetadata().getUid().replace("-", "");
    String suffix = "-broker-user-" + uid.substring(0, Math.min(12, uid.length()));
    String name = job.getMetadata().getName();
    return (name.length() + suffix.length() <= 253 ? name : name.substring(0, 253 - suffix.length())) + suffix;
  }

  public static String workerPodPrefix(String jobName) {
    String suffix = "-worker-";
    int max = MAX_POD_NAME - GENERATED_CHARS - suffix.length();
    String base = jobName.length() > max ? jobName.substring(0, max) : jobName;
    // a cut name must not end with '-' or '.'
    while (!base.isEmpty() && !Character.isLetterOrDigit(base.charAt(base.length() - 1))) {
      base = base.substring(0, base.length() - 1);
    }
    return base + suffix;
  }

  /** Labels of the job's worker pods. */
  public static Map<String, String> workerLabels(TrainingJob job) {
    return Map.of(MANAGED_BY, OPERATOR, COMPONENT, WORKER, JOB_UID, job.getMetadata().getUid());
  }

  /** The controller reference of what the job owns (its worker pods, its Workload): deleted with it. */
  public static OwnerReference controllerRef(TrainingJob job) {
    return new OwnerReferenceBuilder()
        .withApiVersion(job.getApiVersion())
        .withKind(job.getKind())
        .withName(job.getMetadata().getName())
        .withUid(job.getMetadata().getUid())
        .withController(true)
        .withBlockOwnerDeletion(true)
        .build();
  }
}
