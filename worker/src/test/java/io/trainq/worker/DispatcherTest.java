package io.trainq.worker;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class DispatcherTest {

  private static Delivery delivery(long tag) {
    return new Delivery(tag, false, null, new byte[0], 1, System.nanoTime());
  }

  @Test
  void deliveriesGoToFreeSlotsThenWait() throws Exception {
    Slot a = new Slot(0, "0");
    Slot b = new Slot(1, "1");
    Dispatcher d = new Dispatcher(List.of(a, b));
    assertThat(d.submit(delivery(1))).isTrue();
    assertThat(d.submit(delivery(2))).isTrue();
    assertThat(d.busy()).isEqualTo(2);
    assertThat(d.submit(delivery(3))).isTrue();
    assertThat(d.waiting()).isEqualTo(1);
    assertThat(d.idleNanos()).isEqualTo(-1);

    // slot a finishes and takes the waiting delivery without going free
    assertThat(d.next(a).tag()).isEqualTo(3);
    assertThat(d.busy()).isEqualTo(2);
    assertThat(d.next(a)).isNull();
    assertThat(d.next(b)).isNull();
    assertThat(d.busy()).isZero();
    assertThat(d.awaitIdle(Duration.ZERO)).isTrue();
    assertThat(d.idleNanos()).isGreaterThanOrEqualTo(0);
  }

  @Test
  void stopReturnsWaitingDeliveriesAndRefusesNewOnes() {
    Slot a = new Slot(0, "");
    Dispatcher d = new Dispatcher(List.of(a));
    d.submit(delivery(1));
    d.submit(delivery(2));
    List<Delivery> waiting = d.stop();
    assertThat(waiting).extracting(Delivery::tag).containsExactly(2L);
    assertThat(d.submit(delivery(3))).isFalse();
    // a slot that finishes after the stop goes free instead of taking more
    assertThat(d.next(a)).isNull();
    assertThat(d.busy()).isZero();
  }
}
