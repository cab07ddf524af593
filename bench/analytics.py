"""Analytics at scale: the dashboard and the CSV export over 100,000 handoffs.

    .venv/bin/python bench/analytics.py [--handoffs 100000] [--days 30] [--renders 5] [--reuse]

Uses a SQLite file under var/ by default (recreated each run), or BENCH_DATABASE_URL
(e.g. postgres://postgres@127.0.0.1:5432/handoff_bench_analytics; the database must exist, its
handoffs are replaced). Prints the dashboard's render time (target: under 1 s), the CSV
export's rows per second (target: at least 20,000) and the export's peak Python memory, which
stays flat because the rows are streamed. docs/performance.md records the figures.
"""

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
import tracemalloc
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_FILE = ROOT / "var" / "bench_analytics.sqlite3"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{DB_FILE}")
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ["DEBUG"] = "0"  # DEBUG would keep every query in memory
os.environ["ALLOWED_HOSTS"] = "testserver"

QUEUES = ["general", "orders", "returns", "payments", "vip-concierge"]
CHANNELS = ["webchat", "sms", "whatsapp", "email"]
TOPICS = ["order-status", "refund", "payment-problem", "delivery-issue", "store-hours", None]
RULES = ["VIP concierge", "Large refund", "Payment problems", "Returns", "Orders", None]
REASONS = ["requested_by_customer", "topic_transfer", "not_understood", "bot_error"]
STATUSES = [
    ("resolved", 60),
    ("delivered", 12),
    ("rejected", 9),
    ("cancelled", 8),
    ("failed", 3),
    ("queued", 8),
]


def setup_django(*, reuse: bool) -> None:
    if not os.environ.get("BENCH_DATABASE_URL") and not reuse:
        DB_FILE.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{DB_FILE}{suffix}").unlink(missing_ok=True)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def populate(n: int, days: int) -> None:
    from django.contrib.auth.models import Group
    from django.db import connection, transaction
    from django.utils import timezone

    from handoff.models import Bot, Channel, Handoff, HandoffEvent, Queue, Topic, User

    # The filter form offers what is configured: the keys the handoffs use.
    for key in CHANNELS:
        Channel.objects.get_or_create(key=key, defaults={"name": key, "kind": "custom"})
    for key in QUEUES:
        Queue.objects.get_or_create(key=key, defaults={"name": key})
    for topic in TOPICS:
        if topic:
            Topic.objects.get_or_create(key=topic, defaults={"name": topic})
    HandoffEvent.objects.all().delete()
    Handoff.objects.all().delete()
    bot, _ = Bot.objects.get_or_create(key="bench-bot", defaults={"name": "Bench bot"})
    analyst, created = User.objects.get_or_create(username="bench-analyst")
    if created:
        analyst.groups.add(Group.objects.get(name="analyst"))
    rng = random.Random(8)
    statuses = [s for s, _ in STATUSES]
    weights = [w for _, w in STATUSES]
    end = timezone.now().replace(microsecond=0)
    span = days * 86400
    rows = []
    started = time.perf_counter()
    for i in range(n):
        created_at = end - dt.timedelta(seconds=rng.uniform(0, span))
        status = rng.choices(statuses, weights)[0]
        queued = None if status == "rejected" else created_at
        offered = assigned = closed = None
        if status in ("resolved", "cancelled") and queued is not None:
            offered = queued + dt.timedelta(seconds=rng.expovariate(1 / 60))
            if status == "resolved" or rng.random() < 0.3:
                assigned = offered + dt.timedelta(seconds=rng.uniform(3, 40))
        if status != "queued":
            closed = (assigned or queued or created_at) + dt.timedelta(
                seconds=rng.expovariate(1 / 400)
            )
        rows.append(
            Handoff(
                id=uuid.uuid4(),
                bot=bot,
                conversation_id=f"bench-{i}",
                channel=rng.choice(CHANNELS),
                topic=rng.choice(TOPICS),
                rule=rng.choice(RULES),
                reason=rng.choice(REASONS),
                queue_key=rng.choice(QUEUES),
                status=status,
                priority=rng.choice([1, 5, 20, 100]),
                created_at=created_at,
                updated_at=closed or created_at,
                queued_at=queued,
                offered_at=offered,
                assigned_at=assigned,
                closed_at=closed,
                last_error="HTTP 503" if status == "failed" else "",
            )
        )
        if len(rows) == 5000:
            with transaction.atomic():
                Handoff.objects.bulk_create(rows)
            rows = []
    Handoff.objects.bulk_create(rows)
    if connection.vendor == "postgresql":
        # What autovacuum does soon after a bulk load: statistics, and the visibility map
        # that lets the dashboard's queries read the covering index alone.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE handoff_handoff")
    print(f"created {n:,} handoffs over {days} days in {time.perf_counter() - started:.1f} s")


def bench(days: int, renders: int) -> dict[str, float]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from handoff.models import User

    client = Client()
    client.force_login(User.objects.get(username="bench-analyst"))
    today = timezone.localdate()
    query = {"from": (today - dt.timedelta(days=days)).isoformat(), "to": today.isoformat()}
    client.get("/analytics/", query)  # warm up: templates, caches, the database's pages

    results: dict[str, float] = {}
    for label, extra in (("all", {}), ("queue=orders", {"queue": "orders"})):
        times, cpu = [], []
        for _ in range(renders):
            started, started_cpu = time.perf_counter(), time.process_time()
            response = client.get("/analytics/", {**query, **extra})
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
            assert response.status_code == 200, response.status_code
            assert b'id="totals"' in response.content, "the filters were refused"
        results[f"dashboard {label} (median s)"] = statistics.median(times)
        results[f"dashboard {label} (max s)"] = max(times)
        # SQLite runs in this process: CPU time is the render's cost on an idle machine.
        results[f"dashboard {label} (median CPU s)"] = statistics.median(cpu)
    with CaptureQueriesContext(connection) as ctx:
        client.get("/analytics/", query)
    results["dashboard queries"] = len(ctx.captured_queries)

    def export() -> tuple[int, int]:
        response = client.get("/analytics/export.csv", query)
        lines = size = 0
        for chunk in response.streaming_content:  # type: ignore[attr-defined]
            lines += chunk.count(b"\n")
            size += len(chunk)
        return lines - 1, size  # less the header

    started, started_cpu = time.perf_counter(), time.process_time()
    rows, size = export()
    elapsed = time.perf_counter() - started
    elapsed_cpu = time.process_time() - started_cpu
    results["export rows"] = rows
    results["export seconds"] = elapsed
    results["export rows/s"] = rows / elapsed
    results["export rows/CPU s"] = rows / elapsed_cpu
    results["export MB"] = size / 1e6
    # Again under tracemalloc (which slows it down): the peak shows nothing is held.
    tracemalloc.start()
    export()
    results["export peak Python memory MB"] = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--handoffs", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--renders", type=int, default=5)
    parser.add_argument(
        "--reuse", action="store_true", help="keep the handoffs of the previous run"
    )
    args = parser.parse_args()
    setup_django(reuse=args.reuse)
    from django.db import connection

    from handoff.models import Handoff

    if not args.reuse or Handoff.objects.count() != args.handoffs:
        populate(args.handoffs, args.days)
    print(
        f"database: {connection.vendor}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    results = bench(args.days, args.renders)
    width = max(len(k) for k in results)
    for key, value in results.items():
        print(
            f"{key:<{width}}  {value:,.3f}"
            if isinstance(value, float)
            else f"{key:<{width}}  {value:,}"
        )
    render = results["dashboard all (median s)"]
    rate = results["export rows/s"]
    print(
        f"dashboard < 1 s: {'yes' if render < 1 else 'NO'}; export >= 20,000 rows/s: "
        f"{'yes' if rate >= 20_000 else 'NO'}"
    )


if __name__ == "__main__":
    main()
