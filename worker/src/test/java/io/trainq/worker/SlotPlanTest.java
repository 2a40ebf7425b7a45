package io.trainq.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SlotPlanTest {

  private static Map<String, String> env(String... kv) {
    Map<String, String> m = new HashMap<>();
    for (int i = 0; i < kv.length; i += 2) {
      m.put(kv[i], kv[i + 1]);
    }
    return m;
  }

  @Test
  void trainqGpusAreSplitIntoConsecutiveGroups() throws Exception {
    SlotPlan p = SlotPlan.plan(env("TRAINQ_GPUS", "0,1,2,3"), 2, () -> 8);
    assertThat(p.devices()).containsExactly("0,1", "2,3");
    assertThat(p.slots()).isEqualTo(2);
    assertThat(p.gpusPerTask()).isEqualTo(2);
  }

  @Test
  void oneGpuPerTaskIsOneGpuPerSlot() throws Exception {
    SlotPlan p = SlotPlan.plan(env("TRAINQ_GPUS", "4, 5,6"), 1, () -> 0);
    assertThat(p.devices()).containsExactly("4", "5", "6");
  }

  @Test
  void gpusThatDoNotDivideAreBadConfiguration() {
    assertThatThrownBy(() -> SlotPlan.plan(env("TRAINQ_GPUS", "0,1,2"), 2, () -> 0))
        .isInstanceOf(ConfigException.class)
        .hasMessage("TRAINQ_GPUS has 3 GPUs, not a multiple of TRAINQ_GPUS_PER_TASK=2");
    assertThatThrownBy(() -> SlotPlan.plan(env("TRAINQ_GPUS", "0"), 2, () -> 0))
        .hasMessage("TRAINQ_GPUS has 1 GPU, not a multiple of TRAINQ_GPUS_PER_TASK=2");
  }

  @Test
  void emptyAndDuplicateIdsAreRejected() {
    assertThatThrownBy(() -> SlotPlan.plan(env("TRAINQ_GPUS", "0,,1"), 1, () -> 0)).hasMessageContaining("empty GPU id");
    assertThatThrownBy(() -> SlotPlan.plan(env("TRAINQ_GPUS", "0,1,0"), 1, () -> 0)).hasMessageContaining("GPU 0 listed twice");
  }

  @Test
  void nvidiaVisibleDevicesAreRenumberedFromZero() throws Exception {
    SlotPlan p = SlotPlan.plan(env("NVIDIA_VISIBLE_DEVICES", "GPU-aaa,GPU-bbb,GPU-ccc,GPU-ddd"), 2, () -> 0);
    assertThat(p.devices()).containsExactly("0,1", "2,3");
  }

  @Test
  void nvidiaVisibleDevicesAllCountsWithNvidiaSmi() throws Exception {
    SlotPlan p = SlotPlan.plan(env("NVIDIA_VISIBLE_DEVICES", "all"), 1, () -> 3);
    assertThat(p.devices()).containsExactly("0", "1", "2");
  }

  @Test
  void nvidiaSmiAloneIsUsedWhenNothingIsSet() throws Exception {
    SlotPlan p = SlotPlan.plan(env("TRAINQ_SLOTS", "16"), 1, () -> 2);
    assertThat(p.devices()).containsExactly("0", "1");
  }

  @Test
  void slotsWithoutGpusHaveEmptyCudaVisibleDevices() throws Exception {
    SlotPlan p = SlotPlan.plan(env("TRAINQ_SLOTS", "3", "NVIDIA_VISIBLE_DEVICES", "void"), 1, () -> 0);
    assertThat(p.devices()).isEqualTo(List.of("", "", ""));
  }

  @Test
  void nothingToRunOnIsBadConfiguration() {
    assertThatThrownBy(() -> SlotPlan.plan(env(), 1, () -> 0)).isInstanceOf(ConfigException.class)
        .hasMessageContaining("TRAINQ_SLOTS");
    assertThatThrownBy(() -> SlotPlan.plan(env("TRAINQ_SLOTS", "0"), 1, () -> 0)).hasMessage("TRAINQ_SLOTS must be >= 1, got 0");
    assertThatThrownBy(() -> SlotPlan.plan(env("TRAINQ_SLOTS", "x"), 1, () -> 0)).hasMessageContaining("TRAINQ_SLOTS must be an integer");
    assertThatThrownBy(() -> SlotPlan.plan(env("TRAINQ_SLOTS", "2"), 0, () -> 0))
        .hasMessage("TRAINQ_GPUS_PER_TASK must be >= 1, got 0");
  }
}
