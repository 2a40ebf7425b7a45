"""The benchmark's task for trainq's persistent runner (spec.runner.mode: Persistent).

The runner starts this program once per slot and hands it tasks one after another through
trainq's Python helper (`for task in tasks(): ...`); the task notes its own start and end as the
C task does, and pays a heavy workload's initialisation once, in the process's first task.

    persistent_task.py <log-dir> <workload>

The helper module is found on PYTHONPATH under BENCH_RUNNER_MODULE, else under the names below.
"""
import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workload import Recorder  # noqa: E402

HELPER_NAMES = ["trainq_task"]


def helper_tasks():
    names = [n for n in [os.environ.get("BENCH_RUNNER_MODULE")] if n] + HELPER_NAMES
    for name in names:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "tasks"):
            return module.tasks
    sys.exit("persistent_task: no trainq helper module with tasks() on PYTHONPATH (tried %s; PYTHONPATH=%s)"
             % (", ".join(names), os.environ.get("PYTHONPATH", "")))


def task_index(task):
    for attr in ("index", "task_index"):
        if hasattr(task, attr):
            return int(getattr(task, attr))
    if isinstance(task, dict) and "index" in task:
        return int(task["index"])
    return int(os.environ["TRAINQ_TASK_INDEX"])


def main():
    log_dir, workload = sys.argv[1], sys.argv[2]
    slot = os.environ.get("CUDA_VISIBLE_DEVICES") or os.environ.get("TRAINQ_TASK_SLOT", "x")
    recorder = Recorder(log_dir, workload, slot)
    for task in helper_tasks()():
        recorder.run(task_index(task))


if __name__ == "__main__":
    main()
