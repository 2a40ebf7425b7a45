package io.trainq.worker.log;

import java.util.Map;
import org.slf4j.MDC;
import org.slf4j.Marker;
import org.slf4j.event.Level;
import org.slf4j.helpers.LegacyAbstractLogger;
import org.slf4j.helpers.MessageFormatter;

/** An SLF4J logger writing through {@link LogSink}; the level is global (one small process). */
final class WorkerLogger extends LegacyAbstractLogger {
  private static final long serialVersionUID = 1L;

  WorkerLogger(String name) {
    this.name = name;
  }

  @Override
  protected String getFullyQualifiedCallerName() {
    return null;
  }

  @Override
  protected void handleNormalizedLoggingCall(Level level, Marker marker, String pattern, Object[] args, Throwable t) {
    String message = args == null || args.length == 0 ? pattern : MessageFormatter.basicArrayFormat(pattern, args);
    Map<String, String> mdc = MDC.getCopyOfContextMap();
    LogSink.write(level, name, message == null ? "null" : message, mdc, t);
  }

  @Override
  public boolean isTraceEnabled() {
    return LogSink.enabled(Level.TRACE);
  }

  @Override
  public boolean isDebugEnabled() {
    return LogSink.enabled(Level.DEBUG);
  }

  @Override
  public boolean isInfoEnabled() {
    return LogSink.enabled(Level.INFO);
  }

  @Override
  public boolean isWarnEnabled() {
    return LogSink.enabled(Level.WARN);
  }

  @Override
  public boolean isErrorEnabled() {
    return LogSink.enabled(Level.ERROR);
  }
}
