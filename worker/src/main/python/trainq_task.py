"""Tasks of a trainq job, for Python programs. No dependencies; Python 3.7 and later.

The worker puts this module on the task's PYTHONPATH. Two forms:

    from trainq_task import tasks

    model = load_model()              # once per process in Persistent mode
    for task in tasks():
        train(model, task.params)     # an exception fails the attempt, with its traceback

    from trainq_task import serve

    def run(task):
        train(model, task.params)     # an exception fails this attempt; the process lives on

    serve(run)

In a TrainingJob with ``spec.runner.mode: Persistent`` the worker starts the program once per slot
and hands it task after task over the runner protocol (docs/runner-protocol.md). With ``tasks()``
an uncaught exception is reported as the attempt's failure and the process exits (the worker starts
a fresh one for the next task); ``serve(fn)`` reports it and goes on with the next task. In Process
mode, or run by hand with the TRAINQ_TASK_* variables, both yield the one task of the environment.

During a task, TRAINQ_TASK_INDEX, TRAINQ_TASK_ATTEMPT, TRAINQ_TASK_PARAMS and
TRAINQ_TASK_PARAMS_FILE in os.environ describe it, as they do for a process per attempt.
"""

import json
import os
import socket
import sys
import traceback

__all__ = ["Task", "tasks", "serve", "ProtocolError"]

PROTOCOL = 1
SOCKET_ENV = "TRAINQ_RUNNER_SOCKET"
# one environment string is limited to 128 KiB by Linux; the worker keeps to the same bound
_MAX_PARAMS_ENV = 64 * 1024
_MAX_ERROR = 64 * 1024


class ProtocolError(Exception):
    """The worker sent something this helper does not understand."""


class Task:
    """One attempt of one task: ``index``, ``attempt``, ``params`` (a dict), ``params_file`` (a path)."""

    __slots__ = ("index", "attempt", "params", "params_file")

    def __init__(self, index, attempt, params, params_file):
        self.index = index
        self.attempt = attempt
        self.params = params
        self.params_file = params_file

    def __repr__(self):
        return "Task(index=%d, attempt=%d, params=%r)" % (self.index, self.attempt, self.params)


def _set_env(task):
    os.environ["TRAINQ_TASK_INDEX"] = str(task.index)
    os.environ["TRAINQ_TASK_ATTEMPT"] = str(task.attempt)
    text = json.dumps(task.params, separators=(",", ":"))
    if len(text) <= _MAX_PARAMS_ENV:
        os.environ["TRAINQ_TASK_PARAMS"] = text
    else:
        os.environ.pop("TRAINQ_TASK_PARAMS", None)
    if task.params_file:
        os.environ["TRAINQ_TASK_PARAMS_FILE"] = task.params_file


def _env_task():
    """The task of a process per attempt: from TRAINQ_TASK_* (the parameters file when the variable is left out)."""
    try:
        index = int(os.environ["TRAINQ_TASK_INDEX"])
    except KeyError:
        raise RuntimeError("trainq_task: neither %s nor TRAINQ_TASK_INDEX is set: run this program as a trainq task"
                           % SOCKET_ENV) from None
    params_file = os.environ.get("TRAINQ_TASK_PARAMS_FILE")
    text = os.environ.get("TRAINQ_TASK_PARAMS")
    if text is None and params_file:
        with open(params_file, encoding="utf-8") as f:
            text = f.read()
    return Task(index, int(os.environ.get("TRAINQ_TASK_ATTEMPT", "1")), json.loads(text or "{}"), params_file)


class _Connection:
    """This process's connection to its worker: line-delimited JSON over a Unix socket."""

    def __init__(self, path):
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.connect(path)
        self._in = self._sock.makefile("rb")
        self.current = None
        self._send({"type": "ready", "protocol": PROTOCOL, "pid": os.getpid()})

    def _send(self, message):
        # what the task printed belongs to it: on its way to the worker's log before the answer
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        self._sock.sendall(json.dumps(message, separators=(",", ":")).encode("utf-8") + b"\n")

    def next_task(self):
        """The next task, or None when the worker has no more for this process (end of the stream)."""
        line = self._in.readline()
        if not line:
            return None
        try:
            m = json.loads(line)
        except ValueError as e:
            raise ProtocolError("the worker sent a line that is not JSON (%s): %r" % (e, line[:200])) from None
        if not isinstance(m, dict) or m.get("type") != "task":
            raise ProtocolError("expected a 'task' message from the worker, got %r" % (line[:200],))
        try:
            t = Task(int(m["index"]), int(m["attempt"]), m.get("params") or {}, m.get("paramsFile"))
        except (KeyError, TypeError, ValueError) as e:
            raise ProtocolError("a 'task' message without a valid %s: %r" % (e, line[:200])) from None
        _set_env(t)
        self.current = t
        return t

    def done(self):
        t, self.current = self.current, None
        self._send({"type": "done", "index": t.index, "attempt": t.attempt})

    def failed(self, error, exiting):
        t, self.current = self.current, None
        if len(error) > _MAX_ERROR:
            error = "..." + error[-_MAX_ERROR:]
        self._send({"type": "failed", "index": t.index, "attempt": t.attempt, "error": error, "exiting": exiting})

    def close(self):
        try:
            self._sock.close()
        except OSError:
            pass


_connection = None


def _connect():
    global _connection
    if _connection is None:
        _connection = _Connection(os.environ[SOCKET_ENV])
    return _connection


def _report_uncaught(exc_type, exc, tb, _previous=sys.excepthook):
    """An exception out of the task loop: the attempt failed with its traceback; then Python's own report."""
    c = _connection
    if c is not None and c.current is not None and not issubclass(exc_type, KeyboardInterrupt):
        try:
            c.failed("".join(traceback.format_exception(exc_type, exc, tb)).rstrip(), True)
        except OSError:
            pass
    _previous(exc_type, exc, tb)


def tasks():
    """Yields this process's tasks, one after another.

    A task is done when the loop body finishes and asks for the next one. An exception that leaves the
    loop fails the attempt with its traceback, and the process then exits as Python does; leaving the
    loop any other way during a task (break, sys.exit, a signal) ends the attempt as runner-exited.
    """
    if not os.environ.get(SOCKET_ENV):
        yield _env_task()
        return
    c = _connect()
    sys.excepthook = _report_uncaught
    while True:
        t = c.next_task()
        if t is None:
            return
        try:
            yield t
        except GeneratorExit:
            # the loop was left during the task; the worker sees the runner go
            c.close()
            raise
        c.done()


def serve(fn):
    """Calls ``fn(task)`` for each task; an exception fails that attempt only, and the process goes on.

    KeyboardInterrupt and SystemExit still end the process (the attempt ends as runner-exited).
    """
    if not os.environ.get(SOCKET_ENV):
        fn(_env_task())
        return
    c = _connect()
    while True:
        t = c.next_task()
        if t is None:
            return
        try:
            fn(t)
        except Exception:
            c.failed(traceback.format_exc().rstrip(), False)
        else:
            c.done()
