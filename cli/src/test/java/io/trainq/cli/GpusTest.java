package io.trainq.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.trainq.cli.local.Gpus;
import java.util.List;
import org.junit.jupiter.api.Test;

class GpusTest {
  @Test
  void groupsGpusPerTaskAndLeavesTheRemainderIdle() {
    assertThat(Gpus.groups(Gpus.simulated(5), 2)).containsExactly(List.of("0", "1"), List.of("2", "3"));
    assertThat(Gpus.groups(Gpus.simulated(4), 1)).hasSize(4);
  }

  @Test
  void tooFewGpusIsAClearError() {
    assertThatThrownBy(() -> Gpus.groups(List.of(), 1))
        .hasMessageContaining("spec.gpusPerTask is 1 but this machine has 0 GPU(s)")
        .hasMessageContaining("--gpus N");
  }
}
