"""Planning an intake: what a configuration refuses in a valid handoff body, and how it routes.

Pure. The API, the Bot Framework endpoint, the conversation runtime and the simulator all plan
here, so that each says the same thing for the same body: refusals are domain errors (the API
answers them with handoff/errors.py HTTP_STATUS), and the decision is the engine's (routing.py).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from handoff.engine.routing import Decision, QueueState, decide
from handoff.errors import Invalid, Refused, Unavailable, Unprocessable


def gettext_noop(message: str) -> str:
    """Django's marker, without Django: makemessages finds the message by this name. Bots get
    it in English; the portal translates it where it shows it (docs/i18n.md)."""
    return message


class NotConfigured(Unavailable):
    """Nothing to route with: nothing published yet, or a draft that would not publish."""

    def __init__(
        self,
        message: str = gettext_noop("No configuration has been published yet; publish one first."),
        problems: Sequence[Any] = (),
    ) -> None:
        super().__init__(message, code="not_configured")
        self.problems = list(problems)  # the draft's ConfigErrors


class IntakeConfig(Protocol):
    """What planning needs of a configuration (handoff/config/snapshot.py Snapshot has it)."""

    @property
    def document(self) -> dict[str, Any]: ...
    @property
    def channels(self) -> dict[str, dict[str, Any]]: ...
    @property
    def topics(self) -> dict[str, dict[str, Any]]: ...
    @property
    def bots(self) -> dict[str, dict[str, Any]]: ...


Config = TypeVar("Config", bound=IntakeConfig)


def intake_check(
    config: Config | None,
    *,
    bot_key: str,
    channel: str,
    topic: str | None = None,
    any_channel: bool = False,
) -> Config:
    """The configuration, unless it refuses a handoff on `channel` (and `topic`) from the bot.

    `any_channel` skips the bot's channel list (the portal's test bot, which may be newer than
    the configuration). Raises NotConfigured, Invalid (an unknown key) or Refused.
    """
    if config is None:
        raise NotConfigured()
    found = config.channels.get(channel)
    if found is None:
        raise Invalid("Unknown channel.", fields={"channel": "Unknown channel key."})
    if topic is not None and topic not in config.topics:
        raise Invalid("Unknown topic.", fields={"topic": "Unknown topic key."})
    if not found.get("enabled", True):
        raise Refused(f"The channel {found['key']} is disabled.", code="channel_disabled")
    allowed = config.bots.get(bot_key, {}).get("channels", [])
    if found["key"] not in allowed and not any_channel:
        raise Refused(
            f"This bot may not hand off on channel {found['key']}.", code="channel_not_allowed"
        )
    return config


@dataclass(frozen=True)
class IntakePlan(Generic[Config]):
    config: Config  # the configuration routed with
    decision: Decision
    queue_states: dict[str, QueueState]  # as routed with
    # Required context missing or invalid: the decision is still explained, and the caller
    # raises it (unless, for the API, an open handoff answers instead).
    refusal: Unprocessable | None


def intake_plan(
    config: Config | None,
    data: dict[str, Any],
    *,
    bot_key: str,
    now: datetime,
    queue_states: Callable[[datetime], dict[str, QueueState]],
    topic_name: str | None = None,
    any_channel: bool = False,
) -> IntakePlan[Config]:
    """Check a valid body (handoff/engine/body.py) against the configuration and route it.

    `queue_states` loads the queues' state, and is called only when nothing was refused.
    `topic_name` is a Bot Framework topic name that matched no topic: kept in the context,
    routed as no topic. Raises what intake_check raises.
    """
    checked = intake_check(
        config,
        bot_key=bot_key,
        channel=data["channel"],
        topic=data.get("topic"),
        any_channel=any_channel,
    )
    routed = dict(data)
    if topic_name is not None:
        routed["topic_name"] = topic_name
    states = queue_states(now)
    decision = decide(checked.document, routed, bot_key=bot_key, queue_states=states, now=now)
    refusal = None
    if decision.errors:
        refusal = Unprocessable(
            "Required context fields are missing or invalid.",
            code="context_invalid",
            fields={f"context.{target}": message for target, message in decision.errors.items()},
        )
    return IntakePlan(config=checked, decision=decision, queue_states=states, refusal=refusal)
