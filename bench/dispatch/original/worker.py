"""The original single-box design's worker, reproduced from its design document for the benchmark.

As there: pika's BlockingConnection, a durable queue with a dead-letter exchange and a 3-minute
message TTL, prefetch 1, manual ack after the task, nack with requeue on an exception, the worker
loop in a thread guarded against exceptions, and a status thread logging every 10 s. Sixteen of
these processes run side by side (the design runs them under supervisord; the benchmark starts
them itself, as `numprocs=16` would). As in the design, the task is a function called in the
worker process (its `dummy_train()`), here workload.Recorder, which notes the task's own start
and end. Only what the benchmark needs is parameterised: the broker URI and the queue name (one
per run), the workload and the log directory.
"""
import logging
import os
import re
import sys
import threading
import time

import pika

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from workload import Recorder  # noqa: E402

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

URI = os.environ["BENCH_AMQP_URI"]
QUEUE = os.environ.get("BENCH_QUEUE", "aiv_train_queue")
args = {
    'x-dead-letter-exchange': 'dlx_exchange',  # a failed message goes to dlx_exchange
    'x-message-ttl': 180000  # a message lives 3 minutes (180000 ms) on the queue
}

recorder = Recorder(os.environ["BENCH_LOG_DIR"], os.environ["BENCH_WORKLOAD"], os.getpid())

# task count and total processing time, for the status log
task_count = 0
total_processing_time = 0
worker_status_interval = 10  # seconds between status lines


def create_channel():
    connection = pika.BlockingConnection(pika.URLParameters(URI))
    channel = connection.channel()
    return connection, channel


def dummy_train(body):
    """The training: the benchmark's task (the design's dummy_train() slept 3 s)."""
    index = int(re.search(r"(\d+)$", body.decode()).group(1))
    recorder.run(index)


def process_task(ch, method, properties, body):
    """Runs a task from the queue; ACK on success, NACK with requeue on failure."""
    global task_count, total_processing_time
    try:
        logging.info(f"Processing task: {body.decode()}")
        started = time.time()

        dummy_train(body)

        # ACK on success: the broker removes the message
        ch.basic_ack(delivery_tag=method.delivery_tag)
        task_count += 1
        total_processing_time += time.time() - started
        logging.info("Task processed successfully.")

    except Exception as e:
        logging.error(f"Error processing task: {e}")
        # on failure, NACK with requeue=True puts the task back on the queue
        ch.basic_nack(delivery_tag=method.delivery_tag, requeue=True)


def worker_thread():
    """Consumes tasks one at a time; an exception does not end the thread silently."""
    try:
        connection, channel = create_channel()
        # durable, so that the queue survives a broker restart
        channel.queue_declare(queue=QUEUE, durable=True, arguments=args)
        # the dead-letter queue behind dlx_exchange
        channel.queue_declare(queue='dlx_queue', durable=True)
        channel.exchange_declare(exchange='dlx_exchange', exchange_type='direct')
        channel.queue_bind(exchange='dlx_exchange', queue='dlx_queue')
        # one task at a time
        channel.basic_qos(prefetch_count=1)
        channel.basic_consume(queue=QUEUE, on_message_callback=process_task)

        logging.info("Worker started. Waiting for tasks...")
        channel.start_consuming()

    except Exception as e:
        logging.error(f"Unexpected error in worker thread: {e}")


def worker_status():
    """Logs the worker's state (tasks processed, average time) every interval."""
    while True:
        avg_processing_time = total_processing_time / task_count if task_count > 0 else 0
        logging.info(f"Worker status: Tasks processed: {task_count}, "
                     f"Average processing time: {avg_processing_time:.2f} seconds.")
        time.sleep(worker_status_interval)


if __name__ == "__main__":
    threading.Thread(target=worker_status, daemon=True).start()
    t = threading.Thread(target=worker_thread)
    t.start()
    t.join()
