"""The original design's sender, reproduced from its design document for the benchmark.

As there: a BlockingConnection, the same queue declaration, one basic_publish per task with the
body "Model Training <i>" (transient messages, no publisher confirms), a line printed per message.
The design paced its 100-message test with a 0.1 s sleep between messages; the benchmark passes
--interval 0 and publishes back to back.

    send.py <count> [--interval SECONDS]
"""
import argparse
import os
import time

import pika

URI = os.environ["BENCH_AMQP_URI"]
QUEUE = os.environ.get("BENCH_QUEUE", "aiv_train_queue")
args = {
    'x-dead-letter-exchange': 'dlx_exchange',
    'x-message-ttl': 180000
}


def send_bulk_messages(message_count=100, interval=0.1):
    """Publishes message_count tasks to the queue."""
    connection = pika.BlockingConnection(pika.URLParameters(URI))
    channel = connection.channel()

    channel.queue_declare(queue=QUEUE, durable=True, arguments=args)

    for i in range(message_count):
        message = f"Model Training {i}"
        channel.basic_publish(exchange='',
                              routing_key=QUEUE,
                              body=message)
        print(f"Sent {message}")
        if interval > 0:
            time.sleep(interval)
    connection.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("count", type=int, nargs="?", default=100)
    p.add_argument("--interval", type=float, default=0.1)
    a = p.parse_args()
    t0 = time.monotonic()
    send_bulk_messages(a.count, a.interval)
    print(f"published {a.count} in {time.monotonic() - t0:.3f} s")
