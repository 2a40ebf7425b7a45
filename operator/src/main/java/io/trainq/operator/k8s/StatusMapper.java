package io.trainq.operator.k8s;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import io.trainq.api.DeadLetter;
import io.trainq.api.TaskCounts;
import io.trainq.api.TrainingJobStatus;
import io.trainq.engine.Conditions;
import io.trainq.engine.JobProgress;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** Between the job logic's values and the TrainingJob status. */
final class StatusMapper {
  private StatusMapper() {}

  /** The fold's stored state, as {@link io.trainq.engine.JobStatusFold#restore} takes it. */
  static JobProgress progressOf(TrainingJobStatus s, int total) {
    TreeMap<Integer, String> retrying = new TreeMap<>();
    if (s.getRetryingIndexes() != null) {
      s.getRetryingIndexes().forEach((k, v) -> {
        try {
          retrying.put(Integer.parseInt(k), v);
        } catch (NumberFormatException e) {
          throw new IllegalArgumentException("status.retryingIndexes: key '" + k + "' is not an attempt number");
        }
      });
    }
    List<JobProgress.DeadLetterInfo> dls = new ArrayList<>();
    if (s.getDeadLetters() != null) {
      for (DeadLetter d : s.getDeadLetters()) {
        boolean task = d.getIndex() != null;
        dls.add(new JobProgress.DeadLetterInfo(task ? d.getIndex() : -1, !task ? 0 : d.getAttempts() == null ? 1 : d.getAttempts(),
            d.getReason(), d.getExitCode(), d.getLastError(), parseTime(d.getTime())));
      }
    }
    TaskCounts c = s.getCounts();
    return new JobProgress(total, 0, 0, 0, c == null || c.getRetried() == null ? 0 : c.getRetried(),
        nz(s.getSucceededIndexes()), nz(s.getFailedIndexes()), nz(s.getRunningIndexes()), retrying, dls,
        s.getBusyGpuSeconds() == null ? 0 : s.getBusyGpuSeconds(), 0,
        c == null || c.getRejectedMessages() == null ? 0 : c.getRejectedMessages(),
        s.getRejectedMessageDigests() == null ? List.of() : s.getRejectedMessageDigests());
  }

  /** The fold's part of a status. */
  static void applyProgress(TrainingJobStatus s, JobProgress p, long published) {
    s.setCounts(new TaskCounts(p.total(), (int) Math.min(published, p.total()), p.running(), p.succeeded(),
        (int) Math.min(Integer.MAX_VALUE, p.retried()), p.deadLettered()));
    if (p.rejectedMessages() > 0) {
      s.getCounts().setRejectedMessages((int) Math.min(Integer.MAX_VALUE, p.rejectedMessages()));
    }
    s.setRejectedMessageDigests(p.rejectedDigests().isEmpty() ? null : p.rejectedDigests());
    s.setProgress(p.progressText());
    s.setSucceededIndexes(p.succeededIndexes());
    s.setFailedIndexes(p.failedIndexes());
    s.setRunningIndexes(p.runningIndexes());
    if (p.retryingIndexes().isEmpty()) {
      s.setRetryingIndexes(null);
    } else {
      Map<String, String> m = new TreeMap<>();
      p.retryingIndexes().forEach((a, v) -> m.put(Integer.toString(a), v));
      s.setRetryingIndexes(m);
    }
    List<DeadLetter> dls = new ArrayList<>();
    for (JobProgress.DeadLetterInfo d : p.deadLetters()) {
      DeadLetter x = new DeadLetter();
      x.setIndex(d.index() < 0 ? null : d.index());
      x.setAttempts(d.index() < 0 ? null : d.attempts());
      x.setReason(d.reason());
      x.setExitCode(d.exitCode());
      x.setLastError(d.lastError());
      x.setTime(d.time() == null ? null : d.time().toString());
      dls.add(x);
    }
    s.setDeadLetters(dls.isEmpty() ? null : dls);
    s.setBusyGpuSeconds(round(p.busyGpuSeconds()));
  }

  static List<Condition> toKubernetes(List<Conditions.Condition> cs) {
    List<Condition> out = new ArrayList<>();
    for (Conditions.Condition c : cs) {
      out.add(new ConditionBuilder().withType(c.type()).withStatus(c.status()).withReason(c.reason())
          .withMessage(c.message()).withLastTransitionTime(c.lastTransitionTime().toString())
          .withObservedGeneration(c.observedGeneration()).build());
    }
    return out;
  }

  static List<Conditions.Condition> fromKubernetes(List<Condition> cs) {
    List<Conditions.Condition> out = new ArrayList<>();
    if (cs != null) {
      for (Condition c : cs) {
        out.add(new Conditions.Condition(c.getType(), c.getStatus(), c.getReason(), c.getMessage(),
            parseTime(c.getLastTransitionTime()), c.getObservedGeneration()));
      }
    }
    return out;
  }

  /** "97%" of busy over allocated GPU-seconds; null while nothing was allocated. */
  static String utilization(double busy, double allocated) {
    if (allocated <= 0) {
      return null;
    }
    long pct = Math.round(Math.min(1.0, busy / allocated) * 100);
    return pct + "%";
  }

  static double round(double v) {
    return Math.round(v * 10.0) / 10.0;
  }

  static Instant parseTime(String s) {
    if (s == null) {
      return null;
    }
    try {
      return Instant.parse(s);
    } catch (DateTimeParseException e) {
      return null;
    }
  }

  private static String nz(String s) {
    return s == null ? "" : s;
  }
}
