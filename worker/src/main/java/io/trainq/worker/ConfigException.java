package io.trainq.worker;

/** A configuration the worker cannot run with; restarting it would not help (exit code 2, one line on stderr). */
public final class ConfigException extends Exception {
  private static final long serialVersionUID = 1L;

  public ConfigException(String message) {
    super(message);
  }

  public ConfigException(String message, Throwable cause) {
    super(message, cause);
  }
}
