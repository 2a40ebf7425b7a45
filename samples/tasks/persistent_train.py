"""A persistent runner: the expensive set-up runs once per slot, then task after task.

Run with spec.runner.mode: Persistent (samples/persistent-python.yaml). The same program also runs as
a process per attempt: trainq_task.tasks() then yields the one task of the environment.
"""
import os
import time

from trainq_task import tasks

# stands in for importing a framework, creating the CUDA context and loading the data set
SETUP_SECONDS = float(os.environ.get("SETUP_SECONDS", "3"))
time.sleep(SETUP_SECONDS)
print(f"runner {os.getpid()} ready on CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '')}", flush=True)

for task in tasks():
    lr = task.params.get("lr", 0.1)
    seconds = float(os.environ.get("TASK_SECONDS", "0.5"))
    time.sleep(seconds)
    if lr > 1:
        # an exception fails this attempt with its traceback; the worker starts a fresh runner
        raise ValueError(f"lr {lr} diverges")
    print(f"task {task.index} (attempt {task.attempt}) lr={lr}: loss {lr * 0.42:.4f}", flush=True)
