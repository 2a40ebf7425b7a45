"""The benchmark's workloads: how long each task works, and the task body the Python peers run.

A workload is one of
  noop                     no work
  sleep:<us>               every task works <us> microseconds
  tail:                    uneven durations: Pareto (alpha 1.5) from 100 ms, capped at 3 s, by index
  heavy:<init-us>:<us>     a fresh process pays <init-us> of initialisation before its first task
                           (importing a framework, creating a CUDA context); each task then works <us>

task.c holds the same rules for the task program started once per task; `python3 workload.py
<bench-task>` checks that both agree. Work and initialisation are waits (sleep), not CPU: on a
2-CPU machine that also runs the broker, a busy loop would measure the CPU scheduler instead.
"""
import os
import sys
import time


def _unit(index):
    z = (index + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    z = z ^ (z >> 31)
    return (z >> 11) * (1.0 / 9007199254740992.0)


def work_us(workload, index):
    if workload == "noop":
        return 0
    if workload == "tail":
        d = 100000.0 / (1.0 - _unit(index)) ** (1.0 / 1.5)
        return 3000000 if d > 3000000.0 else int(d)
    if workload.startswith("sleep:"):
        return int(workload[6:])
    if workload.startswith("heavy:"):
        return int(workload.split(":")[2])
    raise ValueError("unknown workload " + workload)


def init_us(workload):
    return int(workload.split(":")[1]) if workload.startswith("heavy:") else 0


def _pause(us):
    if us > 0:
        time.sleep(us / 1e6)


class Recorder:
    """Runs tasks in a long-lived process (the original worker, Celery's children, trainq's
    persistent runner) and appends "<index> <start-ns> <end-ns>" per task to
    <log-dir>/slot-<slot>.log. The initialisation is paid once, in the process's first task."""

    def __init__(self, log_dir, workload, slot):
        self.workload = workload
        self.initialised = False
        path = os.path.join(log_dir, "slot-%s.log" % slot)
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def run(self, index):
        start = time.monotonic_ns()
        if not self.initialised:
            _pause(init_us(self.workload))
            self.initialised = True
        _pause(work_us(self.workload, index))
        end = time.monotonic_ns()
        os.write(self.fd, b"%d %d %d\n" % (index, start, end))


def _self_test(task_program):
    """The C task and this module give the same durations."""
    import subprocess
    import tempfile
    for i in (0, 1, 7, 99, 12345):
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ, TRAINQ_TASK_INDEX=str(i), CUDA_VISIBLE_DEVICES="0")
            subprocess.run([task_program, d, "tail"], env=env, check=True)
            _, start, end = open(os.path.join(d, "slot-0.log")).read().split()
            took = (int(end) - int(start)) / 1000
            want = work_us("tail", i)
            assert want <= took < want + 50000, (i, want, took)
    print("workload: task program and workload.py agree")


if __name__ == "__main__":
    _self_test(sys.argv[1])
