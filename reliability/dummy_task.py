#!/usr/bin/env python3
"""The reliability harness's task program: a stand-in for training whose behaviour each scenario sets
through the environment, and which appends every execution to a log the history checker reads.

  REL_LOG            the execution log (JSON lines; one O_APPEND write per execution)
  REL_SECONDS        duration range "min,max" in seconds (uniform), default "0.2,0.5"
  REL_FAIL_RATE      probability that an attempt exits 1 (an application error: retried)
  REL_CRASH_RATE     probability that an attempt SIGKILLs its worker (an infrastructure failure)
  REL_POISON_FAIL    indexes that always exit 1
  REL_POISON_KILL    indexes that always SIGKILL their worker
  REL_POISON_HANG    indexes that always sleep past the task timeout
  REL_SEED           mixed into each attempt's random numbers with the index, attempt and pid
"""
import json
import os
import random
import signal
import sys
import time

index = int(os.environ["TRAINQ_TASK_INDEX"])
attempt = int(os.environ["TRAINQ_TASK_ATTEMPT"])
log_path = os.environ["REL_LOG"]
start = time.time()


def indexes(name):
    return {int(x) for x in os.environ.get(name, "").split(",") if x.strip()}


def record(outcome):
    line = json.dumps({"index": index, "attempt": attempt, "worker": os.environ.get("TRAINQ_WORKER_NAME", ""),
                       "pid": os.getpid(), "ppid": os.getppid(), "start": round(start, 3),
                       "end": round(time.time(), 3), "outcome": outcome}) + "\n"
    # one write on an O_APPEND descriptor: lines of concurrent executions never interleave
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def terminated(signum, frame):
    # the worker stops an attempt past its timeout (or at shutdown) with SIGTERM
    record("terminated")
    os._exit(143)


signal.signal(signal.SIGTERM, terminated)
# a redelivered attempt must be free to behave differently, so the pid is part of the seed
rng = random.Random(f"{os.environ.get('REL_SEED', '0')}:{index}:{attempt}:{os.getpid()}")

worker = os.getppid()
if index in indexes("REL_POISON_KILL") or rng.random() < float(os.environ.get("REL_CRASH_RATE", "0")):
    record("killed-worker")
    os.kill(worker, signal.SIGKILL)
    sys.exit(137)
if index in indexes("REL_POISON_HANG"):
    time.sleep(float(os.environ.get("REL_HANG_SECONDS", "3600")))
lo, hi = (float(x) for x in os.environ.get("REL_SECONDS", "0.2,0.5").split(","))
time.sleep(rng.uniform(lo, hi))
if index in indexes("REL_POISON_FAIL") or rng.random() < float(os.environ.get("REL_FAIL_RATE", "0")):
    print(f"simulated training error: task {index} attempt {attempt}", file=sys.stderr, flush=True)
    record("failed")
    sys.exit(1)
record("succeeded")
