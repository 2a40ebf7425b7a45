package io.trainq.protocol;

import java.time.Duration;

/** Exponential backoff between attempts of a failing task. */
public final class Backoff {
  private Backoff() {}

  /** Delay before attempt {@code failedAttempt + 1}: initial × 2^(failedAttempt-1), capped at max. */
  public static Duration delay(int failedAttempt, Duration initial, Duration max) {
    if (failedAttempt < 1) {
      throw new IllegalArgumentException("failedAttempt must be >= 1, was " + failedAttempt);
    }
    int shift = Math.min(failedAttempt - 1, 40);
    long ms = initial.toMillis();
    long scaled = ms << shift;
    if (scaled < 0 || (ms != 0 && scaled >> shift != ms) || scaled > max.toMillis()) {
      return max;
    }
    return Duration.ofMillis(scaled);
  }
}
