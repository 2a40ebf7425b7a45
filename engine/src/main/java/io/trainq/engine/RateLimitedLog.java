package io.trainq.engine;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * At most one log line per key and interval, with the count of what was left out since the last
 * one: a flood of bad events or a broker that stays away must not bury the log.
 */
public final class RateLimitedLog {
  private final long intervalNanos;
  private final LongSupplier nanoClock;
  private final Map<String, long[]> state = new ConcurrentHashMap<>();

  public RateLimitedLog(Duration interval) {
    this(interval, System::nanoTime);
  }

  RateLimitedLog(Duration interval, LongSupplier nanoClock) {
    this.intervalNanos = interval.toNanos();
    this.nanoClock = nanoClock;
  }

  /**
   * Whether a line for {@code key} may be written now: -1 when not (the occurrence is counted), else
   * how many occurrences were suppressed since the last line.
   */
  public long permit(String key) {
    long now = nanoClock.getAsLong();
    long[] s = state.computeIfAbsent(key, k -> new long[] {now - intervalNanos, 0});
    synchronized (s) {
      if (now - s[0] < intervalNanos) {
        s[1]++;
        return -1;
      }
      long suppressed = s[1];
      s[0] = now;
      s[1] = 0;
      return suppressed;
    }
  }
}
