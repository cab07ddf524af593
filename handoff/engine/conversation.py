"""The conversation runtime: runs authored topics over a config document. Pure, no ORM, no I/O.

`start` makes a new conversation state; `step` takes one customer message and returns the
bot's replies, the new state and, when a transfer node (or the escalate/fallback system topic)
is reached, the body of the handoff to create, in the shape of `POST /api/v1/handoffs`.
The state is a plain JSON-serialisable dict, so that it can be stored between messages.
docs/conversations.md describes the behaviour; handoff/services/conversations.py stores
conversations and creates the handoff.
"""

import copy
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from difflib import SequenceMatcher, get_close_matches
from typing import Any

from handoff.engine.conditions import MISSING, compile_condition, text_form, to_bool, to_number
from handoff.engine.routing import render_template

ConversationState = dict[str, Any]

GREETING = "Hello! How can I help you today? You can ask for a person at any time."
NOT_UNDERSTOOD = "Sorry, I did not understand that."
DEFAULT_FALLBACK_LIMIT = 2  # "not understood" this many times in a row: escalate
DEFAULT_REPROMPT_LIMIT = 2  # a question re-asked this many times, then: escalate
SYSTEM_TOPICS = ("escalate", "fallback")

# Always trigger the escalate topic, besides its own trigger phrases.
ESCALATE_PHRASES = (
    "talk to a person",
    "talk to a human",
    "talk to someone",
    "speak to a person",
    "speak to an agent",
    "speak to someone",
    "real person",
    "live agent",
    "agent",
    "human",
    "representative",
    "operator",
)

# Fuzzy matching: a phrase matches text whose SequenceMatcher ratio reaches this. 0.8 lets one
# typo through in a five-letter word ("agnet", "refnud") and refuses different short words.
MATCH_THRESHOLD = 0.8
# Words this short must be typed exactly: one letter off is already a different word.
EXACT_BELOW = 4
# Fuzzy matching looks at the first words only, so that a pasted essay costs no more.
MATCH_TOKEN_LIMIT = 40
# A condition that jumps backwards without a question in between would loop forever.
MAX_NODES_PER_STEP = 200
MAX_TRANSCRIPT = 1000
MAX_TEXT = 4000

YES_WORDS = frozenset(("y", "yes", "yeah", "yep", "yup", "sure", "ok", "okay", "true", "1"))
NO_WORDS = frozenset(("n", "no", "nope", "nah", "false", "0"))
EMAIL_RE = re.compile(r"[^@\s<>(),;:\"']+@[^@\s<>(),;:\"']+\.[^@\s<>(),;:\"'.]{2,}")
NUMBER_IN_TEXT_RE = re.compile(r"[+-]?\d[\d,]*(?:\.\d+)?|[+-]?\.\d+")
PHONE_CHARS_RE = re.compile(r"^\+?[\d\s().\-/]{7,30}$")

REPROMPTS = {
    "text": "Please type an answer.",
    "number": "Please answer with a number.",
    "boolean": "Please answer yes or no.",
    "choice": "Please pick one of the options.",
    "email": "Please type a valid email address, such as name@example.com.",
    "phone": "Please type a phone number (7 to 15 digits).",
}


@dataclass
class StepResult:
    replies: list[str]
    state: ConversationState
    transfer: dict[str, Any] | None  # the POST /api/v1/handoffs body, when handing off
    ended: bool


# -- matching -------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Case, accents' composition, punctuation and spacing removed: "Where's my ORDER?!"."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[\W_]+", " ", folded).split())


def _similar(a: str, b: str) -> float:
    if a == b:
        return 1.0
    if len(a) < EXACT_BELOW or len(b) < EXACT_BELOW:
        return 0.0
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    if matcher.real_quick_ratio() < MATCH_THRESHOLD or matcher.quick_ratio() < MATCH_THRESHOLD:
        return 0.0
    return matcher.ratio()


class _Message:
    """A normalised message and its runs of words, built once and compared with every phrase."""

    def __init__(self, text: str) -> None:
        self.text = normalise(text)
        self.padded = f" {self.text} "
        self.words = self.text.split()[:MATCH_TOKEN_LIMIT]
        self._windows: dict[int, list[str]] = {}

    def windows(self, width: int) -> list[str]:
        found = self._windows.get(width)
        if found is None:
            count = max(1, len(self.words) - width + 1)
            found = [" ".join(self.words[i : i + width]) for i in range(count)]
            self._windows[width] = found
        return found


def phrase_score(message: "str | _Message", phrase: str) -> float:
    """How well a normalised phrase occurs in a message, 0..1.

    1.0 when the phrase's words occur as they are; else the best SequenceMatcher ratio
    between the phrase and any run of the message's words of about the phrase's length, so
    that "wheres my ordr" still finds "where is my order".
    """
    said = message if isinstance(message, _Message) else _Message(message)
    if not said.text or not phrase:
        return 0.0
    if f" {phrase} " in said.padded:
        return 1.0
    if len(phrase) < EXACT_BELOW:
        return 0.0
    # The phrase is the matcher's second sequence, whose analysis SequenceMatcher keeps.
    matcher = SequenceMatcher(None, autojunk=False)
    matcher.set_seq2(phrase)
    size = len(phrase.split())
    best = 0.0
    for width in range(max(1, size - 1), size + 2):
        for window in said.windows(width):
            total = len(window) + len(phrase)
            # The ratio can never exceed this: skip windows whose length alone rules them out.
            if len(window) < EXACT_BELOW or 2 * min(len(window), len(phrase)) < (
                MATCH_THRESHOLD * total
            ):
                continue
            matcher.set_seq1(window)
            if matcher.quick_ratio() < MATCH_THRESHOLD:
                continue
            best = max(best, matcher.ratio())
    return best if best >= MATCH_THRESHOLD else 0.0


def _topic_phrases(topic: dict[str, Any]) -> list[str]:
    phrases = [p for p in topic.get("trigger_phrases") or [] if isinstance(p, str)]
    if topic.get("key") == "escalate":
        phrases += ESCALATE_PHRASES
    return [n for n in (normalise(p) for p in phrases) if n]


def match_topic(doc: dict[str, Any], text: str) -> str | None:
    """The key of the topic whose trigger phrase best matches `text` (fallback never does).

    Ties go to the longer phrase (the more specific), then to the escalate topic, then to the
    topic listed first. Phrases present as they are beat any near match, so the fuzzy pass
    (the costly one) runs only when no phrase is present as it is.
    """
    message = _Message(text)
    candidates = [
        (key, phrase)
        for topic in _topics(doc)
        if isinstance(key := topic.get("key"), str) and key != "fallback"
        for phrase in _topic_phrases(topic)
    ]
    exact = [(key, phrase) for key, phrase in candidates if f" {phrase} " in message.padded]
    best: tuple[float, int, int] | None = None
    found = None
    for key, phrase in exact or candidates:
        score = 1.0 if exact else phrase_score(message, phrase)
        if score <= 0:
            continue
        rank = (score, len(phrase), 1 if key == "escalate" else 0)
        if best is None or rank > best:
            best, found = rank, key
    return found


def asks_for_person(doc: dict[str, Any], text: str) -> bool:
    """While a question waits for its answer, only a clear request for a person interrupts it:
    the whole answer is an escalate phrase (typos allowed), or contains one of several words."""
    message = normalise(text)
    escalate = _topic(doc, "escalate") or {"key": "escalate"}
    for phrase in _topic_phrases(escalate):
        if len(phrase.split()) > 1 and f" {phrase} " in f" {message} ":
            return True
        if _similar(message, phrase) >= MATCH_THRESHOLD:
            return True
    return False


# -- answers --------------------------------------------------------------------------------


def parse_answer(node: dict[str, Any], text: str) -> tuple[bool, Any]:
    """(valid, value) of an answer to a question node, by its value_type."""
    kind = node.get("value_type") or "text"
    answer = text.strip()
    if not answer:
        return False, None
    if kind == "number":
        return _parse_number(answer)
    if kind == "boolean":
        value = to_bool(answer)
        if value is None:
            words = normalise(answer).split()
            first = words[0] if words else ""
            value = True if first in YES_WORDS else False if first in NO_WORDS else None
        return value is not None, value
    if kind == "choice":
        return _parse_choice(node, answer)
    if kind == "email":
        found = EMAIL_RE.search(answer)
        return (True, found.group(0)) if found else (False, None)
    if kind == "phone":
        digits = re.sub(r"\D", "", answer)
        if PHONE_CHARS_RE.match(answer) and 7 <= len(digits) <= 15:
            return True, ("+" if answer.startswith("+") else "") + digits
        return False, None
    return True, answer[:MAX_TEXT]


def _parse_number(answer: str) -> tuple[bool, Any]:
    value = to_number(answer.replace(" ", ""))
    if value is None:
        # "about 250 euros", "1,250.50": one number in the text is the answer.
        found = NUMBER_IN_TEXT_RE.findall(answer)
        if len(found) == 1:
            value = to_number(found[0].replace(",", ""))
    return value is not None, value


def _parse_choice(node: dict[str, Any], answer: str) -> tuple[bool, Any]:
    choices = [c for c in node.get("choices") or [] if isinstance(c, str)]
    by_name = {normalise(c): c for c in choices}
    said = normalise(answer)
    if said in by_name:
        return True, by_name[said]
    if said.isdigit() and 1 <= int(said) <= len(choices):
        return True, choices[int(said) - 1]
    close = get_close_matches(said, list(by_name), n=1, cutoff=MATCH_THRESHOLD)
    if close and len(said) >= EXACT_BELOW:
        return True, by_name[close[0]]
    # "I paid by paypal": a choice named in a longer answer, when exactly one is.
    named = [c for name, c in by_name.items() if phrase_score(said, name) >= 1.0]
    return (True, named[0]) if len(named) == 1 else (False, None)


def question_text(node: dict[str, Any]) -> str:
    prompt = str(node.get("prompt") or "")
    choices = [c for c in node.get("choices") or [] if isinstance(c, str)]
    if (node.get("value_type") or "text") == "choice" and choices:
        options = ", ".join(f"{n}. {c}" for n, c in enumerate(choices, 1))
        return f"{prompt} ({options})"
    return prompt


# -- the document ---------------------------------------------------------------------------


def _topics(doc: dict[str, Any]) -> list[dict[str, Any]]:
    topics = doc.get("topics")
    return [t for t in topics if isinstance(t, dict)] if isinstance(topics, list) else []


def _topic(doc: dict[str, Any], key: str | None) -> dict[str, Any] | None:
    return next((t for t in _topics(doc) if t.get("key") == key), None)


def _nodes(topic: dict[str, Any] | None) -> list[dict[str, Any]]:
    nodes = topic.get("nodes") if topic else None
    return [n for n in nodes if isinstance(n, dict)] if isinstance(nodes, list) else []


def topic_suggestions(doc: dict[str, Any], limit: int = 5) -> list[str]:
    names = [
        str(t.get("name") or t.get("key"))
        for t in _topics(doc)
        if t.get("key") not in SYSTEM_TOPICS and t.get("trigger_phrases")
    ]
    return names[:limit]


# -- running --------------------------------------------------------------------------------


def start(
    snapshot_doc: dict[str, Any],
    *,
    conversation_id: str,
    channel: str,
    locale: str = "",
    customer: dict[str, Any] | None = None,
    fallback_limit: int = DEFAULT_FALLBACK_LIMIT,
    reprompt_limit: int = DEFAULT_REPROMPT_LIMIT,
    greeting: str = GREETING,
    now: datetime | None = None,
) -> ConversationState:
    """A new conversation; the greeting is the first bot line of its transcript."""
    state: ConversationState = {
        "conversation_id": conversation_id,
        "channel": channel,
        "locale": locale,
        "customer": dict(customer or {}),
        "variables": {},
        "topics": [],  # every topic triggered, in order (va_Topics)
        "topic": None,  # the topic running now
        "node": None,  # the id of the question waiting for its answer
        "misunderstood": 0,
        "reprompts": 0,
        "fallback_limit": max(1, fallback_limit),
        "reprompt_limit": max(0, reprompt_limit),
        "transcript": [],
        "ended": False,
    }
    if greeting:
        say(state, [greeting], now)
    return state


def step(
    snapshot_doc: dict[str, Any],
    state: ConversationState,
    customer_message: str,
    *,
    now: datetime | None = None,
) -> StepResult:
    """One customer message in, the bot's turn out. `state` is not modified (a copy is)."""
    state = copy.deepcopy(state)
    text = customer_message[:MAX_TEXT]
    _record(state, "customer", text, now)
    if state.get("ended"):
        # Handed off already: what the customer says now is for the agent, not the bot.
        return StepResult(replies=[], state=state, transfer=None, ended=True)

    run = _Run(snapshot_doc, state)
    topic = _topic(snapshot_doc, state.get("topic"))
    node = _node_by_id(topic, state.get("node")) if topic is not None else None
    if topic is not None and node is not None and node.get("type") == "question":
        run.answer(topic, node, text)
    else:
        state["topic"] = state["node"] = None
        matched = match_topic(snapshot_doc, text)
        if matched is not None:
            state["misunderstood"] = 0
            run.enter(matched)
        else:
            run.not_understood()
    say(state, run.replies, now)
    if run.transfer is not None:
        # The transcript sent along is the whole conversation, the last bot lines included.
        run.transfer["transcript"] = list(state["transcript"])[-MAX_TRANSCRIPT:]
        state["ended"] = True
    return StepResult(
        replies=run.replies, state=state, transfer=run.transfer, ended=bool(state["ended"])
    )


def _node_by_id(topic: dict[str, Any] | None, node_id: Any) -> dict[str, Any] | None:
    return next((n for n in _nodes(topic) if n.get("id") == node_id), None)


class _Run:
    """One bot turn: the replies it makes and, at a transfer, the handoff body."""

    def __init__(self, doc: dict[str, Any], state: ConversationState) -> None:
        self.doc = doc
        self.state = state
        self.replies: list[str] = []
        self.transfer: dict[str, Any] | None = None
        self.visits = 0

    def enter(self, key: str, *, reason: str | None = None) -> None:
        topics = self.state["topics"]
        if key not in topics:
            topics.append(key)
        self.state["topic"] = key
        self.state["reprompts"] = 0
        topic = _topic(self.doc, key)
        if key in SYSTEM_TOPICS and not _nodes(topic):
            # A system topic always hands off, even when a document leaves its nodes out.
            self.hand_off(key, {"type": "transfer", "reason": reason or _system_reason(key)})
            return
        self.run_from(topic or {"key": key}, 0, reason=reason)

    def not_understood(self) -> None:
        self.state["misunderstood"] += 1
        if self.state["misunderstood"] >= self.state["fallback_limit"]:
            self.enter("fallback", reason="not_understood")
            return
        hint = NOT_UNDERSTOOD
        names = topic_suggestions(self.doc)
        if names:
            hint += " I can help with: " + ", ".join(names) + "."
        self.replies.append(hint + " Or ask to talk to a person.")

    def answer(self, topic: dict[str, Any], node: dict[str, Any], text: str) -> None:
        if asks_for_person(self.doc, text):
            self.state["node"] = None
            self.enter("escalate")
            return
        valid, value = parse_answer(node, text)
        if not valid:
            self.state["reprompts"] += 1
            if self.state["reprompts"] > self.state["reprompt_limit"]:
                self.state["node"] = None
                self.enter("fallback", reason="not_understood")
                return
            kind = node.get("value_type") or "text"
            self.replies += [REPROMPTS.get(kind, REPROMPTS["text"]), question_text(node)]
            return
        variable = node.get("variable")
        if isinstance(variable, str) and variable:
            self.state["variables"][variable] = value  # merged across topics: last write wins
        self.state["reprompts"] = 0
        nodes = _nodes(topic)
        self.run_from(topic, nodes.index(node) + 1)

    def run_from(self, topic: dict[str, Any], index: int, *, reason: str | None = None) -> None:
        nodes = _nodes(topic)
        positions = {n.get("id"): i for i, n in enumerate(nodes)}
        while index < len(nodes):
            self.visits += 1
            if self.visits > MAX_NODES_PER_STEP:
                self.hand_off(topic.get("key"), {"type": "transfer", "reason": "bot_error"})
                return
            node = nodes[index]
            kind = node.get("type")
            if kind == "message":
                self.replies.append(self.render(str(node.get("text") or "")))
            elif kind == "question":
                self.state["node"] = node.get("id")
                self.replies.append(self.render(question_text(node)))
                return
            elif kind == "condition":
                target = positions.get(node.get("goto"))
                if target is not None and self.holds(node):
                    index = target
                    continue
            elif kind == "transfer":
                self.hand_off(topic.get("key"), node, reason=reason)
                return
            elif kind == "end":
                break
            index += 1
        # The topic is over; the next message starts a new one.
        self.state["topic"] = self.state["node"] = None

    def holds(self, node: dict[str, Any]) -> bool:
        variable = str(node.get("variable") or "")
        condition = compile_condition(
            {"field": f"variables.{variable}", "op": node.get("op"), "value": node.get("value")}
        )
        return condition.test(self.state["variables"].get(variable, MISSING))

    def render(self, template: str) -> str:
        return render_template(template, {}, self.state["variables"], self.state["customer"])

    def hand_off(self, key: Any, node: dict[str, Any], *, reason: str | None = None) -> None:
        state = self.state
        state["topic"] = state["node"] = None
        reason = str(node.get("reason") or reason or _system_reason(key))
        self.transfer = {
            "conversation_id": state["conversation_id"],
            "channel": state["channel"],
            "topic": _last_topic(state["topics"], key),
            "topics": list(state["topics"]),
            "locale": state.get("locale") or "",
            "reason": reason,
            "customer": dict(state.get("customer") or {}),
            "variables": dict(state["variables"]),
            "transcript": [],  # filled in by step() once this turn's replies are recorded
            "agent_message": self.render(str(node.get("agent_message") or ""))[:1000],
        }


def _system_reason(key: Any) -> str:
    if key == "escalate":
        return "requested_by_customer"
    if key == "fallback":
        return "not_understood"
    return "topic_transfer"


def _last_topic(triggered: list[str], key: Any) -> str | None:
    """The last topic a customer asked about: a person asked for in the middle of "refund" is
    still about a refund, so rules on the topic keep routing it (docs/conversations.md)."""
    authored = [t for t in triggered if t not in SYSTEM_TOPICS]
    if authored:
        return authored[-1]
    return key if isinstance(key, str) else None


def _record(state: ConversationState, who: str, text: str, now: datetime | None) -> None:
    item: dict[str, Any] = {"from": who, "text": text[:MAX_TEXT]}
    if now is not None:
        item["at"] = now.isoformat()
    transcript = state["transcript"]
    transcript.append(item)
    if len(transcript) > MAX_TRANSCRIPT:
        del transcript[: len(transcript) - MAX_TRANSCRIPT]


def say(state: ConversationState, replies: list[str], now: datetime | None) -> None:
    for reply in replies:
        _record(state, "bot", reply, now)


def shown_value(value: Any) -> str:
    """A variable's value as people read it ("250", "yes")."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return text_form(value) or ""
