"""What the services behind the portal's editing pages share (portal_config.py, authoring.py).

A row locked for the transaction, "is it still used?" refused with InUseError, a save of
exactly the fields that change, a delete and a reorder with their audit entries. Every helper
runs inside the caller's transaction.
"""

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.db import models, transaction
from django.db.models import ProtectedError

from handoff.config.document import audit
from handoff.errors import Conflict
from handoff.models import User

Row = TypeVar("Row", bound=models.Model)


class InUseError(Conflict):
    """The object is still used; `references` says by what, in words a user understands."""

    def __init__(self, references: list[str]) -> None:
        super().__init__("; ".join(references), code="in_use", fields={"references": references})
        self.references = references


def refuse_if_used(references: list[str]) -> None:
    if references:
        raise InUseError(references)


def condition_items(conditions: Any) -> Iterable[dict]:
    """The {field, op, value} items of a rule's {"all"|"any": [...]} conditions."""
    if not isinstance(conditions, dict):
        return
    for items in conditions.values():
        for cond in items if isinstance(items, list) else []:
            if isinstance(cond, dict):
                yield cond


def conditions_test(conditions: Any, fields: tuple[str, ...], value: str) -> bool:
    """Whether a rule's conditions test one of `fields` against `value` (alone or in a list)."""
    for cond in condition_items(conditions):
        tested = cond.get("value")
        if cond.get("field") in fields and (
            tested == value or (isinstance(tested, list) and value in tested)
        ):
            return True
    return False


def locked(model: type[Row], pk: int) -> Row:
    """The row, locked until the transaction ends."""
    return model._default_manager.select_for_update().get(pk=pk)


def fields_save(row: models.Model, values: dict[str, Any]) -> None:
    """Set `values` (field name -> value) on the row and save exactly those fields."""
    for field, value in values.items():
        setattr(row, field, value)
    row.save(update_fields=list(values) or None)


def row_update(
    model: type[Row],
    pk: int,
    values: dict[str, Any],
    *,
    user: User,
    audit_as: str,
    refs: Callable[[Row], list[str]] | None = None,
    key: str = "key",
    list_fields: bool = True,
) -> Row:
    """Save `values` on the row and audit it (`audit_as` is the entry's object type) with its
    old `key`, and the changed fields unless `list_fields` is false. Holds the row's lock while
    it checks that a new key leaves nothing behind: `refs` of the row before the change."""
    with transaction.atomic():
        row = locked(model, pk)
        old_key = getattr(row, key)
        if refs is not None and values.get(key, old_key) != old_key:
            refuse_if_used(refs(row))
        fields_save(row, values)
        detail = {"fields": sorted(values)} if list_fields else {}
        audit(
            user=user,
            action="update",
            object_type=audit_as,
            object_key=getattr(row, key),
            detail={**detail, f"old_{key}": old_key},
        )
    return row


def row_delete(
    model: type[Row],
    pk: int,
    *,
    user: User,
    audit_as: str,
    refs: Callable[[Row], list[str]] | None = None,
    key: str = "key",
) -> None:
    """Delete the row and audit it by its `key`. Holds the row's lock while it checks that
    nothing uses it: `refs` of the row, or a foreign key that protects it."""
    with transaction.atomic():
        row = locked(model, pk)
        if refs is not None:
            refuse_if_used(refs(row))
        object_key = getattr(row, key)
        try:
            row.delete()
        except ProtectedError as error:
            # Raised while collecting, before anything is deleted.
            protected = error.protected_objects
            raise InUseError([f"{type(o)._meta.verbose_name} “{o}”" for o in protected]) from None
        audit(user=user, action="delete", object_type=audit_as, object_key=object_key)


def rows_reorder(
    rows: list[Any],
    pk: int,
    offset: int,
    *,
    user: User,
    field: str,
    start: int,
    audit_as: str,
    name: str,
    object_key: str | None = None,
) -> None:
    """Move row `pk` `offset` places (-1 up, 1 down) within `rows` (locked, in order), number
    them from `start` in `field`, and audit the new order by their `name` field (the entry
    names the moved row unless `object_key` is given). Moving past either end does nothing."""
    index = next(i for i, row in enumerate(rows) if row.pk == pk)
    target = index + offset
    if offset == 0 or not 0 <= target < len(rows):
        return
    rows.insert(target, rows.pop(index))
    renumber(rows, field, start=start)
    audit(
        user=user,
        action="reorder",
        object_type=audit_as,
        object_key=getattr(rows[target], name) if object_key is None else object_key,
        detail={"order": [getattr(row, name) for row in rows]},
    )


def renumber(rows: list[Any], field: str, *, start: int) -> None:
    """Number `rows` from `start` in list order, rewriting only those that change."""
    changed = [(row, start + i) for i, row in enumerate(rows) if getattr(row, field) != start + i]
    if not changed:
        return
    model = type(rows[0])
    # Positions and orders are unique: park the moving rows above every number in use first.
    parking = max(getattr(row, field) for row in rows) + len(rows) + start + 1
    for offset, (row, _new) in enumerate(changed):
        model.objects.filter(pk=row.pk).update(**{field: parking + offset})
    for row, new in changed:
        setattr(row, field, new)
        model.objects.filter(pk=row.pk).update(**{field: new})
