package io.trainq.cli.local;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** The machine's GPUs, grouped per task: one worker process per group. */
public final class Gpus {
  private Gpus() {}

  /** GPU indexes reported by {@code nvidia-smi -L}; empty when there is no driver or no GPU. */
  public static List<String> detect() {
    List<String> ids = new ArrayList<>();
    try {
      Process p = new ProcessBuilder("nvidia-smi", "--query-gpu=index", "--format=csv,noheader").redirectErrorStream(true).start();
      try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          String t = line.trim();
          if (t.matches("\\d+")) {
            ids.add(t);
          }
        }
      }
      if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) {
        return List.of();
      }
    } catch (IOException e) {
      return List.of();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return List.of();
    }
    return ids;
  }

  /** Simulated GPU ids 0..n-1. */
  public static List<String> simulated(int n) {
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      ids.add(Integer.toString(i));
    }
    return ids;
  }

  /**
   * Splits GPUs into groups of {@code gpusPerTask}; GPUs that do not fill a group stay unused.
   *
   * @throws IllegalArgumentException when there are fewer GPUs than one task needs
   */
  public static List<List<String>> groups(List<String> ids, int gpusPerTask) {
    if (ids.size() < gpusPerTask) {
      throw new IllegalArgumentException("spec.gpusPerTask is " + gpusPerTask + " but this machine has " + ids.size()
          + " GPU(s)" + (ids.isEmpty() ? " (none found by nvidia-smi; pass --gpus N to simulate N GPUs)" : ""));
    }
    List<List<String>> out = new ArrayList<>();
    for (int i = 0; i + gpusPerTask <= ids.size(); i += gpusPerTask) {
      out.add(List.copyOf(ids.subList(i, i + gpusPerTask)));
    }
    return out;
  }
}
