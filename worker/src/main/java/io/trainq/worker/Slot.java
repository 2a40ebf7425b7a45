package io.trainq.worker;

import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** One GPU slot: a long-lived thread that runs one task at a time with its share of the GPUs. */
final class Slot implements Runnable {
  private static final Logger log = LoggerFactory.getLogger(Slot.class);

  final int id;
  /** This slot's CUDA_VISIBLE_DEVICES. */
  final String devices;
  private final BlockingQueue<Delivery> inbox = new ArrayBlockingQueue<>(1);
  private volatile Dispatcher dispatcher;
  private volatile TaskExecutor executor;
  /** The task running now, for the shutdown path that has to stop it. */
  volatile TaskRun current;
  /** When the attempt running now started (a persistent runner's process outlives its attempts). */
  volatile long attemptStartNanos;

  Slot(int id, String devices) {
    this.id = id;
    this.devices = devices;
  }

  void start(Dispatcher d, TaskExecutor e) {
    this.dispatcher = d;
    this.executor = e;
    Thread t = new Thread(this, "slot-" + id);
    t.setDaemon(true);
    t.start();
  }

  void hand(Delivery d) {
    if (!inbox.offer(d)) {
      // the dispatcher hands a slot one delivery only when it took it off the free list
      throw new IllegalStateException("slot " + id + " handed a second delivery");
    }
  }

  @Override
  public void run() {
    while (true) {
      Delivery d;
      try {
        d = inbox.take();
      } catch (InterruptedException e) {
        return;
      }
      // the work left from the previous attempt runs once the next one is under way, else before the slot is free
      Runnable left = null;
      while (d != null) {
        try {
          left = executor.execute(this, d, left);
        } catch (RuntimeException | Error e) {
          // a slot must outlive any one task; its delivery, unless settled, goes back to the queue
          log.error("slot {}: unexpected error running a task; returning it to the queue", id, e);
          left = null;
          executor.release(d);
        } finally {
          current = null;
        }
        d = dispatcher.poll();
        if (d == null) {
          TaskExecutor.finish(left);
          left = null;
          d = dispatcher.next(this);
        }
      }
    }
  }
}
