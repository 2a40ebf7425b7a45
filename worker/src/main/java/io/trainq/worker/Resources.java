package io.trainq.worker;

import java.util.ArrayDeque;
import java.util.Deque;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the worker opened, closed in the reverse order on the way out, each whatever the others do:
 * the consumer before the publisher, both before their connection.
 */
final class Resources implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Resources.class);

  /** One step of closing; may throw. */
  @FunctionalInterface
  interface Closing {
    void close() throws Exception;
  }

  private final Deque<Closing> open = new ArrayDeque<>();

  /** Registers how to close something just opened. */
  void onClose(Closing c) {
    open.push(c);
  }

  @Override
  public void close() {
    while (!open.isEmpty()) {
      try {
        open.pop().close();
      } catch (Exception e) {
        // closing returns unacked deliveries and frees what it can; nothing else is left to do
        log.debug("closing: {}", e.toString());
      }
    }
  }
}
