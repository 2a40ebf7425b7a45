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
  static final String PYTHONPATH = "PYTHONPATH";

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

  /**
   * The variables of a slot's persistent runner: fixed for its life (slot, GPUs, job, the socket it connects
   * to); the task's own index, attempt and parameters come in each task message, not here.
   */
  static void putRunner(Map<String, String> env, WorkerConfig config, int slot, String devices, Path socket,
      String pythonPath) {
    env.remove(INDEX);
    env.remove(ATTEMPT);
    env.remove(PARAMS);
    env.remove(PARAMS_FILE);
    env.put(SLOT, Integer.toString(slot));
    env.put(CUDA, devices);
    env.put(WorkerEnv.JOB_NAME, config.topology().name());
    env.put(RunnerProtocol.SOCKET_ENV, socket.toString());
    env.put(RunnerProtocol.PROTOCOL_ENV, Integer.toString(RunnerProtocol.VERSION));
    putPythonPath(env, pythonPath);
  }

  /** Puts the directory of the trainq_task helper first on the task's PYTHONPATH (null: not available). */
  static void putPythonPath(Map<String, String> env, String dir) {
    if (dir == null) {
      return;
    }
    String old = env.get(PYTHONPATH);
    env.put(PYTHONPATH, old == null || old.isEmpty() ? dir : dir + java.io.File.pathSeparator + old);
  }
}
