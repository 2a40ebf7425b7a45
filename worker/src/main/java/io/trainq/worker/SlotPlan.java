package io.trainq.worker;

import io.trainq.protocol.WorkerEnv;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.IntSupplier;

/**
 * How many tasks run at once and which GPUs each sees. A slot's {@code CUDA_VISIBLE_DEVICES} is
 * its share of the worker's GPUs: slot i gets ids {@code [i*g, (i+1)*g)} with g GPUs per task.
 *
 * <p>The GPUs come from, in order: {@code TRAINQ_GPUS}; {@code NVIDIA_VISIBLE_DEVICES} (its count,
 * or {@code nvidia-smi -L}'s for {@code all}), renumbered from 0 as the container sees them;
 * {@code nvidia-smi -L}; else {@code TRAINQ_SLOTS} slots without GPUs ({@code CUDA_VISIBLE_DEVICES=""}).
 *
 * @param devices one entry per slot: its {@code CUDA_VISIBLE_DEVICES} value
 * @param gpusPerTask GPUs each task gets (what GPU-seconds are counted with)
 * @param source where the plan came from, for the start-up log
 */
public record SlotPlan(List<String> devices, int gpusPerTask, String source) {

  public SlotPlan {
    devices = List.copyOf(devices);
  }

  public int slots() {
    return devices.size();
  }

  /**
   * Plans the slots of a worker.
   *
   * @param g GPUs per task (the job's {@code gpusPerTask}, from {@link WorkerEnv#GPUS_PER_TASK})
   * @param nvidiaSmiCount GPUs that {@code nvidia-smi -L} lists, 0 when it is absent
   */
  public static SlotPlan plan(Map<String, String> env, int g, IntSupplier nvidiaSmiCount) throws ConfigException {
    if (g < 1) {
      throw new ConfigException(WorkerEnv.GPUS_PER_TASK + " must be >= 1, got " + g);
    }
    String gpus = env.get(WorkerEnv.GPUS);
    if (gpus != null && !gpus.isBlank()) {
      return split(parseIds(gpus), g, WorkerEnv.GPUS);
    }
    String nvidia = env.get("NVIDIA_VISIBLE_DEVICES");
    if (nvidia != null && !nvidia.isBlank() && !nvidia.equals("void") && !nvidia.equals("none")) {
      int n = nvidia.trim().equals("all") ? nvidiaSmiCount.getAsInt() : parseIds(nvidia).size();
      if (n > 0) {
        return split(sequence(n), g, "NVIDIA_VISIBLE_DEVICES");
      }
    }
    int n = nvidiaSmiCount.getAsInt();
    if (n > 0) {
      return split(sequence(n), g, "nvidia-smi");
    }
    String slots = env.get(WorkerEnv.SLOTS);
    if (slots != null && !slots.isBlank()) {
      int s;
      try {
        s = WorkerEnv.intVar(env, WorkerEnv.SLOTS, 0);
      } catch (IllegalArgumentException e) {
        throw new ConfigException(e.getMessage());
      }
      if (s < 1) {
        throw new ConfigException(WorkerEnv.SLOTS + " must be >= 1, got " + s);
      }
      List<String> devices = new ArrayList<>();
      for (int i = 0; i < s; i++) {
        devices.add("");
      }
      return new SlotPlan(devices, g, WorkerEnv.SLOTS + "=" + s + " (no GPUs)");
    }
    throw new ConfigException("no GPUs found (" + WorkerEnv.GPUS + " and NVIDIA_VISIBLE_DEVICES unset, no nvidia-smi) and "
        + WorkerEnv.SLOTS + " unset: set " + WorkerEnv.GPUS + "=0,1,... or " + WorkerEnv.SLOTS + "=N");
  }

  private static SlotPlan split(List<String> ids, int g, String source) throws ConfigException {
    if (ids.size() % g != 0) {
      throw new ConfigException(source + " has " + ids.size() + (ids.size() == 1 ? " GPU" : " GPUs") + ", not a multiple of "
          + WorkerEnv.GPUS_PER_TASK + "=" + g);
    }
    List<String> devices = new ArrayList<>();
    for (int i = 0; i < ids.size(); i += g) {
      devices.add(String.join(",", ids.subList(i, i + g)));
    }
    return new SlotPlan(devices, g, source + "=" + String.join(",", ids));
  }

  private static List<String> parseIds(String list) throws ConfigException {
    List<String> ids = new ArrayList<>();
    Set<String> seen = new HashSet<>();
    for (String part : list.split(",", -1)) {
      String id = part.trim();
      if (id.isEmpty()) {
        throw new ConfigException("empty GPU id in '" + list + "'");
      }
      if (!seen.add(id)) {
        throw new ConfigException("GPU " + id + " listed twice in '" + list + "'");
      }
      ids.add(id);
    }
    return ids;
  }

  private static List<String> sequence(int n) {
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      ids.add(Integer.toString(i));
    }
    return ids;
  }
}
