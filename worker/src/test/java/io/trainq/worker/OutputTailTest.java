package io.trainq.worker;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class OutputTailTest {

  private static void write(OutputTail t, String s) {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    t.append(b, 0, b.length);
  }

  @Test
  void keepsEverythingWhenShort() {
    OutputTail t = new OutputTail(64);
    write(t, "Traceback\n");
    write(t, "ValueError: bad lr\n");
    assertThat(t.text(2048)).isEqualTo("Traceback\nValueError: bad lr");
  }

  @Test
  void keepsTheLastBytesAcrossManyWrites() {
    OutputTail t = new OutputTail(16);
    for (int i = 0; i < 100; i++) {
      write(t, "line " + i + "\n");
    }
    assertThat(t.text(16)).isEqualTo("line 98\nline 99");
    assertThat(t.text(8)).isEqualTo("line 99");
    assertThat(t.written()).isEqualTo(790);
  }

  @Test
  void oneWriteLargerThanTheRing() {
    OutputTail t = new OutputTail(8);
    write(t, "ab");
    write(t, "0123456789XYZ");
    assertThat(t.text(8)).isEqualTo("56789XYZ");
    write(t, "!");
    assertThat(t.text(8)).isEqualTo("6789XYZ!");
  }

  @Test
  void neverStartsInsideACharacter() {
    OutputTail t = new OutputTail(7);
    write(t, "ééééé");  // 2 bytes each: the last 7 bytes start in the middle of one
    assertThat(t.text(7)).isEqualTo("ééé");
  }

  @Test
  void emptyWhenNothingWasWritten() {
    assertThat(new OutputTail(8).text(8)).isEmpty();
  }
}
