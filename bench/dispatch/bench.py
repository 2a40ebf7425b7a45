"""The dispatch benchmark: trainq against the original pika worker, Celery 5 and RabbitMQ PerfTest,
in one run on the same broker, alternating rounds, medians of the rounds. Run by scripts/bench.sh,
which prepares what this needs (the venv, the task program, the CLI, PerfTest's class path).

Each task notes its own start and end (task.c for a process per task, workload.Recorder for the
Python peers and trainq's persistent runner), so makespan and the idle gap between two tasks on a
slot come from the tasks' own clocks (CLOCK_MONOTONIC), not from any peer's accounting.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SLOTS = 16
TICK_MS = 1000.0 / os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") / 1024

# workload -> (task count, workload string) per size; publish: message counts
SIZES = {
    "full": {"sleep200": (1000, "sleep:200000"), "noop": (10000, "noop"), "tail": (500, "tail"),
             "heavy": (160, "heavy:1000000:200000"), "publish": [10000, 100000]},
    "quick": {"sleep200": (320, "sleep:200000"), "noop": (2000, "noop"), "tail": (160, "tail"),
              "heavy": (64, "heavy:1000000:200000"), "publish": [10000]},
    "smoke": {"sleep200": (48, "sleep:50000"), "noop": (200, "noop"), "tail": (32, "tail"),
              "heavy": (32, "heavy:200000:50000"), "publish": [1000]},
}
TITLES = {
    "sleep200": "tasks of 200 ms",
    "noop": "no-op tasks",
    "tail": "uneven durations (Pareto from 100 ms, capped at 3 s)",
    "publish": "publishing",
}
TASK_PEERS = ["original", "celery", "trainq-process", "trainq-persistent", "perftest"]
PEER_TITLES = {
    "original": "original pika worker",
    "celery": "Celery 5 (prefork 16, acks_late)",
    "trainq-process": "trainq run, Process",
    "trainq-persistent": "trainq run, Persistent",
    "perftest": "PerfTest 2.22.1",
}


def say(msg):
    print(msg, flush=True)


class RunFailed(Exception):
    pass


# ---- the machine ------------------------------------------------------------------------------

def proc_stat(pid):
    """(ppid, cpu ticks, rss pages) of a process, or None once it is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(b")") + 2:].split()
    return int(rest[1]), int(rest[11]) + int(rest[12]), int(rest[21])


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def broker_pid(port):
    """The Erlang VM listening on the broker's port."""
    try:
        out = subprocess.run(["ss", "-ltnpH", "sport = :%d" % port], capture_output=True, text=True).stdout
        m = re.search(r"pid=(\d+)", out)
        if m:
            return int(m.group(1))
    except OSError:
        pass
    return None


def cpu_ticks(pid):
    st = proc_stat(pid) if pid else None
    return st[1] if st else None


def children_ms():
    """CPU of this process's reaped descendants (each counted once its parent waited for it), in ms."""
    t = os.times()
    return (t.children_user + t.children_system) * 1000.0


def loadavg():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def machine():
    model = ""
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = 0
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal"):
            mem = int(line.split()[1]) / 1048576
    return {"cpus": os.cpu_count(), "cpuModel": model, "memoryGiB": round(mem, 1), "kernel": platform.release(),
            "python": platform.python_version(),
            "java": subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]}


class Sampler(threading.Thread):
    """Samples the process trees under the given roots every 200 ms: the peak RSS of each kind of
    process, the last CPU reading of each process seen, and which worker processes ran.
    classify(cmdline) names a process's kind: "worker", "client" (the sender, the producer, trainq
    run's own JVM) or "tasks"."""

    def __init__(self, roots, classify):
        super().__init__(daemon=True)
        self.roots = set(roots)
        self.classify = classify
        self.kind = {}
        self.cpu = {}
        self.peak = {"worker": 0, "tasks": 0, "client": 0}
        self.worker_pids = set()
        self.cmdlines = {}
        self.stopped = threading.Event()

    def add_root(self, pid):
        self.roots.add(pid)

    def sample(self):
        parent = {}
        stats = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            pid = int(name)
            st = proc_stat(pid)
            if st:
                parent[pid] = st[0]
                stats[pid] = st
        rss = {"worker": 0, "tasks": 0, "client": 0}
        tree = {}
        for pid in stats:
            p, depth = pid, 0
            while p not in self.roots and p > 1 and depth < 32:
                p = parent.get(p, 0)
                depth += 1
            if p in self.roots:
                tree[pid] = cmdline(pid)
        for pid, c in tree.items():
            # a JVM's child between vfork and exec still shows its parent's command line and memory:
            # skip it (a Python worker's forked children, Celery's pool, are workers and count)
            a = c.split()
            if not c or (pid not in self.roots and tree.get(parent[pid]) == c and a and "java" in os.path.basename(a[0])):
                continue
            k = self.classify(c)
            self.cmdlines[pid] = c
            self.kind[pid] = k
            self.cpu[pid] = stats[pid][1]
            rss[k] += stats[pid][2] * PAGE_KIB / 1024
            if k == "worker":
                self.worker_pids.add(pid)
        for k in rss:
            self.peak[k] = max(self.peak[k], rss[k])

    def run(self):
        while not self.stopped.wait(0.2):
            self.sample()

    def stop(self):
        self.stopped.set()
        self.join()

    def cpu_ms(self, kind):
        return sum(t for pid, t in self.cpu.items() if self.kind[pid] == kind) * TICK_MS


# ---- the broker -------------------------------------------------------------------------------

class Broker:
    def __init__(self, uri):
        self.uri = uri
        u = urllib.parse.urlparse(uri)
        self.port = u.port or 5672
        self.user = urllib.parse.unquote(u.username or "guest")
        self.password = urllib.parse.unquote(u.password or "guest")
        self.vhost = urllib.parse.unquote(u.path[1:]) if len(u.path) > 1 else "/"
        self.api = "http://%s:15672/api" % u.hostname
        self.pid = broker_pid(self.port)

    def _request(self, method, path):
        req = urllib.request.Request(self.api + path, method=method)
        import base64
        token = base64.b64encode(("%s:%s" % (self.user, self.password)).encode()).decode()
        req.add_header("Authorization", "Basic " + token)
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
            return json.loads(body) if body else None

    def version(self):
        try:
            return self._request("GET", "/overview")["rabbitmq_version"]
        except Exception:
            return "unknown"

    def delete_queues(self, contains):
        """Deletes every queue of the vhost whose name contains the run's id."""
        vh = urllib.parse.quote(self.vhost, safe="")
        try:
            queues = self._request("GET", "/queues/%s?columns=name" % vh)
        except Exception:
            return
        for q in queues:
            if contains in q["name"]:
                try:
                    self._request("DELETE", "/queues/%s/%s" % (vh, urllib.parse.quote(q["name"], safe="")))
                except Exception:
                    pass

    def delete_dead_letter_queue(self):
        vh = urllib.parse.quote(self.vhost, safe="")
        try:
            self._request("DELETE", "/queues/%s/dlx_queue?if-empty=true&if-unused=true" % vh)
            self._request("DELETE", "/exchanges/%s/dlx_exchange?if-unused=true" % vh)
        except Exception:
            pass

    def cpu_ticks(self):
        return cpu_ticks(self.pid)


# ---- one run: a peer, a workload ---------------------------------------------------------------

def read_records(log_dir):
    """{slot: [(index, start_ns, end_ns), ...]} from the tasks' own logs."""
    slots = {}
    for name in os.listdir(log_dir):
        if not name.startswith("slot-"):
            continue
        recs = []
        with open(os.path.join(log_dir, name)) as f:
            for line in f:
                p = line.split()
                if len(p) == 3:
                    recs.append((int(p[0]), int(p[1]), int(p[2])))
        recs.sort(key=lambda r: r[1])
        # a long-lived peer's process creates its file at start; one that got no task (a late
        # starter in a small run) leaves it empty, and is not a slot that ran anything
        if recs:
            slots[name[5:-4]] = recs
    return slots


def count_records(log_dir):
    n = 0
    for name in os.listdir(log_dir):
        if name.startswith("slot-"):
            with open(os.path.join(log_dir, name), "rb") as f:
                n += f.read().count(b"\n")
    return n


def percentile(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    k = (len(v) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def ideal_makespan_s(workload, n, slots, persistent_init=True):
    """A dispatcher without overhead: tasks taken in index order by the first free slot; a slot's
    first task pays the workload's initialisation (once per process, as a persistent runner)."""
    sys.path.insert(0, HERE)
    import workload as w
    free = [0] * slots
    first = [True] * slots
    for i in range(n):
        s = min(range(slots), key=lambda k: free[k])
        d = w.work_us(workload, i)
        if first[s] and persistent_init:
            d += w.init_us(workload)
        first[s] = False
        free[s] += d
    return max(free) / 1e6


def analyse(log_dir, n, workload, t_launch_ns):
    slots = read_records(log_dir)
    recs = [r for rs in slots.values() for r in rs]
    indexes = sorted(r[0] for r in recs)
    if len(recs) != n or indexes != list(range(n)):
        dup = len(recs) - len(set(indexes))
        raise RunFailed("%d task runs recorded (%d duplicates) for %d tasks" % (len(recs), dup, n))
    gaps = []
    for rs in slots.values():
        for a, b in zip(rs, rs[1:]):
            gaps.append((b[1] - a[2]) / 1e6)
    first = min(r[1] for r in recs)
    last = max(r[2] for r in recs)
    makespan = (last - first) / 1e9
    ideal = ideal_makespan_s(workload, n, SLOTS)
    # ramp-up: until every slot has started a task; steady state: from then until the first slot's
    # last task ends; utilisation there is busy slot time over the slot time available
    all_started = max(rs[0][1] for rs in slots.values())
    first_done = min(rs[-1][2] for rs in slots.values())
    steady_gaps = [(b[1] - a[2]) / 1e6 for rs in slots.values() for a, b in zip(rs, rs[1:]) if a[2] >= all_started]
    steady = None
    if len(slots) == SLOTS and first_done > all_started:
        busy = sum(max(0, min(b, first_done) - max(a, all_started)) for rs in slots.values() for _, a, b in rs)
        steady = busy / (SLOTS * (first_done - all_started))
    return {
        "tasks": n,
        "slotsSeen": len(slots),
        "makespanS": round(makespan, 4),
        "idealS": round(ideal, 4),
        "makespanOverIdeal": round(makespan / ideal, 4) if ideal > 0 else None,
        "gapMs": {"p50": round(percentile(gaps, 50), 3), "p90": round(percentile(gaps, 90), 3),
                  "p99": round(percentile(gaps, 99), 3), "max": round(max(gaps), 3) if gaps else None, "n": len(gaps)},
        "tasksPerSecond": round(n / makespan, 1) if makespan > 0 else None,
        "startToFirstTaskMs": round((first - t_launch_ns) / 1e6, 1),
        # end to end, as a user waits: the start-up and the ramp-up count here, whichever way they are traded
        "commandToLastEndS": round((last - t_launch_ns) / 1e9, 3),
        "rampUpS": round((all_started - first) / 1e9, 3),
        "gapMsSteady": {"p50": round(percentile(steady_gaps, 50), 3), "p99": round(percentile(steady_gaps, 99), 3),
                        "n": len(steady_gaps)},
        "steadyUtilisation": round(steady, 4) if steady is not None else None,
    }, slots


class Bench:
    def __init__(self, a):
        self.a = a
        self.uri = a.uri
        self.broker = Broker(a.uri)
        self.python = sys.executable
        self.work = tempfile.mkdtemp(prefix="trainq-bench-")
        self.runs = []
        self.records = {}  # (workload, peer, round) -> slots, for the plots
        self.failures = []
        self.persistent_note = None
        self.perftest_cp = open(a.perftest_cp).read().strip()
        self.sizes = SIZES[a.size]

    def env(self, **extra):
        e = dict(os.environ)
        e.update({k: str(v) for k, v in extra.items()})
        return e

    # -- the generic shape of a task run

    def task_run(self, peer, wl, rnd, start, done, stop, classify, in_process=False):
        n, workload = self.sizes[wl]
        rid = "bench-%s-%s" % (wl, uuid.uuid4().hex[:8])
        run_dir = os.path.join(self.work, "%s-%s-r%d" % (peer, wl, rnd))
        log_dir = os.path.join(run_dir, "tasks")
        os.makedirs(log_dir)
        ctx = {"rid": rid, "dir": run_dir, "logs": log_dir, "n": n, "workload": workload, "wl": wl}
        load_before = loadavg()
        b0 = self.broker.cpu_ticks()
        c0 = children_ms()
        t_launch = time.monotonic_ns()
        procs = []
        sampler = Sampler([], classify)
        sampler.start()
        result = {"workload": wl, "peer": peer, "round": rnd, "ok": False}
        try:
            procs = start(ctx, sampler)
            deadline = time.monotonic() + self.a.run_timeout
            while not done(ctx, procs):
                if time.monotonic() > deadline:
                    raise RunFailed("did not finish within %d s (%d of %d tasks recorded)"
                                    % (self.a.run_timeout, count_records(log_dir), n))
                time.sleep(0.1)
            stats, slots = analyse(log_dir, n, workload, t_launch)
            result.update(stats)
            result["ok"] = True
        except RunFailed as e:
            result["error"] = str(e)
        finally:
            sampler.sample()
            stop(ctx, procs)
            sampler.stop()
            self.broker.delete_queues(rid)
        b1 = self.broker.cpu_ticks()
        c1 = children_ms()
        total_ms = c1 - c0
        client_ms = sampler.cpu_ms("client")
        # tasks run in the worker's processes (the original, Celery): all but the client's CPU is the
        # worker's, from the kernel's count of the reaped processes; otherwise from the samples
        worker_ms = max(0.0, total_ms - client_ms) if in_process else sampler.cpu_ms("worker")
        # the task processes: what is left of the reaped descendants' CPU; short-lived task
        # processes end between samples, long-lived ones (the persistent runner) are sampled
        result["cpuMsPerTask"] = {
            "worker": round(worker_ms / n, 4),
            "client": round(client_ms / n, 4),
            "tasks": round(max(0.0, total_ms - worker_ms - client_ms) / n, 4),
            "broker": round((b1 - b0) * TICK_MS / n, 4) if b0 is not None and b1 is not None else None,
        }
        result["rssMiB"] = {k: round(v, 1) for k, v in sampler.peak.items()}
        # worker processes seen (a worker restarted counts again)
        result["workerProcesses"] = sum(1 for pid in sampler.worker_pids if sampler.kind.get(pid) == "worker")
        result["loadBefore"] = load_before
        result["loadAfter"] = loadavg()
        result["runDir"] = run_dir
        if result["ok"]:
            self.records[(wl, peer, rnd)] = slots
        return result

    def wait_all_recorded(self, ctx, procs):
        if count_records(ctx["logs"]) >= ctx["n"]:
            return True
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            raise RunFailed("a process exited %s before the tasks were done; see %s" % (dead[0].returncode, ctx["dir"]))
        return False

    @staticmethod
    def terminate(procs, grace=15):
        for p in procs:
            if p.poll() is None:
                try:
                    p.send_signal(signal.SIGTERM)
                except OSError:
                    pass
        deadline = time.monotonic() + grace
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    # -- the original design

    def run_original(self, wl, rnd):
        def start(ctx, sampler):
            env = self.env(BENCH_AMQP_URI=self.uri, BENCH_QUEUE=ctx["rid"], BENCH_LOG_DIR=ctx["logs"],
                           BENCH_WORKLOAD=ctx["workload"])
            procs = []
            for i in range(SLOTS):
                out = open(os.path.join(ctx["dir"], "worker-%d.log" % i), "w")
                p = subprocess.Popen([self.python, os.path.join(HERE, "original", "worker.py")], env=env,
                                     stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
                sampler.add_root(p.pid)
                procs.append(p)
            out = open(os.path.join(ctx["dir"], "send.log"), "w")
            s = subprocess.Popen([self.python, os.path.join(HERE, "original", "send.py"), str(ctx["n"]), "--interval", "0"],
                                 env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            sampler.add_root(s.pid)
            ctx["sender"] = s
            return procs

        def done(ctx, procs):
            s = ctx["sender"]
            if s.poll() not in (None, 0):
                raise RunFailed("the sender exited %d; see %s" % (s.returncode, ctx["dir"]))
            return self.wait_all_recorded(ctx, procs)

        def stop(ctx, procs):
            self.terminate(procs + [ctx["sender"]])

        return self.task_run("original", wl, rnd, start, done, stop,
                             classify=lambda c: "client" if "send.py" in c else "worker", in_process=True)

    # -- Celery

    def run_celery(self, wl, rnd):
        celery = os.path.join(os.path.dirname(self.python), "celery")

        def start(ctx, sampler):
            env = self.env(BENCH_AMQP_URI=self.uri, BENCH_QUEUE=ctx["rid"], BENCH_LOG_DIR=ctx["logs"],
                           BENCH_WORKLOAD=ctx["workload"], PYTHONPATH=os.path.join(HERE, "celery_peer"))
            out = open(os.path.join(ctx["dir"], "worker.log"), "w")
            w = subprocess.Popen([celery, "-A", "benchapp", "worker", "-P", "prefork", "-c", str(SLOTS),
                                  "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "warning",
                                  "-n", ctx["rid"] + "@%h"],
                                 cwd=os.path.join(HERE, "celery_peer"), env=env, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL)
            sampler.add_root(w.pid)
            out = open(os.path.join(ctx["dir"], "send.log"), "w")
            s = subprocess.Popen([self.python, os.path.join(HERE, "celery_peer", "benchapp.py"), str(ctx["n"])],
                                 env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            sampler.add_root(s.pid)
            ctx["sender"] = s
            return [w]

        def done(ctx, procs):
            s = ctx["sender"]
            if s.poll() not in (None, 0):
                raise RunFailed("the producer exited %d; see %s" % (s.returncode, ctx["dir"]))
            return self.wait_all_recorded(ctx, procs)

        def stop(ctx, procs):
            self.terminate([ctx["sender"]] + procs, grace=30)

        return self.task_run("celery", wl, rnd, start, done, stop,
                             classify=lambda c: "client" if "benchapp.py" in c else "worker", in_process=True)

    # -- trainq run

    def job_yaml(self, ctx, persistent):
        if persistent:
            # the interpreter the Python peers run on: a bare "python3" can be a version manager's
            # shim (pyenv: bash, then `pyenv exec`), ~80 ms of CPU more per runner start than the peers pay
            command = [self.python, os.path.join(HERE, "persistent_task.py"), ctx["logs"], ctx["workload"]]
            runner = "  runner: {mode: Persistent}\n"
        else:
            command = [self.a.task, ctx["logs"], ctx["workload"]]
            runner = ""
        return ("apiVersion: trainq.io/v1alpha1\nkind: TrainingJob\nmetadata:\n  name: %s\nspec:\n"
                "  image: trainq-bench:local\n  command: %s\n  tasks:\n    count: %d\n  gpusPerTask: 1\n"
                "  workers:\n    maxPods: 1\n    gpusPerPod: %d\n%s"
                "  retry:\n    maxAttempts: 1\n  taskTimeout: 10m\n"
                % (ctx["rid"], json.dumps(command), ctx["n"], SLOTS, runner))

    def persistent_available(self):
        """None when this build takes spec.runner, else trainq validate's reason."""
        if self.persistent_note is not None:
            return self.persistent_note or None
        d = tempfile.mkdtemp(dir=self.work)
        f = os.path.join(d, "job.yaml")
        with open(f, "w") as out:
            out.write(self.job_yaml({"rid": "bench-validate", "n": 1, "logs": d, "workload": "noop"}, True))
        r = subprocess.run([self.a.trainq, "validate", f], capture_output=True, text=True)
        if r.returncode == 0:
            self.persistent_note = ""
            return None
        lines = [l.strip() for l in (r.stderr or r.stdout).splitlines()[1:] if l.strip()]
        self.persistent_note = "not available in this build: trainq validate rejects spec.runner (%s)" % (
            "; ".join(lines) if lines else "exit %d" % r.returncode)
        return self.persistent_note

    def run_trainq(self, wl, rnd, persistent):
        peer = "trainq-persistent" if persistent else "trainq-process"
        if persistent and self.persistent_available():
            return {"workload": wl, "peer": peer, "round": rnd, "ok": False, "skipped": self.persistent_note}

        def start(ctx, sampler):
            f = os.path.join(ctx["dir"], "job.yaml")
            with open(f, "w") as out:
                out.write(self.job_yaml(ctx, persistent))
            out = open(os.path.join(ctx["dir"], "trainq-run.log"), "w")
            p = subprocess.Popen([self.a.trainq, "run", "-f", f, "--gpus", str(SLOTS), "--rabbitmq", self.uri,
                                  "-n", "bench", "--state-dir", os.path.join(ctx["dir"], "state"), "--plain"],
                                 cwd=ctx["dir"], env=self.env(), stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
            sampler.add_root(p.pid)
            return [p]

        def done(ctx, procs):
            p = procs[0]
            if p.poll() is None:
                return False
            if p.returncode != 0:
                raise RunFailed("trainq run exited %d; see %s" % (p.returncode, ctx["dir"]))
            return True

        def stop(ctx, procs):
            self.terminate(procs, grace=40)

        def classify(c):
            a = c.split()
            if persistent and len(a) > 1 and "python" in os.path.basename(a[0]) and a[1].endswith("persistent_task.py"):
                return "tasks"
            if a and a[0].endswith("bench-task"):
                return "tasks"
            # trainq run's own JVM publishes and accounts; its worker JVMs run io.trainq.worker.WorkerMain
            return "worker" if "WorkerMain" in c else "client"
        return self.task_run(peer, wl, rnd, start, done, stop, classify=classify)

    # -- PerfTest

    def perftest(self, args, log):
        with open(log, "w") as out:
            r = subprocess.run(["java", "-cp", self.perftest_cp, "com.rabbitmq.perf.PerfTest", "-h", self.uri] + args,
                               stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=self.a.run_timeout)
        text = open(log).read()
        if r.returncode != 0:
            raise RunFailed("PerfTest exited %d; see %s" % (r.returncode, log))
        return text

    def producer_args(self, q, n):
        # as bench/operator: one producer, 100 confirms in flight, persistent, mandatory, a quorum queue
        return ["-x", "1", "-y", "0", "-c", "100", "-C", str(n), "-s", "100", "-f", "persistent", "-f", "mandatory",
                "-u", q, "-qa", "x-queue-type=quorum", "-ad", "false"]

    def run_perftest_consume(self, wl, rnd):
        """PerfTest's producer fills a quorum queue, its consumer drains it (prefetch 16, an ack per
        message, as bench/worker): the broker's ceiling for a task's messages."""
        n, _ = self.sizes[wl]
        q = "bench-perftest-" + uuid.uuid4().hex[:8]
        d = os.path.join(self.work, "perftest-%s-r%d" % (wl, rnd))
        os.makedirs(d)
        res = {"workload": wl, "peer": "perftest", "round": rnd, "ok": False}
        b0, c0 = self.broker.cpu_ticks(), children_ms()
        try:
            self.perftest(self.producer_args(q, n), os.path.join(d, "producer.log"))
            text = self.perftest(["-x", "0", "-y", "1", "-q", str(SLOTS), "-u", q, "-p", "-D", str(n)],
                                 os.path.join(d, "consumer.log"))
            m = re.search(r"receiving rate avg: (\d+) msg/s", text)
            if not m:
                raise RunFailed("no receiving rate in PerfTest's output; see %s" % d)
            res["tasksPerSecond"] = float(m.group(1))
            res["ok"] = True
        except (RunFailed, subprocess.TimeoutExpired) as e:
            res["error"] = str(e)
        finally:
            self.broker.delete_queues(q)
        b1, c1 = self.broker.cpu_ticks(), children_ms()
        res["tasks"] = n
        res["cpuMsPerTask"] = {"worker": round((c1 - c0) / n, 4), "tasks": 0.0,
                               "broker": round((b1 - b0) * TICK_MS / n, 4) if b0 is not None else None}
        res["note"] = "per message: publish with confirms, then consume with an ack; CPU of both PerfTest JVMs"
        return res

    # -- publishing

    def run_publish(self, n, rnd, order):
        out = []
        for who in order:
            d = os.path.join(self.work, "publish-%s-%d-r%d" % (who, n, rnd))
            os.makedirs(d)
            res = {"workload": "publish", "messages": n, "peer": who, "round": rnd, "ok": False}
            b0, c0 = self.broker.cpu_ticks(), children_ms()
            q = "bench-publish-" + uuid.uuid4().hex[:8]
            try:
                if who == "perftest":
                    text = self.perftest(self.producer_args(q, n), os.path.join(d, "producer.log"))
                    m = re.search(r"sending rate avg: (\d+) msg/s", text)
                    if not m:
                        raise RunFailed("no sending rate in PerfTest's output; see %s" % d)
                    res["publishPerSecond"] = float(m.group(1))
                elif who in ("trainq-cli", "trainq-operator"):
                    mode = "cold" if who == "trainq-cli" else "warm"
                    log = os.path.join(d, "publish.log")
                    with open(log, "w") as f:
                        r = subprocess.run(["java", "-Dlogback.configurationFile=trainq-cli-logback.xml", "-cp",
                                            self.a.publish_cp, "PublishBench", self.uri, str(n), mode],
                                           stdout=f, stderr=subprocess.STDOUT, timeout=self.a.run_timeout)
                    m = re.search(r"rate=(\d+)", open(log).read())
                    if r.returncode != 0 or not m:
                        raise RunFailed("PublishBench exited %d; see %s" % (r.returncode, log))
                    res["publishPerSecond"] = float(m.group(1))
                elif who == "original":
                    log = os.path.join(d, "send.log")
                    env = self.env(BENCH_AMQP_URI=self.uri, BENCH_QUEUE=q)
                    with open(log, "w") as f:
                        r = subprocess.run([self.python, os.path.join(HERE, "original", "send.py"), str(n),
                                            "--interval", "0"], env=env, stdout=f, stderr=subprocess.STDOUT,
                                           timeout=self.a.run_timeout)
                    m = re.search(r"published \d+ in ([\d.]+) s", open(log).read())
                    if r.returncode != 0 or not m:
                        raise RunFailed("send.py exited %d; see %s" % (r.returncode, log))
                    res["publishPerSecond"] = round(n / float(m.group(1)), 1)
                res["ok"] = True
            except (RunFailed, subprocess.TimeoutExpired) as e:
                res["error"] = str(e)
            finally:
                self.broker.delete_queues(q)
            b1, c1 = self.broker.cpu_ticks(), children_ms()
            res["cpuMsPerMessage"] = {"client": round((c1 - c0) / n, 4),
                                      "broker": round((b1 - b0) * TICK_MS / n, 4) if b0 is not None else None}
            out.append(res)
        return out

    # -- the rounds

    def run_one(self, peer, wl, rnd):
        if peer == "original":
            return self.run_original(wl, rnd)
        if peer == "celery":
            return self.run_celery(wl, rnd)
        if peer == "trainq-process":
            return self.run_trainq(wl, rnd, False)
        if peer == "trainq-persistent":
            return self.run_trainq(wl, rnd, True)
        if peer == "perftest":
            # the broker's ceiling for consuming, on the no-op workload (and in a smoke run, to check it works)
            return self.run_perftest_consume(wl, rnd) if wl == "noop" or self.a.size == "smoke" else None
        raise ValueError(peer)

    def record(self, res):
        self.runs.append(res)
        if res.get("skipped"):
            say("  %-18s %-9s round %d: %s" % (res["peer"], res["workload"], res["round"], res["skipped"]))
            return
        if not res["ok"]:
            self.failures.append(res)
            say("  %-18s %-9s round %d: FAILED: %s" % (res["peer"], res["workload"], res["round"], res.get("error")))
            return
        if res["workload"] == "publish":
            say("  %-18s publish %-6d round %d: %.0f msg/s" % (res["peer"], res["messages"], res["round"],
                                                               res["publishPerSecond"]))
            return
        cpu = res["cpuMsPerTask"]
        if res["peer"] == "perftest":
            say("  %-18s %-9s round %d: %s msg/s; CPU per message: PerfTest %s ms, broker %s ms"
                % ("perftest", res["workload"], res["round"], fmt(res["tasksPerSecond"], 0), fmt(cpu["worker"]),
                   fmt(cpu["broker"])))
            return
        say("  %-18s %-9s round %d: makespan %s s (%s x ideal), gap p50 %s p99 %s ms, %s tasks/s, "
            "first task %s ms; CPU/task worker %s tasks %s broker %s ms; RSS %s MiB, %s worker processes (load %s)"
            % (res["peer"], res["workload"], res["round"], fmt(res["makespanS"], 2), fmt(res["makespanOverIdeal"]),
               fmt(res["gapMs"]["p50"], 2), fmt(res["gapMs"]["p99"], 2), fmt(res["tasksPerSecond"], 0),
               fmt(res["startToFirstTaskMs"], 0), fmt(cpu["worker"]) + " client " + fmt(cpu["client"]),
               fmt(cpu["tasks"]), fmt(cpu["broker"]),
               fmt(res["rssMiB"]["worker"], 0), res.get("workerProcesses"), res["loadAfter"]))

    def run(self):
        peers = self.a.peers
        t0 = time.monotonic()
        self.stopped_early = None
        for rnd in range(1, self.a.rounds + 1):
            say("round %d of %d (load %s)" % (rnd, self.a.rounds, loadavg()))
            for wl in self.a.workloads:
                if self.a.budget and time.monotonic() - t0 > self.a.budget:
                    self.stopped_early = ("the time budget (%d s) was spent in round %d, before %s: the figures are "
                                          "medians of the rounds that ran" % (self.a.budget, rnd, wl))
                    say("stopping: " + self.stopped_early)
                    return time.monotonic() - t0
                # alternate: each round starts with a different peer
                k = (rnd - 1) % len(peers)
                order = peers[k:] + peers[:k]
                if wl == "publish":
                    pubs = []
                    if "perftest" in peers:
                        pubs.append("perftest")
                    if any(x.startswith("trainq") for x in peers):
                        pubs += ["trainq-operator", "trainq-cli"]
                    if "original" in peers:
                        pubs.append("original")
                    kk = (rnd - 1) % len(pubs)
                    for n in self.sizes["publish"]:
                        # the original sender (no confirms) is informative only: not at 100 000, to save time
                        who = [x for x in pubs[kk:] + pubs[:kk] if x != "original" or n <= 10000]
                        for res in self.run_publish(n, rnd, who):
                            self.record(res)
                    continue
                for peer in order:
                    res = self.run_one(peer, wl, rnd)
                    if res is not None:
                        self.record(res)
        return time.monotonic() - t0


# ---- summary, report, plots --------------------------------------------------------------------

def med(values):
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


def summarise(runs):
    """Medians (and ranges) over rounds, per workload and peer."""
    out = {}
    for r in runs:
        if not r.get("ok"):
            continue
        key = r["workload"] if r["workload"] != "publish" else "publish-%d" % r["messages"]
        out.setdefault(key, {}).setdefault(r["peer"], []).append(r)
    summary = {}
    for key, peers in out.items():
        summary[key] = {}
        for peer, rs in peers.items():
            s = {"rounds": len(rs)}
            def m(get):
                vals = [get(r) for r in rs]
                vals = [v for v in vals if v is not None]
                return (med(vals), min(vals), max(vals)) if vals else (None, None, None)
            fields = {
                "makespanS": lambda r: r.get("makespanS"),
                "makespanOverIdeal": lambda r: r.get("makespanOverIdeal"),
                "gapMs.p50": lambda r: r.get("gapMs", {}).get("p50"),
                "gapMs.p99": lambda r: r.get("gapMs", {}).get("p99"),
                "tasksPerSecond": lambda r: r.get("tasksPerSecond"),
                "startToFirstTaskMs": lambda r: r.get("startToFirstTaskMs"),
                "rampUpS": lambda r: r.get("rampUpS"),
                "commandToLastEndS": lambda r: r.get("commandToLastEndS"),
                "gapMsSteady.p50": lambda r: r.get("gapMsSteady", {}).get("p50"),
                "gapMsSteady.p99": lambda r: r.get("gapMsSteady", {}).get("p99"),
                "steadyUtilisation": lambda r: r.get("steadyUtilisation"),
                "cpuMsPerTask.worker": lambda r: r.get("cpuMsPerTask", {}).get("worker"),
                "cpuMsPerTask.tasks": lambda r: r.get("cpuMsPerTask", {}).get("tasks"),
                "cpuMsPerTask.client": lambda r: r.get("cpuMsPerTask", {}).get("client"),
                "cpuMsPerTask.broker": lambda r: r.get("cpuMsPerTask", {}).get("broker"),
                "rssMiB.worker": lambda r: r.get("rssMiB", {}).get("worker"),
                "rssMiB.tasks": lambda r: r.get("rssMiB", {}).get("tasks"),
                "workerProcesses": lambda r: r.get("workerProcesses"),
                "publishPerSecond": lambda r: r.get("publishPerSecond"),
                "cpuMsPerMessage.broker": lambda r: r.get("cpuMsPerMessage", {}).get("broker"),
            }
            for name, get in fields.items():
                mid, lo, hi = m(get)
                if mid is None:
                    continue
                d = s
                parts = name.split(".")
                for p in parts[:-1]:
                    d = d.setdefault(p, {})
                d[parts[-1]] = round(mid, 4)
                if lo != hi:
                    s.setdefault("ranges", {})[name] = [round(lo, 4), round(hi, 4)]
            summary[key][peer] = s
    return summary


def get(summary, wl, peer, field):
    d = summary.get(wl, {}).get(peer)
    if d is None:
        return None
    for p in field.split("."):
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def targets(summary, persistent_note):
    """The issue's targets, each met or missed and by how much."""
    t = []

    def add(name, mode, value, limit, ok_if, unit=""):
        if value is None or limit is None:
            t.append({"target": name, "mode": mode, "value": None, "limit": limit, "met": None,
                      "note": persistent_note if mode == "Persistent" and persistent_note else "not measured"})
            return
        met = value <= limit if ok_if == "<=" else value >= limit
        t.append({"target": name, "mode": mode, "value": round(value, 4), "limit": round(limit, 4), "met": met,
                  "by": round(value - limit, 4), "unit": unit})

    o = lambda f, wl="sleep200": get(summary, wl, "original", f)
    for mode, peer in (("Persistent", "trainq-persistent"), ("Process", "trainq-process")):
        v = lambda f, wl="sleep200": get(summary, wl, peer, f)
        if mode == "Persistent":
            add("makespan / ideal, 1 000 x 200 ms <= 1.015", mode, v("makespanOverIdeal"), 1.015, "<=")
            add("makespan / ideal <= the original's", mode, v("makespanOverIdeal"), o("makespanOverIdeal"), "<=")
            add("idle gap p50 <= the original's", mode, v("gapMs.p50"), o("gapMs.p50"), "<=", "ms")
        else:
            lim = o("makespanOverIdeal")
            add("makespan / ideal <= the original's + 0.01", mode, v("makespanOverIdeal"),
                lim + 0.01 if lim is not None else None, "<=")
            lim = o("gapMs.p50")
            add("idle gap p50 <= 2 x the original's", mode, v("gapMs.p50"), 2 * lim if lim is not None else None, "<=", "ms")
        lim = o("gapMs.p99")
        add("idle gap p99 <= 3 x the original's", mode, v("gapMs.p99"), 3 * lim if lim is not None else None, "<=", "ms")
        lim = o("tasksPerSecond", "noop")
        k = 1.0 if mode == "Persistent" else 0.25
        add("no-op tasks/s >= %s x the original's" % ("1" if k == 1 else "0.25"), mode, v("tasksPerSecond", "noop"),
            k * lim if lim is not None else None, ">=", "tasks/s")
        pt = get(summary, "noop", "perftest", "cpuMsPerTask.broker")
        add("broker CPU per no-op task <= 2 x PerfTest's per message", mode, v("cpuMsPerTask.broker", "noop"),
            2 * pt if pt is not None else None, "<=", "ms")
    proc = get(summary, "heavy", "trainq-process", "makespanS")
    pers = get(summary, "heavy", "trainq-persistent", "makespanS")
    add("heavy start-up: Persistent finishes >= 4 x sooner than Process", "Persistent",
        proc / pers if proc and pers else None, 4.0, ">=", "x")
    for mode, peer in (("Process", "trainq-process"), ("Persistent", "trainq-persistent")):
        add("trainq run: command to first task running <= 2 s", mode,
            get(summary, "sleep200", peer, "startToFirstTaskMs"), 2000, "<=", "ms")
        add("trainq run: one worker process per gpusPerPod group (here 1)", mode,
            get(summary, "sleep200", peer, "workerProcesses"), 1, "<=", "processes")
    for key in sorted(k for k in summary if k.startswith("publish-")):
        pt = get(summary, key, "perftest", "publishPerSecond")
        op = get(summary, key, "trainq-operator", "publishPerSecond")
        add("operator publish rate >= 0.9 x PerfTest producer (%s messages)" % key[8:], "-", op / pt if op and pt else None,
            0.9, ">=", "x")
    return t


def fmt(v, nd=3):
    if v is None:
        return "—"
    if isinstance(v, int):
        return str(v)
    if abs(v) >= 100:
        return "%.0f" % v
    return ("%." + str(nd) + "f") % v


def rng(summary, wl, peer, field):
    s = summary.get(wl, {}).get(peer, {})
    r = s.get("ranges", {}).get(field) if s else None
    v = get(summary, wl, peer, field)
    if v is None:
        return "—"
    return fmt(v) + (" (%s–%s)" % (fmt(r[0]), fmt(r[1])) if r else "")


def wl_title(wl, workload):
    if workload.startswith("sleep:"):
        return "tasks of %g ms" % (int(workload[6:]) / 1000)
    if workload.startswith("heavy:"):
        init, work = workload.split(":")[1:]
        return "tasks with heavy start-up (%g s of initialisation per process, then %g ms per task)" % (
            int(init) / 1e6, int(work) / 1000)
    return TITLES[wl]


def markdown(doc):
    s = doc["summary"]
    peers = [p for p in ["original", "celery", "perftest", "trainq-process", "trainq-persistent"]]
    lines = []
    lines.append("# Dispatch benchmark, %s" % doc["date"])
    lines.append("")
    m = doc["machine"]
    lines.append("`%s`: %d CPUs (%s), %.0f GiB, shared with the broker and other work; load average %s before, %s after; "
                 "RabbitMQ %s single node at 127.0.0.1; %s; 16 slots everywhere; %d round(s), medians (min–max)."
                 % (doc["command"], m["cpus"], m["cpuModel"], m["memoryGiB"], doc["loadBefore"], doc["loadAfter"],
                    doc["broker"], m["java"], doc["rounds"]))
    if doc.get("stoppedEarly"):
        lines.append("")
        lines.append("Stopped early: %s." % doc["stoppedEarly"])
    if doc.get("persistentNote"):
        lines.append("")
        lines.append("trainq Persistent: %s." % doc["persistentNote"])
    for wl in ["sleep200", "noop", "tail", "heavy"]:
        if wl not in s:
            continue
        n = doc["sizes"][wl][0]
        lines.append("")
        lines.append("## %d %s" % (n, wl_title(wl, doc["sizes"][wl][1])))
        lines.append("")
        lines.append("| figure | " + " | ".join(PEER_TITLES[p] for p in peers if p in s[wl]) + " |")
        lines.append("| --- |" + " --- |" * len([p for p in peers if p in s[wl]]))
        rows = [("makespan ÷ ideal", "makespanOverIdeal"), ("makespan, s", "makespanS"),
                ("idle gap p50, ms", "gapMs.p50"), ("idle gap p99, ms", "gapMs.p99"),
                ("tasks/s", "tasksPerSecond"), ("command to first task, ms", "startToFirstTaskMs"),
                ("first task to every slot started, s", "rampUpS"),
                ("command to the last task's end, s", "commandToLastEndS"),
                ("utilisation once every slot has started", "steadyUtilisation"),
                ("idle gap p50 once every slot has started, ms", "gapMsSteady.p50"),
                ("idle gap p99 once every slot has started, ms", "gapMsSteady.p99"),
                ("CPU per task: worker, ms", "cpuMsPerTask.worker"),
                ("CPU per task: sender / producer / trainq run's JVM, ms", "cpuMsPerTask.client"),
                ("CPU per task: task processes, ms", "cpuMsPerTask.tasks"),
                ("CPU per task: broker, ms", "cpuMsPerTask.broker"), ("worker RSS peak, MiB", "rssMiB.worker"),
                ("task processes RSS peak, MiB", "rssMiB.tasks"), ("worker processes", "workerProcesses")]
        for title, field in rows:
            cells = [rng(s, wl, p, field) for p in peers if p in s[wl]]
            if all(c == "—" for c in cells):
                continue
            lines.append("| %s | %s |" % (title, " | ".join(cells)))
        ratio_rows = []
        for tq in ("trainq-process", "trainq-persistent"):
            if tq not in s[wl]:
                continue
            for p in ("original", "celery", "perftest"):
                if p not in s[wl]:
                    continue
                parts = []
                for title, field in (("makespan ÷ ideal", "makespanOverIdeal"), ("gap p50", "gapMs.p50"),
                                     ("gap p99", "gapMs.p99"), ("tasks/s", "tasksPerSecond"),
                                     ("broker CPU/task", "cpuMsPerTask.broker")):
                    a, b = get(s, wl, tq, field), get(s, wl, p, field)
                    if a is not None and b:
                        parts.append("%s %.2f×" % (title, a / b))
                if parts:
                    ratio_rows.append("| %s ÷ %s | %s |" % (PEER_TITLES[tq], PEER_TITLES[p], ", ".join(parts)))
        if ratio_rows:
            lines.append("")
            lines.append("| trainq's ratio | |")
            lines.append("| --- | --- |")
            lines.extend(ratio_rows)
    pubs = sorted((k for k in s if k.startswith("publish-")), key=lambda k: int(k[8:]))
    if pubs:
        lines.append("")
        lines.append("## Publishing")
        lines.append("")
        lines.append("| messages | PerfTest producer msg/s | trainq, operator path (encoder warmed) | trainq run path (new JVM) "
                     "| original sender (no confirms, transient) |")
        lines.append("| --- | --- | --- | --- | --- |")
        for k in pubs:
            pt = get(s, k, "perftest", "publishPerSecond")
            cells = [rng(s, k, "perftest", "publishPerSecond")]
            for p in ("trainq-operator", "trainq-cli", "original"):
                v = get(s, k, p, "publishPerSecond")
                cells.append(rng(s, k, p, "publishPerSecond") + (" = %.2f× PerfTest" % (v / pt) if v and pt else ""))
            lines.append("| %s | %s |" % (k[8:], " | ".join(cells)))
    lines.append("")
    lines.append("## Targets")
    lines.append("")
    lines.append("| target | mode | measured | limit | |")
    lines.append("| --- | --- | --- | --- | --- |")
    for t in doc["targets"]:
        if t["met"] is None:
            verdict = "not measured" + (": " + t["note"] if t.get("note") and t["note"] != "not measured" else "")
        else:
            verdict = "met" if t["met"] else "**missed** by %s %s" % (fmt(abs(t["by"])), t.get("unit", ""))
        lines.append("| %s | %s | %s | %s | %s |" % (t["target"], t["mode"], fmt(t["value"]), fmt(t["limit"]), verdict))
    if doc.get("plots"):
        lines.append("")
        for p in doc["plots"]:
            lines.append("![%s](%s)" % (p["title"], os.path.basename(p["file"])))
    if doc["failures"]:
        lines.append("")
        lines.append("## Failed runs")
        lines.append("")
        for f in doc["failures"]:
            lines.append("- %s %s round %d: %s" % (f["peer"], f["workload"], f["round"], f.get("error")))
    return "\n".join(lines) + "\n"


def plots(bench, summary, prefix):
    """A per-slot timeline (busy and idle) and utilisation over time, trainq against the original,
    from the 200 ms workload's round whose makespan is the median of its peer's rounds."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wl = "sleep200"
    chosen = []
    for peer in ("original", "celery", "trainq-process", "trainq-persistent"):
        rounds = [r for r in bench.runs if r.get("ok") and r["workload"] == wl and r["peer"] == peer]
        if not rounds:
            continue
        rounds.sort(key=lambda r: r["makespanS"])
        r = rounds[len(rounds) // 2]
        chosen.append((peer, r, bench.records[(wl, peer, r["round"])]))
    if not chosen:
        return []
    files = []
    colors = {"original": "#4c72b0", "celery": "#8172b2", "trainq-process": "#dd8452", "trainq-persistent": "#55a868"}
    timeline = [c for c in chosen if c[0] != "celery"]

    # 1. per-slot timeline, whole run and a 1 s window in the middle
    fig, axes = plt.subplots(len(timeline), 2, figsize=(14, 2.2 + 2.0 * len(timeline)), squeeze=False,
                             gridspec_kw={"width_ratios": [3, 2]})
    for row, (peer, r, slots) in enumerate(timeline):
        t0 = min(rec[1] for rs in slots.values() for rec in rs)
        mid = r["makespanS"] / 2
        for col, (lo, hi) in enumerate(((None, None), (mid - 0.5, mid + 0.5))):
            ax = axes[row][col]
            for y, key in enumerate(sorted(slots, key=lambda k: (len(k), k))):
                bars = [((a - t0) / 1e9, (b - a) / 1e9) for _, a, b in slots[key]]
                ax.broken_barh(bars, (y + 0.1, 0.8), facecolors=colors[peer], linewidth=0)
            ax.set_ylim(0, len(slots))
            ax.set_yticks([])
            if lo is not None:
                ax.set_xlim(lo, hi)
                ax.set_title("%s: 1 s in the middle (white = slot idle)" % PEER_TITLES[peer], fontsize=9)
            else:
                ax.set_title("%s: %d slots, makespan %.2f s = %.3f × ideal, gap p50 %.2f ms / p99 %.1f ms"
                             % (PEER_TITLES[peer], len(slots), r["makespanS"], r["makespanOverIdeal"],
                                r["gapMs"]["p50"], r["gapMs"]["p99"]), fontsize=9)
            ax.set_xlabel("seconds from the first task's start", fontsize=8)
            ax.set_ylabel("slot", fontsize=8)
    fig.suptitle("%d %s on 16 slots: each bar is a task, by its own clock" % (bench.sizes[wl][0], wl_title(wl, bench.sizes[wl][1])))
    fig.tight_layout()
    f = prefix + "-timeline.png"
    fig.savefig(f, dpi=90)
    plt.close(fig)
    files.append({"file": f, "title": "per-slot timeline"})

    # 2. utilisation over time: busy slots / 16, in 20 ms bins
    fig, ax = plt.subplots(figsize=(12, 4.5))
    bin_s = 0.02
    for peer, r, slots in chosen:
        t0 = min(rec[1] for rs in slots.values() for rec in rs)
        end = max(rec[2] for rs in slots.values() for rec in rs)
        nb = int((end - t0) / 1e9 / bin_s) + 1
        busy = [0.0] * nb
        for rs in slots.values():
            for _, a, b in rs:
                a_s, b_s = (a - t0) / 1e9, (b - t0) / 1e9
                i = int(a_s / bin_s)
                while i < nb and i * bin_s < b_s:
                    lo, hi = max(a_s, i * bin_s), min(b_s, (i + 1) * bin_s)
                    busy[i] += max(0.0, hi - lo) / bin_s
                    i += 1
        xs = [i * bin_s for i in range(nb)]
        ax.plot(xs, [b / SLOTS for b in busy], label="%s (%.3f × ideal)" % (PEER_TITLES[peer], r["makespanOverIdeal"]),
                color=colors[peer], linewidth=0.9)
    ideal = bench.runs and ideal_makespan_s(bench.sizes[wl][1], bench.sizes[wl][0], SLOTS)
    ax.axvline(ideal, color="grey", linestyle=":", linewidth=1)
    ax.text(ideal, 0.02, " ideal makespan", color="grey", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("seconds from the first task's start")
    ax.set_ylabel("slots busy (of 16)")
    ax.set_title("Utilisation over time, %d %s (20 ms bins)" % (bench.sizes[wl][0], wl_title(wl, bench.sizes[wl][1])))
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    f = prefix + "-utilisation.png"
    fig.savefig(f, dpi=90)
    plt.close(fig)
    files.append({"file": f, "title": "utilisation over time"})
    return files


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--size", choices=sorted(SIZES), default="full")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--workloads", default="sleep200,noop,tail,heavy,publish")
    p.add_argument("--peers", default="original,celery,trainq-process,trainq-persistent,perftest")
    p.add_argument("--uri", default="amqp://trainq:trainq@127.0.0.1:5672/%2F")
    p.add_argument("--trainq", required=True, help="the trainq launcher")
    p.add_argument("--task", required=True, help="the compiled task program (task.c)")
    p.add_argument("--perftest-cp", required=True, help="a file holding PerfTest's class path")
    p.add_argument("--publish-cp", required=True, help="class path of the compiled PublishBench and trainq-cli.jar")
    p.add_argument("--out", required=True, help="directory for <date>.json, .md and the plots")
    p.add_argument("--run-timeout", type=int, default=300, help="seconds one peer's run may take")
    p.add_argument("--budget", type=int, default=0,
                   help="seconds after which no further workload is started (0: none); the report covers what ran")
    p.add_argument("--command", default="scripts/bench.sh", help="the command line, for the report")
    p.add_argument("--keep", action="store_true", help="keep the runs' logs")
    a = p.parse_args()
    a.workloads = [w for w in a.workloads.split(",") if w]
    a.peers = [x for x in a.peers.split(",") if x]
    for w in a.workloads:
        if w not in SIZES["full"]:
            p.error("unknown workload %s (known: %s)" % (w, ", ".join(SIZES["full"])))
    for x in a.peers:
        if x not in TASK_PEERS:
            p.error("unknown peer %s (known: %s)" % (x, ", ".join(TASK_PEERS)))

    def interrupted(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, interrupted)
    b = Bench(a)
    if b.broker.pid is None:
        say("warning: no process listens on port %d here; broker CPU is not measured" % b.broker.port)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    load_before = loadavg()
    say("dispatch benchmark: %s, %d round(s), workloads %s, peers %s; RabbitMQ %s (pid %s); logs in %s"
        % (a.size, a.rounds, ",".join(a.workloads), ",".join(a.peers), b.broker.version(), b.broker.pid, b.work))
    if "trainq-persistent" in a.peers and b.persistent_available():
        say("trainq Persistent: " + b.persistent_note)
    try:
        wall = b.run()
    finally:
        if "original" in a.peers:
            # the original design's dead-letter queue and exchange, when nothing is in or on them
            b.broker.delete_dead_letter_queue()
    summary = summarise(b.runs)
    doc = {
        "date": date, "command": a.command, "size": a.size, "rounds": a.rounds, "slots": SLOTS,
        "sizes": {k: v for k, v in b.sizes.items() if k in a.workloads}, "peers": a.peers,
        "machine": machine(), "broker": b.broker.version(), "uri": re.sub(r":[^:@/]*@", ":***@", a.uri),
        "loadBefore": load_before, "loadAfter": loadavg(), "wallSeconds": round(wall, 1),
        "persistentNote": b.persistent_note or None, "stoppedEarly": b.stopped_early,
        "summary": summary, "runs": b.runs,
        "failures": [{k: f.get(k) for k in ("peer", "workload", "round", "error")} for f in b.failures],
    }
    doc["targets"] = targets(summary, b.persistent_note)
    os.makedirs(a.out, exist_ok=True)
    prefix = os.path.join(a.out, date)
    try:
        doc["plots"] = plots(b, summary, prefix)
    except Exception as e:  # a plot is not a result; its failure is reported, not hidden
        doc["plots"] = []
        doc["failures"].append({"peer": "plots", "workload": "-", "round": 0, "error": repr(e)})
        b.failures.append({"peer": "plots", "workload": "-", "round": 0, "error": repr(e)})
    for r in doc["runs"]:
        r.pop("runDir", None)
    with open(prefix + ".json", "w") as f:
        json.dump(doc, f, indent=1)
    with open(prefix + ".md", "w") as f:
        f.write(markdown(doc))
    say("")
    say(open(prefix + ".md").read())
    say("wrote %s.json, %s.md%s (%.0f s)" % (prefix, prefix, "".join(", " + p["file"] for p in doc["plots"]), wall))
    if not a.keep and not b.failures:
        shutil.rmtree(b.work, ignore_errors=True)
    elif b.failures:
        say("logs of the runs kept in %s" % b.work)
    if b.failures:
        say("%d run(s) failed" % len(b.failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
