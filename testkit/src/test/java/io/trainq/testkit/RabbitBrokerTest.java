package io.trainq.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class RabbitBrokerTest {

  @Test
  void uniqueNamesCarryThePrefixAndDoNotRepeat() {
    List<String> names = IntStream.range(0, 10_000).mapToObj(i -> RabbitBroker.uniqueName("q")).toList();
    assertThat(names).doesNotHaveDuplicates().allMatch(name -> name.matches("q-[0-9a-f]{12}"));
  }

  @Test
  void unknownInstancesAreRejectedBeforeAnyConnection() {
    assertThatThrownBy(() -> RabbitBroker.of("3.13", 1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("3.13");
    assertThatThrownBy(() -> RabbitBroker.of("4.0", 2))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("2 nodes");
  }
}
