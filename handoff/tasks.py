"""Celery tasks: thin. Each takes ids, calls a service, and is safe to run twice.

Nothing imports this module: tasks are sent by name from handoff/delivery/publish.py, and the
periodic ones by portal/settings.py's beat schedule, so the names here never change.
task_acks_late and task_reject_on_worker_lost (settings) put a message back when its worker
dies; the sweep catches whatever the broker lost anyway (it reads the database).
"""

from typing import Any

from celery import shared_task

from handoff.delivery import http as delivery
from handoff.delivery import publish
from handoff.delivery.http import Outcome
from handoff.services import assignment, webhooks
from handoff.services.dispatch import handoff_deliver
from handoff.services.idempotency import idempotency_keys_expire
from handoff.services.retention import handoffs_purge_expired
from handoff.services.sweep import sweep_run


@shared_task(name=publish.DELIVER)
def deliver(handoff_id: str) -> str:
    return handoff_deliver(handoff_id=handoff_id)


@shared_task(name=publish.EXPIRE_OFFER)
def expire_offer(offer_id: int) -> bool:
    return assignment.offer_expire(offer_id=offer_id)


@shared_task(name=publish.SEND_STATUS_CALLBACK, bind=True, max_retries=None)
def send_status_callback(self: Any, handoff_id: str, state: str) -> str:
    attempt = self.request.retries + 1
    result = webhooks.status_callback_send(handoff_id=handoff_id, state=state, attempt=attempt)
    if result.outcome == Outcome.RETRY:
        delay = delivery.retry_delay(attempt, retry_after=result.retry_after)
        if delay is not None:
            raise self.retry(countdown=delay)
    return str(result.outcome)


@shared_task(name="handoff.tasks.sweep")
def sweep() -> dict[str, int]:
    return sweep_run()


@shared_task(name="handoff.tasks.expire_idempotency_keys")
def expire_idempotency_keys() -> int:
    return idempotency_keys_expire()


@shared_task(name="handoff.tasks.purge_expired")
def purge_expired() -> int:
    # Data retention (handoff/services/retention.py): HANDOFF_RETENTION_DAYS, 0 disables.
    return handoffs_purge_expired()
