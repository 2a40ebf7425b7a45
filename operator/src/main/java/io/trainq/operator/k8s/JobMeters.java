package io.trainq.operator.k8s;

/** What a job's runtime counts for the metrics, as it folds events. */
interface JobMeters {
  /** An event folded into the status, by outcome ({@code succeeded}, {@code retrying}, …, {@code rejected_message}). */
  void outcome(String outcome);

  /** A worker event the guard dropped, by reason. */
  void rejected(String reason);

  /** A finished attempt's wall time. */
  void duration(double seconds);

  /** Counts nothing (a runtime made outside an operator, as in tests). */
  JobMeters NONE = new JobMeters() {
    @Override
    public void outcome(String outcome) {}

    @Override
    public void rejected(String reason) {}

    @Override
    public void duration(double seconds) {}
  };
}
