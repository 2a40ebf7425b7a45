package io.trainq.engine;

import java.util.BitSet;

/**
 * Sets of task indexes in the Indexed Job interval format: ascending, comma-separated, ranges
 * inclusive, e.g. {@code "0-41,43,50-99"}; the empty set is {@code ""}. Backed by {@link BitSet}, so
 * a million indexes cost 125 KB and formatting walks runs, not single indexes.
 */
public final class Intervals {

  private Intervals() {}

  /** Formats a set of indexes; runs of two or more become {@code a-b}. */
  public static String format(BitSet set) {
    StringBuilder sb = new StringBuilder();
    for (int from = set.nextSetBit(0); from >= 0; ) {
      int to = set.nextClearBit(from) - 1;
      if (sb.length() > 0) {
        sb.append(',');
      }
      sb.append(from);
      if (to > from) {
        sb.append('-').append(to);
      }
      if (to >= Integer.MAX_VALUE - 1) {
        break;
      }
      from = set.nextSetBit(to + 1);
    }
    return sb.toString();
  }

  /** Parses the interval format with no upper bound on indexes (but see {@link #parse(String, int)}). */
  public static BitSet parse(String text) {
    return parse(text, Integer.MAX_VALUE);
  }

  /**
   * Parses the interval format. {@code null} and {@code ""} are the empty set.
   *
   * @param bound indexes must be below it (the job's task count), so a bad value cannot allocate gigabytes
   * @throws IllegalArgumentException naming the offending part
   */
  public static BitSet parse(String text, int bound) {
    BitSet set = new BitSet();
    if (text == null || text.isEmpty()) {
      return set;
    }
    int last = -1;
    for (String part : text.split(",", -1)) {
      int dash = part.indexOf('-');
      int from;
      int to;
      if (dash < 0) {
        from = index(part, text);
        to = from;
      } else {
        from = index(part.substring(0, dash), text);
        to = index(part.substring(dash + 1), text);
      }
      if (to < from) {
        throw new IllegalArgumentException("invalid interval '" + part + "' in \"" + text + "\": end before start");
      }
      if (from <= last) {
        throw new IllegalArgumentException("invalid interval '" + part + "' in \"" + text + "\": intervals must be ascending and disjoint");
      }
      if (to >= bound) {
        throw new IllegalArgumentException("index " + to + " in \"" + text + "\" is out of range (0-" + (bound - 1) + ")");
      }
      set.set(from, to + 1);
      last = to;
    }
    return set;
  }

  private static int index(String s, String whole) {
    if (s.isEmpty() || s.length() > 10) {
      throw new IllegalArgumentException("invalid index '" + s + "' in \"" + whole + "\"");
    }
    for (int i = 0; i < s.length(); i++) {
      if (s.charAt(i) < '0' || s.charAt(i) > '9') {
        throw new IllegalArgumentException("invalid index '" + s + "' in \"" + whole + "\"");
      }
    }
    long v = Long.parseLong(s);
    if (v > Integer.MAX_VALUE - 1) {
      throw new IllegalArgumentException("index " + s + " in \"" + whole + "\" is too large");
    }
    return (int) v;
  }
}
