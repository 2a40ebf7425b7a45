#!/usr/bin/env python3
"""A stand-in for a training run, as in trainq's original single-box design: it "trains" for a
couple of seconds, fails 20% of the time (an application error: retried with backoff), and 5% of
the time kills the worker that runs it (an infrastructure failure: the worker is restarted and the
task comes back from the broker without spending a retry)."""
import json
import os
import random
import signal
import sys
import time

index = int(os.environ["TRAINQ_TASK_INDEX"])
attempt = int(os.environ["TRAINQ_TASK_ATTEMPT"])
params = json.loads(os.environ.get("TRAINQ_TASK_PARAMS", "{}"))
fail_rate = float(os.environ.get("DUMMY_FAIL_RATE", "0.2"))
crash_rate = float(os.environ.get("DUMMY_CRASH_RATE", "0.05"))
seconds = float(os.environ.get("DUMMY_SECONDS", "2"))

print(f"model train start: task {index} attempt {attempt} params {params} "
      f"gpus [{os.environ.get('CUDA_VISIBLE_DEVICES', '')}]", flush=True)
if random.random() < crash_rate:
    print("simulated system failure: killing the worker", flush=True)
    os.kill(os.getppid(), signal.SIGKILL)
    time.sleep(5)
time.sleep(random.uniform(0.5, 1.5) * seconds)
if random.random() < fail_rate:
    print("simulated training error (loss is NaN)", file=sys.stderr, flush=True)
    sys.exit(1)
print(f"model train finish: task {index}", flush=True)
