package io.trainq.operator.k8s;

import io.trainq.api.TrainingJob;
import java.security.SecureRandom;
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

  private static final String ALPHABET = "bcdfghjklmnpqrstvwxz2456789";
  private static final SecureRandom RANDOM = new SecureRandom();
  /** Pod names are DNS subdomains, but their hostname is cut at 63; keep the whole name within it. */
  private static final int MAX_POD_NAME = 63;

  private Names() {}

  /** A new worker pod's name: {@code <job>-worker-<5 random characters>}, the job name cut to fit. */
  public static String workerPod(String jobName) {
    String suffix = "-worker-" + randomSuffix(5);
    String base = jobName.length() + suffix.length() > MAX_POD_NAME ? jobName.substring(0, MAX_POD_NAME - suffix.length()) : jobName;
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

  static String randomSuffix(int n) {
    StringBuilder sb = new StringBuilder(n);
    for (int i = 0; i < n; i++) {
      sb.append(ALPHABET.charAt(RANDOM.nextInt(ALPHABET.length())));
    }
    return sb.toString();
  }
}
