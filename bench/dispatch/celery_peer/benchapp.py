"""Celery 5 as a peer: late acks, prefetch multiplier 1, a quorum queue, publisher confirms.

The worker runs with the prefork pool and 16 children (see bench.py); each child runs tasks in
its own process, and pays a heavy workload's initialisation once, in its first task.
    celery -A benchapp worker -P prefork -c 16 ...      the worker
    python benchapp.py <count>                           publishes <count> tasks
"""
import os
import sys
import time

from celery import Celery
from kombu import Queue

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from workload import Recorder  # noqa: E402

QUEUE = os.environ.get("BENCH_QUEUE", "celery-bench")

app = Celery("benchapp", broker=os.environ["BENCH_AMQP_URI"])
app.conf.update(
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_queues=[Queue(QUEUE, queue_arguments={"x-queue-type": "quorum"}, durable=True)],
    task_default_queue=QUEUE,
    task_ignore_result=True,
    broker_transport_options={"confirm_publish": True},
    broker_connection_retry_on_startup=True,
    worker_enable_remote_control=False,
    worker_hijack_root_logger=False,
)

_recorder = None


@app.task(name="bench.run")
def run(index):
    global _recorder
    if _recorder is None:
        _recorder = Recorder(os.environ["BENCH_LOG_DIR"], os.environ["BENCH_WORKLOAD"], os.getpid())
    _recorder.run(index)


if __name__ == "__main__":
    count = int(sys.argv[1])
    t0 = time.monotonic()
    for i in range(count):
        run.delay(i)
    print(f"published {count} in {time.monotonic() - t0:.3f} s")
