package io.trainq.operator.k8s;

import com.rabbitmq.client.impl.ForgivingExceptionHandler;
import io.trainq.engine.RateLimitedLog;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The RabbitMQ client's error reports for one of the operator's connections: at most one line a
 * minute per kind of error, naming the broker and the job that opened the connection. A broker that
 * stays away must not fill the log with the client's own lines, which name neither (it reports from
 * its I/O threads, outside any reconciliation).
 */
final class QuietExceptionHandler extends ForgivingExceptionHandler {
  private static final Logger log = LoggerFactory.getLogger(QuietExceptionHandler.class);
  private static final RateLimitedLog LIMIT = new RateLimitedLog(Duration.ofMinutes(1));

  private final String where;

  /**
   * @param where the broker's addresses and the job that asked for the connection, for the log lines
   */
  QuietExceptionHandler(String where) {
    this.where = where;
  }

  @Override
  protected void log(String message, Throwable e) {
    String cause = e == null ? "" : e.getClass().getSimpleName() + ": " + e.getMessage();
    long suppressed = LIMIT.permit(where + "|" + message + "|" + (e == null ? "" : e.getClass().getName()));
    if (suppressed >= 0) {
      log.warn("RabbitMQ {}: {} ({}){}", where, message, cause,
          suppressed > 0 ? "; " + suppressed + " more like it since the last report" : "");
    }
  }
}
