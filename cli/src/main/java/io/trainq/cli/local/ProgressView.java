package io.trainq.cli.local;

import java.io.PrintStream;
import java.time.Duration;
import java.util.Locale;

/**
 * The terminal's view of a run: a progress bar redrawn in place on a terminal, or one status line
 * every few seconds when the output is a file or a pipe (a log keeps it). Log lines printed through
 * {@link #log} go above the bar.
 */
public final class ProgressView {
  /** What the view shows. */
  public record Snapshot(int total, int succeeded, int deadLettered, int running, int retried, int workersAlive, int workers) {
    int done() {
      return succeeded + deadLettered;
    }
  }

  private final PrintStream out;
  private final boolean tty;
  private final long startNanos = System.nanoTime();
  private final Duration plainInterval;
  private long lastPlainPrint;
  private String lastBar = "";
  private int lastDone = -1;
  private double rate;
  private long rateNanos = System.nanoTime();
  private int rateDone;

  public ProgressView(PrintStream out, boolean tty, Duration plainInterval) {
    this.out = out;
    this.tty = tty;
    this.plainInterval = plainInterval;
  }

  public synchronized void log(String line) {
    if (tty && !lastBar.isEmpty()) {
      out.print("\r\033[2K");
    }
    out.println(line);
    if (tty && !lastBar.isEmpty()) {
      out.print(lastBar);
    }
    out.flush();
  }

  public synchronized void update(Snapshot s) {
    long now = System.nanoTime();
    double window = (now - rateNanos) / 1e9;
    if (window >= 2.0) {
      rate = (s.done() - rateDone) / window;
      rateDone = s.done();
      rateNanos = now;
    } else if (rate == 0 && s.done() > 0) {
      rate = s.done() / Math.max(0.001, (now - startNanos) / 1e9);
    }
    if (tty) {
      lastBar = bar(s);
      out.print("\r\033[2K" + lastBar);
      out.flush();
    } else if (now - lastPlainPrint >= plainInterval.toNanos() || (s.done() == s.total() && s.done() != lastDone)) {
      lastPlainPrint = now;
      out.println(line(s));
      out.flush();
    }
    lastDone = s.done();
  }

  /** Ends the bar line so what follows starts on a fresh line. */
  public synchronized void finish(Snapshot s) {
    if (tty) {
      out.print("\r\033[2K" + bar(s) + "\n");
      lastBar = "";
    } else {
      out.println(line(s));
    }
    out.flush();
  }

  public Duration elapsed() {
    return Duration.ofNanos(System.nanoTime() - startNanos);
  }

  String bar(Snapshot s) {
    int width = 30;
    int filled = s.total() == 0 ? width : (int) ((long) s.done() * width / s.total());
    return "[" + "#".repeat(filled) + ".".repeat(width - filled) + "] " + line(s);
  }

  String line(Snapshot s) {
    return String.format(Locale.ROOT, "%d/%d done  %d succeeded  %d failed  %d running  %d retried  %.1f tasks/s  workers %d/%d  %s",
        s.done(), s.total(), s.succeeded(), s.deadLettered(), s.running(), s.retried(), rate, s.workersAlive(), s.workers(),
        clock(elapsed()));
  }

  static String clock(Duration d) {
    long s = d.toSeconds();
    return String.format(Locale.ROOT, "%02d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
  }
}
