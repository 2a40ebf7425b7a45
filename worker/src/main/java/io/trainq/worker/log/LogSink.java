package io.trainq.worker.log;

import java.io.PrintStream;
import java.time.Instant;
import java.util.Locale;
import java.util.Map;
import org.slf4j.event.Level;

/**
 * Writes log lines to stdout, where the kubelet (or the single-machine runner) collects them: one
 * line per event, plain text for people or JSON lines for log pipelines. Secrets never reach it:
 * callers log only redacted settings.
 */
public final class LogSink {
  /** Output formats. */
  public enum Format { TEXT, JSON }

  private static volatile Level threshold = Level.INFO;
  private static volatile Format format = Format.TEXT;
  private static volatile PrintStream out = System.out;

  private LogSink() {}

  /** Sets the level and format; called once from main after the configuration is read. */
  public static void configure(Level level, Format fmt) {
    threshold = level;
    format = fmt;
  }

  /** For tests. */
  static void redirect(PrintStream stream) {
    out = stream;
  }

  public static boolean enabled(Level level) {
    return level.toInt() >= threshold.toInt();
  }

  /** Parses TRAINQ_LOG_LEVEL (trace, debug, info, warn, error). */
  public static Level parseLevel(String s) {
    try {
      return Level.valueOf(s.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("TRAINQ_LOG_LEVEL must be one of trace, debug, info, warn, error; got '" + s + "'");
    }
  }

  /** Parses TRAINQ_LOG_FORMAT (text, json). */
  public static Format parseFormat(String s) {
    try {
      return Format.valueOf(s.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("TRAINQ_LOG_FORMAT must be text or json; got '" + s + "'");
    }
  }

  static void write(Level level, String logger, String message, Map<String, String> mdc, Throwable t) {
    String line = format == Format.JSON ? json(level, logger, message, mdc, t) : text(level, message, mdc, t);
    PrintStream o = out;
    synchronized (o) {
      o.println(line);
    }
  }

  static String text(Level level, String message, Map<String, String> mdc, Throwable t) {
    StringBuilder sb = new StringBuilder(64 + message.length());
    sb.append(Instant.now()).append(' ');
    String lv = level.name();
    sb.append(lv);
    for (int i = lv.length(); i < 6; i++) {
      sb.append(' ');
    }
    if (mdc != null) {
      String task = mdc.get("task");
      if (task != null) {
        sb.append("[task ").append(task);
        String stream = mdc.get("stream");
        if ("stderr".equals(stream)) {
          sb.append(" stderr");
        }
        sb.append("] ");
      }
    }
    sb.append(message);
    if (t != null) {
      sb.append(": ").append(t);
      for (Throwable c = t.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
        sb.append(" <- ").append(c);
      }
      if (enabled(Level.DEBUG)) {
        for (StackTraceElement e : t.getStackTrace()) {
          sb.append("\n\tat ").append(e);
        }
      }
    }
    return sb.toString();
  }

  static String json(Level level, String logger, String message, Map<String, String> mdc, Throwable t) {
    StringBuilder sb = new StringBuilder(96 + message.length());
    sb.append("{\"ts\":\"").append(Instant.now()).append("\",\"level\":\"").append(level.name()).append("\",\"logger\":");
    quote(sb, logger);
    sb.append(",\"msg\":");
    quote(sb, message);
    if (mdc != null) {
      for (Map.Entry<String, String> e : mdc.entrySet()) {
        sb.append(',');
        quote(sb, e.getKey());
        sb.append(':');
        quote(sb, e.getValue());
      }
    }
    if (t != null) {
      sb.append(",\"error\":");
      quote(sb, String.valueOf(t));
    }
    return sb.append('}').toString();
  }

  static void quote(StringBuilder sb, String s) {
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        default -> {
          if (c < 0x20) {
            sb.append(String.format("\\u%04x", (int) c));
          } else {
            sb.append(c);
          }
        }
      }
    }
    sb.append('"');
  }
}
