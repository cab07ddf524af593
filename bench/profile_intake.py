"""Where a request's time goes: py-spy samples gunicorn's workers while bench/intake.py's
clients drive POST /api/v1/handoffs (or the floor), and the samples are summed by part.

    .venv/bin/python bench/profile_intake.py [--seconds 10] [--path /api/v1/handoffs]

Same machine, database and body as bench/intake.py (run that first: it prepares the
database). Needs py-spy (the dev extra) and root or ptrace rights. Wall-clock samples
(waiting for PostgreSQL included); samples of a worker waiting for a request are left out.
"""

import argparse
import collections
import multiprocessing
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import intake

# (part, a frame that marks it), checked in this order: the first match names a sample.
PARTS = [
    ("waiting for a request", ("gunicorn/workers/sync.py", "wait")),
    ("key + published version (1 query)", ("handoff/api/auth.py", "authenticate")),
    ("throttle", ("handoff/api/throttling.py", "allow_request")),
    ("read JSON", ("handoff/api/json_codec.py", "parse")),
    ("body validation", ("handoff/engine/body.py", "validate_handoff_body")),
    ("configuration snapshot", ("handoff/config/snapshot.py", "published_snapshot")),
    ("queue states (1 query)", ("handoff/selectors/handoffs.py", "queue_states")),
    ("routing and mapping", ("handoff/engine/routing.py", "decide")),
    ("store handoff + events", ("handoff/services/intake.py", "handoff_create")),
    ("publish the task", ("handoff/delivery/publish.py", "publish")),
    ("answer (position, wait, body)", ("handoff/api/presenters.py", "created_body")),
    ("write JSON", ("handoff/api/json_codec.py", "render")),
    ("floor: insert", ("django/db/models/query.py", "create")),
    ("floor: publish", ("celery/app/base.py", "send_task")),
    ("floor: validate", ("rest_framework/serializers.py", "is_valid")),
    ("DRF around the view", ("rest_framework/views.py", "dispatch")),
    ("Django: middleware, URL, response", ("django/core/handlers/base.py", "get_response")),
]


def part_of(stack: str) -> str:
    # py-spy's frames read "Class.function (path/file.py:line)".
    frames = [frame.partition(" (") for frame in stack.split(";")]
    for name, (where, function) in PARTS:
        for qualified, _, place in frames:
            if qualified.rpartition(".")[2] == function and where in place:
                return name
    return "gunicorn: HTTP parsing, writing"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--path", default="/api/v1/handoffs")
    args = parser.parse_args()
    key = intake.manage("create_bot_key", "retail-bot").strip().splitlines()[-1]
    server = subprocess.Popen(
        [
            *(str(intake.ROOT / ".venv" / "bin" / "gunicorn"), "portal.wsgi"),
            *("-b", f"127.0.0.1:{intake.PORT}", "-w", str(args.workers)),
            *("--log-level", "warning"),
        ],
        cwd=intake.ROOT,
        env=intake.ENV,
    )
    stop = multiprocessing.Event()
    drain = multiprocessing.Process(target=intake.agents, args=(stop,))
    drain.start()
    out = Path(tempfile.mkdtemp()) / "samples.txt"
    try:
        time.sleep(3)
        intake.drive(args.path, key, 2, args.clients, "warm-up")
        spy = subprocess.Popen(
            [
                *(str(intake.ROOT / ".venv" / "bin" / "py-spy"), "record", "--idle"),
                *("--subprocesses", "--format", "raw", "--rate", "250"),
                *("--duration", str(int(args.seconds)), "--pid", str(server.pid)),
                *("-o", str(out), "--nonblocking"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        result = intake.drive(args.path, key, args.seconds, args.clients, "profiled")
        spy.wait()
    finally:
        stop.set()
        drain.join()
        server.terminate()
        server.wait()
    totals: collections.Counter[str] = collections.Counter()
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack.count("process ") < 2:
            continue  # the arbiter, not a worker
        totals[part_of(stack)] += int(count)
    busy = sum(n for name, n in totals.items() if name != "waiting for a request")
    per_request_ms = 1000 * busy / 250 / max(result["n"], 1)
    print(
        f"{args.path}: {result['rps']:.0f} req/s under py-spy, "
        f"{per_request_ms:.2f} ms of worker time per request"
    )
    for name, n in totals.most_common():
        if name != "waiting for a request":
            print(f"  {name:38} {100 * n / busy:5.1f} %  {per_request_ms * n / busy:6.2f} ms")


if __name__ == "__main__":
    main()
