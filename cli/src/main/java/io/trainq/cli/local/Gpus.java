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
    return groups(ids, gpusPerTask, "spec.gpusPerTask");
  }

  /**
   * Splits GPUs into groups of {@code size} (one worker each, as a pod of that many GPUs); GPUs that
   * do not fill a group stay unused.
   *
   * @param field the spec field that asked for the size, for the error
   * @throws IllegalArgumentException when there are fewer GPUs than one group needs
   */
  public static List<List<String>> groups(List<String> ids, int size, String field) {
    if (ids.size() < size) {
      throw new IllegalArgumentException(field + " is " + size + " but this machine has " + ids.size()
          + " GPU(s)" + (ids.isEmpty() ? " (none found by nvidia-smi; pass --gpus N to simulate N GPUs)" : ""));
    }
    List<List<String>> out = new ArrayList<>();
    for (int i = 0; i + size <= ids.size(); i += size) {
      out.add(List.copyOf(ids.subList(i, i + size)));
    }
    return out;
  }
}
