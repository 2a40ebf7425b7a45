package io.trainq.worker;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * Hands deliveries to free slots. The consumer callback calls {@link #submit} and returns at once;
 * a slot that finishes takes the next waiting delivery (waiting only with the lookahead or an extra
 * prefetch, or after a reconnect while old tasks still run) or goes back to the free list.
 */
final class Dispatcher {
  private final Object lock = new Object();
  private final ArrayDeque<Slot> free = new ArrayDeque<>();
  private final ArrayDeque<Delivery> waiting = new ArrayDeque<>();
  private final int slots;
  private boolean accepting = true;
  private int busy;
  private long idleSinceNanos = System.nanoTime();

  Dispatcher(List<Slot> slots) {
    this.free.addAll(slots);
    this.slots = slots.size();
  }

  /** Starts the delivery on a free slot or queues it; false once stopped (the caller returns it to the broker). */
  boolean submit(Delivery d) {
    Slot s;
    synchronized (lock) {
      if (!accepting) {
        return false;
      }
      s = free.pollFirst();
      if (s == null) {
        waiting.addLast(d);
        return true;
      }
      busy++;
    }
    s.hand(d);
    return true;
  }

  /** The next waiting delivery for a slot that just finished, or null; the slot stays busy either way. */
  Delivery poll() {
    synchronized (lock) {
      return accepting ? waiting.pollFirst() : null;
    }
  }

  /** The next delivery for a slot that just finished, or null: the slot is free again. */
  Delivery next(Slot s) {
    synchronized (lock) {
      Delivery d = accepting ? waiting.pollFirst() : null;
      if (d != null) {
        return d;
      }
      free.addLast(s);
      busy--;
      if (busy == 0) {
        idleSinceNanos = System.nanoTime();
      }
      lock.notifyAll();
      return null;
    }
  }

  /** Stops accepting; returns the deliveries that were waiting for a slot (never started). */
  List<Delivery> stop() {
    synchronized (lock) {
      accepting = false;
      List<Delivery> out = new ArrayList<>(waiting);
      waiting.clear();
      lock.notifyAll();
      return out;
    }
  }

  /** Removes and returns the waiting deliveries that match (never started; the caller returns them to the broker). */
  List<Delivery> removeWaiting(java.util.function.Predicate<Delivery> which) {
    synchronized (lock) {
      List<Delivery> out = new ArrayList<>();
      waiting.removeIf(d -> which.test(d) && out.add(d));
      return out;
    }
  }

  /** Waits until no slot is busy; false on timeout. */
  boolean awaitIdle(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    synchronized (lock) {
      while (busy > 0) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          return false;
        }
        lock.wait(Math.max(1, left / 1_000_000));
      }
      return true;
    }
  }

  int busy() {
    synchronized (lock) {
      return busy;
    }
  }

  int waiting() {
    synchronized (lock) {
      return waiting.size();
    }
  }

  int slots() {
    return slots;
  }

  /** Nanos since nothing ran and nothing waited, or -1 while something does. */
  long idleNanos() {
    synchronized (lock) {
      return busy == 0 && waiting.isEmpty() ? System.nanoTime() - idleSinceNanos : -1;
    }
  }

  /** Counts the time from now as activity (the consumer just started or resumed). */
  void touch() {
    synchronized (lock) {
      idleSinceNanos = System.nanoTime();
    }
  }
}
