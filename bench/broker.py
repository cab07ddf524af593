"""The Celery broker alone: tasks per second and publish -> start latency through a real worker.

    .venv/bin/python bench/broker.py [--broker URL] [--n 100] [--burst 300]

Starts the worker as `make run` does (`celery -A portal worker -B --concurrency=2`, this module
added with --include for its one task) on a fresh SQLite database and, unless --broker names
another (`redis://127.0.0.1:6379/12`), a fresh embedded broker file, both in a temporary
directory. The task appends its start time to a file, then sleeps --task-ms (0: the broker
alone; ~30 ms: about what a webhook delivery to a local receiver costs). Then:

1. latency: N tasks one at a time, each published 0-200 ms (at random) after the previous one
   started, so publishes fall anywhere in the worker's polling cycle; time from just before
   the publish to the first line of the task;
2. throughput: a burst of tasks published at once from one thread, as a web process would;
   tasks per second from the first publish to the last task's start, and publishes per second.
"""

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from celery import shared_task

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TASK = "bench.broker.started"


@shared_task(name=TASK)
def started(sent: float, log: str, work: float = 0) -> None:
    now = time.time()
    with open(log, "a") as f:  # one short append per task: whole lines, whichever process
        f.write(f"{sent} {now}\n")
    time.sleep(work)


def starts(log: Path) -> list[tuple[float, float]]:
    if not log.exists():
        return []
    lines = log.read_text().splitlines()
    return [(float(a), float(b)) for a, b in (line.split() for line in lines if line)]


def wait_for(log: Path, count: int, timeout: float) -> list[tuple[float, float]]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        done = starts(log)
        if len(done) >= count:
            return done
        time.sleep(0.002)
    raise SystemExit(f"only {len(starts(log))} of {count} tasks started within {timeout} s")


def percentiles(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p99 = ms[max(0, int(len(ms) * 0.99) - 1)]
    p50 = statistics.median(ms)
    return f"{name}: n={len(ms)} p50={p50:.1f} ms p99={p99:.1f} ms max={ms[-1]:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--broker", default="", help="a broker URL; default: a fresh embedded one")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--burst", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--task-ms", type=float, default=0)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-broker-"))
    broker = args.broker or f"sqla+sqlite:///{tmp}/broker.sqlite3"
    os.environ.update(
        {
            "HANDOFF_VAR_DIR": str(tmp),
            "DATABASE_URL": f"sqlite:///{tmp}/db.sqlite3",
            "CELERY_BROKER_URL": broker,
            "SECRET_KEY": "bench-only",
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "portal.settings",
        }
    )
    if broker.startswith("redis://"):
        subprocess.run([BIN / "celery", "-A", "portal", "purge", "-f"], cwd=ROOT, check=True)
    subprocess.run(
        [BIN / "python", "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import portal.celery  # noqa: F401  (the app this process publishes with)
    from handoff.delivery.publish import publish

    worker_log = tmp / "worker.log"
    with open(worker_log, "w") as out:
        worker = subprocess.Popen(
            [
                *(BIN / "celery", "-A", "portal", "worker", "-B", "--loglevel", "INFO"),
                *("--concurrency", str(args.concurrency), "--include", "bench.broker"),
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: pool and beat processes included
        )
    try:
        deadline = time.time() + 60
        while " ready." not in worker_log.read_text():
            if worker.poll() is not None or time.time() > deadline:
                raise SystemExit("the worker did not start:\n" + worker_log.read_text()[-3000:])
            time.sleep(0.05)
        print(
            f"broker={broker.split(':')[0]} concurrency={args.concurrency} task={args.task_ms} ms"
        )
        work = args.task_ms / 1000

        log = tmp / "warm-up.log"
        for _ in range(3):  # connections, imports, the pool's first task
            publish(TASK, [time.time(), str(log)])
        wait_for(log, 3, 30)

        # A publish that fails (publish() logs why and returns False) is counted, not retried:
        # the portal's sweep would republish it seconds later.
        log, publishes, failed = tmp / "latency.log", [], 0
        for _ in range(args.n):
            time.sleep(random.uniform(0, 0.2))
            sent = time.time()
            failed += not publish(TASK, [sent, str(log), work])
            publishes.append(time.time() - sent)
            wait_for(log, len(publishes) - failed, 30)
        print(percentiles("publish -> task starts, one at a time", [b - a for a, b in starts(log)]))
        print(percentiles("publish call (the caller's wait)", publishes))
        print(f"  failed publishes: {failed}")

        log, failed = tmp / "burst.log", 0
        first = time.time()
        for _ in range(args.burst):
            failed += not publish(TASK, [time.time(), str(log), work])
        published = time.time() - first
        done = wait_for(log, args.burst - failed, 600)
        rate = len(done) / (max(b for _, b in done) - first)
        print(f"burst of {args.burst}: {rate:.1f} tasks/s (first publish -> last start)")
        print(f"  published in {published:.2f} s ({args.burst / published:.0f} publishes/s)")
        print(f"  failed publishes: {failed}")
        print(percentiles("burst: publish -> task starts", [b - a for a, b in done]))
    finally:
        # Measured: a warm shutdown would only cost time.
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
