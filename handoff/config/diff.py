"""A readable difference between two config documents (docs/publishing.md).

Per section, items are matched by their identifying key (queues by key, rules by name, ...),
then each changed item lists the fields that differ with old and new values, so a reader sees
"queue billing: max_waiting 50 -> 80" rather than a text diff of two JSON files.
"""

import json
from dataclasses import dataclass, field
from typing import Any

from handoff.config.validation import SECTION_IDS

# Lists of objects inside an item, matched by one of these keys when every element has it:
# topic nodes by id, queue members by username. Other lists are compared by position.
ITEM_KEYS = ("id", "username", "key")


@dataclass
class FieldChange:
    path: str  # inside the item: "overflow.when_full.queue", "nodes[ask-order].prompt"
    old: Any
    new: Any
    kind: str  # "added", "removed" or "changed"

    @property
    def old_text(self) -> str:
        return json.dumps(self.old, ensure_ascii=False)

    @property
    def new_text(self) -> str:
        return json.dumps(self.new, ensure_ascii=False)


@dataclass
class ItemChange:
    key: str
    kind: str  # "added", "removed" or "changed"
    fields: list[FieldChange] = field(default_factory=list)


@dataclass
class SectionDiff:
    section: str
    object_type: str
    items: list[ItemChange] = field(default_factory=list)
    label: str = ""  # for display; the portal sets a translated one


def config_diff(old: dict[str, Any], new: dict[str, Any]) -> list[SectionDiff]:
    """Every section that differs between `old` and `new`, in document order."""
    out = []
    for section, (object_type, id_key) in SECTION_IDS.items():
        before = _index(old.get(section), id_key)
        after = _index(new.get(section), id_key)
        diff = SectionDiff(section, object_type)
        for key in sorted(before.keys() | after.keys()):
            if key not in before:
                diff.items.append(ItemChange(key, "added", _flat_changes({}, after[key])))
            elif key not in after:
                diff.items.append(ItemChange(key, "removed", _flat_changes(before[key], {})))
            elif before[key] != after[key]:
                diff.items.append(
                    ItemChange(key, "changed", _flat_changes(before[key], after[key]))
                )
        if diff.items:
            out.append(diff)
    return out


def _index(items: Any, id_key: str) -> dict[str, dict]:
    if not isinstance(items, list):
        return {}
    found = {}
    for position, item in enumerate(items):
        if isinstance(item, dict):
            found[str(item.get(id_key, f"#{position}"))] = item
    return found


def _flat_changes(old: dict, new: dict) -> list[FieldChange]:
    flat_old, flat_new = (_flatten(old) if old else {}), (_flatten(new) if new else {})
    changes = []
    for path in dict.fromkeys([*flat_old, *flat_new]):
        if path not in flat_old:
            changes.append(FieldChange(path, None, flat_new[path], "added"))
        elif path not in flat_new:
            changes.append(FieldChange(path, flat_old[path], None, "removed"))
        elif flat_old[path] != flat_new[path]:
            changes.append(FieldChange(path, flat_old[path], flat_new[path], "changed"))
    return changes


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested objects to dotted paths; lists of scalars stay whole values."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        id_key = next(
            (
                k
                for k in ITEM_KEYS
                if all(k in v for v in value) and len({str(v[k]) for v in value}) == len(value)
            ),
            None,
        )
        out = {}
        for position, inner in enumerate(value):
            label = inner[id_key] if id_key else position
            out.update(_flatten(inner, f"{prefix}[{label}]"))
        return out
    return {prefix or "(value)": value}
