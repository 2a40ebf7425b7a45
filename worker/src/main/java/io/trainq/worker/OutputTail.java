package io.trainq.worker;

import java.nio.charset.StandardCharsets;

/**
 * The last bytes a task wrote to stderr: where the error usually is. A fixed ring buffer, so a task
 * that writes gigabytes costs nothing more to keep.
 */
final class OutputTail {
  /** Most bytes of stderr a dead letter or event carries (the error header's limit). */
  static final int MAX_BYTES = 2048;

  private final byte[] ring;
  private long written;

  OutputTail(int capacity) {
    this.ring = new byte[capacity];
  }

  synchronized void append(byte[] b, int off, int len) {
    if (len >= ring.length) {
      System.arraycopy(b, off + len - ring.length, ring, 0, ring.length);
      written += len;
      // realign so that the ring starts at index 0 = (written % length)
      rotateToWritten();
      return;
    }
    int pos = (int) (written % ring.length);
    int first = Math.min(len, ring.length - pos);
    System.arraycopy(b, off, ring, pos, first);
    System.arraycopy(b, off + first, ring, 0, len - first);
    written += len;
  }

  private void rotateToWritten() {
    int shift = (int) (written % ring.length);
    if (shift == 0) {
      return;
    }
    byte[] copy = ring.clone();
    // copy[0..] holds the newest ring.length bytes in order; place them so that index `shift` is the oldest
    for (int i = 0; i < ring.length; i++) {
      ring[(shift + i) % ring.length] = copy[i];
    }
  }

  synchronized long written() {
    return written;
  }

  /** The last bytes, at most {@code maxBytes}, as text cut at a character boundary; "" when nothing was written. */
  synchronized String text(int maxBytes) {
    int n = (int) Math.min(Math.min(written, ring.length), maxBytes);
    byte[] out = new byte[n];
    long start = written - n;
    for (int i = 0; i < n; i++) {
      out[i] = ring[(int) ((start + i) % ring.length)];
    }
    int skip = 0;
    // do not start inside a UTF-8 sequence: skip continuation bytes (10xxxxxx)
    while (skip < n && written > n && (out[skip] & 0xC0) == 0x80) {
      skip++;
    }
    return new String(out, skip, n - skip, StandardCharsets.UTF_8).strip();
  }
}
