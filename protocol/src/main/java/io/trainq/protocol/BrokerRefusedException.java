package io.trainq.protocol;

import java.io.IOException;

/**
 * The broker answered and refused the connection: wrong credentials, or a virtual host that does not
 * exist or that the user may not use. Retrying cannot fix it, so it ends the first connect at once.
 */
public final class BrokerRefusedException extends IOException {
  public BrokerRefusedException(String message, Throwable cause) {
    super(message, cause);
  }
}
