package io.trainq.protocol;

/** A message that can never be processed; it is dead-lettered with this message as its reason. */
public class MalformedMessageException extends Exception {
  public MalformedMessageException(String message) {
    super(message);
  }
}
