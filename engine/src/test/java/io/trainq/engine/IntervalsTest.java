package io.trainq.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.BitSet;
import java.util.Random;
import org.junit.jupiter.api.Test;

class IntervalsTest {

  private static BitSet of(int... indexes) {
    BitSet s = new BitSet();
    for (int i : indexes) {
      s.set(i);
    }
    return s;
  }

  @Test
  void formatsRunsAndSingletonsLikeIndexedJobs() {
    assertThat(Intervals.format(new BitSet())).isEmpty();
    assertThat(Intervals.format(of(0))).isEqualTo("0");
    assertThat(Intervals.format(of(0, 1))).isEqualTo("0-1");
    BitSet s = new BitSet();
    s.set(0, 42);
    s.set(43);
    s.set(50, 100);
    assertThat(Intervals.format(s)).isEqualTo("0-41,43,50-99");
  }

  @Test
  void parsesWhatItFormats() {
    assertThat(Intervals.parse("").isEmpty()).isTrue();
    assertThat(Intervals.parse(null).isEmpty()).isTrue();
    BitSet expected = new BitSet();
    expected.set(0, 42);
    expected.set(43);
    expected.set(50, 100);
    assertThat(Intervals.parse("0-41,43,50-99")).isEqualTo(expected);
    assertThat(Intervals.format(Intervals.parse("0-41,43,50-99"))).isEqualTo("0-41,43,50-99");
    BitSet s = Intervals.parse("0-41,43,50-99");
    assertThat(s.cardinality()).isEqualTo(42 + 1 + 50);
    assertThat(s.get(42)).isFalse();
    assertThat(s.get(43)).isTrue();
    Random r = new Random(7);
    for (int round = 0; round < 200; round++) {
      BitSet x = new BitSet();
      for (int i = 0; i < 300; i++) {
        if (r.nextInt(3) > 0) {
          x.set(r.nextInt(1000));
        }
      }
      assertThat(Intervals.parse(Intervals.format(x))).isEqualTo(x);
    }
  }

  @Test
  void rejectsMalformedTextNamingThePart() {
    assertThatThrownBy(() -> Intervals.parse("1,a")).hasMessageContaining("'a'");
    assertThatThrownBy(() -> Intervals.parse("5-3")).hasMessageContaining("end before start");
    assertThatThrownBy(() -> Intervals.parse("3,1")).hasMessageContaining("ascending");
    assertThatThrownBy(() -> Intervals.parse("0-5,5")).hasMessageContaining("disjoint");
    assertThatThrownBy(() -> Intervals.parse("1,,2")).hasMessageContaining("invalid index ''");
    assertThatThrownBy(() -> Intervals.parse("0-99999999999")).hasMessageContaining("invalid index");
    assertThatThrownBy(() -> Intervals.parse("0-100", 100)).hasMessageContaining("out of range");
  }

  @Test
  void handlesAMillionIndexesQuickly() {
    BitSet every = new BitSet();
    every.set(0, 1_000_000);
    assertThat(Intervals.format(every)).isEqualTo("0-999999");
    BitSet alternate = new BitSet();
    for (int i = 0; i < 1_000_000; i += 2) {
      alternate.set(i);
    }
    long t0 = System.nanoTime();
    String text = Intervals.format(alternate);
    BitSet back = Intervals.parse(text, 1_000_000);
    long ms = (System.nanoTime() - t0) / 1_000_000;
    assertThat(back).isEqualTo(alternate);
    assertThat(text).startsWith("0,2,4,").endsWith(",999998");
    assertThat(ms).as("format + parse of 500 000 singletons").isLessThan(3_000);
  }
}
