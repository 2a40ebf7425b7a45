package io.trainq.worker;

import io.trainq.protocol.WorkerEnv;
import io.trainq.protocol.TaskMessage;
import java.nio.file.Path;
import java.util.Map;

/** The variables a task's process gets on top of the worker's environment (minus the broker's secrets). */
final class TaskEnv {
  static final String INDEX = "TRAINQ_TASK_INDEX";
  static final String ATTEMPT = "TRAINQ_TASK_ATTEMPT";
  static final String PARAMS = "TRAINQ_TASK_PARAMS";
  static final String PARAMS_FILE = "TRAINQ_TASK_PARAMS_FILE";
  static final String SLOT = "TRAINQ_TASK_SLOT";
  static final String CUDA = "CUDA_VISIBLE_DEVICES";

  private TaskEnv() {}

  static void put(Map<String, String> env, WorkerConfig config, int slot, String devices, TaskMessage t, String paramsJson,
      Path paramsFile) {
    env.put(INDEX, Integer.toString(t.index()));
    env.put(ATTEMPT, Integer.toString(t.attempt()));
    if (paramsJson.length() <= TaskExecutor.MAX_PARAMS_ENV) {
      env.put(PARAMS, paramsJson);
    } else {
      env.remove(PARAMS);
    }
    env.put(PARAMS_FILE, paramsFile.toString());
    env.put(SLOT, Integer.toString(slot));
    env.put(CUDA, devices);
    env.put(WorkerEnv.JOB_NAME, config.topology().name());
  }
}
