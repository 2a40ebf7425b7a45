package io.trainq.api;

import java.time.Duration;
import java.util.regex.Pattern;

/** Durations in the Kubernetes style ("90s", "1h30m", "250ms"), as the schema's pattern accepts them. */
public final class Durations {
  /** The schema pattern for duration fields. */
  public static final String PATTERN = "^([0-9]+(ms|s|m|h))+$";

  /**
   * CEL rule of a duration field that must be at least 1s. A value that fails {@link #PATTERN} already
   * has its error; parsing it with duration() would add a "type conversion error", or judge "-5m".
   */
  public static final String AT_LEAST_1S = "!self.matches('" + PATTERN + "') || duration(self) >= duration('1s')";

  private static final Pattern WHOLE = Pattern.compile(PATTERN);

  private Durations() {}

  /** Parses a duration; throws IllegalArgumentException naming the bad value. */
  public static Duration parse(String value) {
    if (value == null || !WHOLE.matcher(value).matches()) {
      throw new IllegalArgumentException(
          "invalid duration \"" + value + "\": expected a sequence like 90s, 10m, 1h30m or 250ms");
    }
    try {
      // fabric8's Go-duration parser; the pattern above keeps to the units the schema allows
      return io.fabric8.kubernetes.api.model.Duration.parse(value).getDuration();
    } catch (java.text.ParseException | ArithmeticException | NumberFormatException e) {
      throw new IllegalArgumentException("invalid duration \"" + value + "\": " + e.getMessage(), e);
    }
  }

  /** Formats a duration the way the schema writes them ("1h30m", "250ms"). */
  public static String format(Duration d) {
    if (d.isZero()) {
      return "0s";
    }
    StringBuilder sb = new StringBuilder();
    long h = d.toHours();
    long m = d.toMinutesPart();
    long s = d.toSecondsPart();
    long ms = d.toMillisPart();
    if (h > 0) sb.append(h).append('h');
    if (m > 0) sb.append(m).append('m');
    if (s > 0) sb.append(s).append('s');
    if (ms > 0) sb.append(ms).append("ms");
    return sb.toString();
  }
}
