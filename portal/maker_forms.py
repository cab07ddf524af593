"""Forms of the makers' authoring pages: topics and nodes, context fields, escalation rules.

Django's fields check the shapes (required, lengths, choices); the rules of the config document
are then checked by the very functions that validate an import (handoff/config/validation.py),
and each error they report is shown at the field its JSON path names.
"""

import re
from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.forms import BaseFormSet, formset_factory
from django.utils.translation import gettext_lazy as _

from handoff.config import validation as cv
from handoff.engine.conditions import number_text, to_bool, to_number
from handoff.engine.mapping import compile_fields, map_context, show, stored_form, system_fields
from handoff.engine.routing import TEMPLATE_RE
from handoff.engine.vocabulary import EscalationReason, FieldType, Operator, ValueType, values
from handoff.models import (
    Bot,
    Channel,
    ContextField,
    EscalationRule,
    Queue,
    Skill,
    Topic,
    TopicNode,
)
from portal.forms import FIELD_TEMPLATE, ModelDataForm, PortalFormMixin

# The system fields a context field can read, in the order the engine defines them.
SYSTEM_SOURCES: list[str] = list(system_fields({}, bot_key="preview"))

OP_LABELS: dict[str, Any] = {
    Operator.EQ: _("equals"),
    Operator.NE: _("does not equal"),
    Operator.IN: _("is one of"),
    Operator.NOT_IN: _("is not one of"),
    Operator.CONTAINS: _("contains"),
    Operator.STARTS_WITH: _("starts with"),
    Operator.GT: _("is greater than"),
    Operator.GTE: _("is at least"),
    Operator.LT: _("is less than"),
    Operator.LTE: _("is at most"),
    Operator.EXISTS: _("has a value"),
    Operator.NOT_EXISTS: _("has no value"),
    Operator.MATCHES: _("matches the regular expression"),
}
PRESENCE_OPS = (Operator.EXISTS, Operator.NOT_EXISTS)
LIST_OPS = (Operator.IN, Operator.NOT_IN)
NUMBER_OPS = (Operator.GT, Operator.GTE, Operator.LT, Operator.LTE)
EQUALITY_OPS = (Operator.EQ, Operator.NE)
# A rule field that holds several values (`topics`); the other types are context field types.
LIST_TYPE = "list"
# Operators that make sense for a value of each type. The document accepts only numbers for
# gt/gte/lt/lte, so a date and time is compared by equality and presence.
OPS_BY_TYPE: dict[str, tuple[str, ...]] = {
    FieldType.TEXT: (
        *EQUALITY_OPS,
        *LIST_OPS,
        Operator.CONTAINS,
        Operator.STARTS_WITH,
        Operator.MATCHES,
        *PRESENCE_OPS,
    ),
    FieldType.NUMBER: (*EQUALITY_OPS, *NUMBER_OPS, *LIST_OPS, *PRESENCE_OPS),
    FieldType.BOOLEAN: (*EQUALITY_OPS, *PRESENCE_OPS),
    FieldType.DATETIME: (*EQUALITY_OPS, *PRESENCE_OPS),
    LIST_TYPE: (Operator.CONTAINS, *LIST_OPS, *PRESENCE_OPS),
}
TYPE_LABELS: dict[str, Any] = {
    FieldType.TEXT: _("text"),
    FieldType.NUMBER: _("number"),
    FieldType.BOOLEAN: _("yes/no"),
    FieldType.DATETIME: _("date and time"),
    LIST_TYPE: _("list"),
}
# The comparison type of a question's answer: numbers and yes/no keep theirs, the rest is text.
QUESTION_TYPES: dict[str, str] = {
    ValueType.NUMBER: FieldType.NUMBER,
    ValueType.BOOLEAN: FieldType.BOOLEAN,
}
# The reasons a maker may give on a transfer node; the Bot Framework adapter sets
# "bot_framework" itself, so it is no choice here.
REASONS = tuple(r for r in values(EscalationReason) if r != EscalationReason.BOT_FRAMEWORK)


def op_choices(value_type: str) -> list[tuple[str, Any]]:
    return [(op, OP_LABELS[op]) for op in OPS_BY_TYPE.get(value_type, cv.OPS)]


# -- reusing the document's validation ------------------------------------------------------------


def _first_key(path: str) -> str:
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def parse_value(op: str, raw: str) -> Any:
    """A condition's typed value from what the user typed, for the document's checks."""
    raw = (raw or "").strip()
    if op in PRESENCE_OPS:
        return None
    if op in LIST_OPS:
        return [item.strip() for item in raw.split(",") if item.strip()]
    if op in NUMBER_OPS:
        number = to_number(raw)
        if number is None:
            raise ValidationError(_("Enter a number."))
        return number
    if op in EQUALITY_OPS and not raw:
        raise ValidationError(_("Enter the value to compare with."))
    return raw


def value_text(value: Any) -> str:
    """How a stored condition value is shown in its text input."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(value_text(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return number_text(value)
    return str(value)


def lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


# -- known names ----------------------------------------------------------------------------------


def known_variables() -> dict[str, str]:
    """Bot variables the topics' questions set, each with its comparison type."""
    found: dict[str, str] = {}
    questions = TopicNode.objects.filter(type=TopicNode.Type.QUESTION).exclude(variable="")
    for variable, value_type in questions.values_list("variable", "value_type").order_by(
        "variable"
    ):
        found.setdefault(variable, QUESTION_TYPES.get(value_type, FieldType.TEXT))
    return found


def value_hints() -> dict[str, list[str]]:
    """Values worth suggesting for a rule field: keys of topics, channels and bots, the
    standard reasons, and the choices of choice questions."""
    topics = list(Topic.objects.order_by("key").values_list("key", flat=True))
    hints: dict[str, list[str]] = {
        "topic": topics,
        "topics": topics,
        "channel": list(Channel.objects.order_by("key").values_list("key", flat=True)),
        "bot": list(Bot.objects.order_by("key").values_list("key", flat=True)),
        "reason": list(REASONS),
    }
    questions = TopicNode.objects.filter(type=TopicNode.Type.QUESTION, value_type="choice")
    for variable, choices in questions.values_list("variable", "choices"):
        found = hints.setdefault(f"variables.{variable}", [])
        found += [c for c in choices if isinstance(c, str) and c not in found]
    return {field: values for field, values in hints.items() if values}


def known_rule_fields() -> dict[str, str]:
    """Field name -> type, for the rule condition builder."""
    fields: dict[str, str] = {name: FieldType.TEXT for name in cv.RULE_FIELDS}
    fields.update({"topics": LIST_TYPE, "transcript.turns": FieldType.NUMBER})
    fields.update({name: FieldType.TEXT for name in cv.CUSTOMER_FIELDS})
    for target, field_type in ContextField.objects.values_list("target", "type").order_by(
        "position", "id"
    ):
        fields[f"context.{target}"] = field_type
    for variable, value_type in known_variables().items():
        fields[f"variables.{variable}"] = value_type
    return fields


# -- topics ---------------------------------------------------------------------------------------


class TopicForm(PortalFormMixin, ModelDataForm):
    trigger_phrases_text = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        label=_("Trigger phrases"),
        help_text=_("One per line: what a customer says to start this topic."),
    )

    class Meta:
        model = Topic
        fields = ["key", "name"]
        help_texts = {"key": _("Used by bots and rules, for example “refund”.")}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound and self.instance.pk:
            self.initial["trigger_phrases_text"] = "\n".join(self.instance.trigger_phrases)
        if self.instance.is_system:
            self.fields["key"].disabled = True
            self.fields["key"].help_text = _("A system topic keeps its key.")

    def clean_trigger_phrases_text(self) -> list[str]:
        phrases = lines(self.cleaned_data.get("trigger_phrases_text", ""))
        for phrase in phrases:
            if len(phrase) > cv.NAME_MAX:
                raise ValidationError(
                    _("“%(phrase)s…” is longer than %(max)s characters."),
                    params={"phrase": phrase[:30], "max": cv.NAME_MAX},
                )
        if len({p.casefold() for p in phrases}) != len(phrases):
            raise ValidationError(_("A phrase is listed twice."))
        return phrases

    def topic_values(self) -> dict[str, Any]:
        return {
            "key": self.cleaned_data["key"],
            "name": self.cleaned_data["name"],
            "trigger_phrases": self.cleaned_data["trigger_phrases_text"],
        }


# Document key of a node -> the form field that shows its errors.
NODE_ERROR_FIELDS = {"id": "node_id", "op": "operator"}


class NodeForm(PortalFormMixin, forms.Form):
    node_id = forms.SlugField(
        max_length=cv.KEY_MAX,
        label=_("Node id"),
        help_text=_("Letters, digits, - and _; conditions jump to it."),
    )
    type = forms.ChoiceField(choices=TopicNode.Type.choices, label=_("Type"))
    text = forms.CharField(
        required=False,
        max_length=4000,
        label=_("Message"),
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    prompt = forms.CharField(
        required=False,
        max_length=4000,
        label=_("Question"),
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    variable = forms.CharField(
        required=False,
        max_length=cv.KEY_MAX,
        label=_("Variable"),
        help_text=_("The bot variable the answer is stored in, or that is tested."),
    )
    value_type = forms.ChoiceField(
        required=False, choices=TopicNode.ValueType.choices, label=_("Answer type"), initial="text"
    )
    choices = forms.CharField(
        required=False,
        label=_("Choices"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One per line (choice questions only)."),
    )
    operator = forms.ChoiceField(required=False, choices=op_choices("all"), label=_("Operator"))
    value = forms.CharField(
        required=False,
        max_length=4000,
        label=_("Value"),
        help_text=_("For “is one of”, separate the values with commas."),
    )
    goto = forms.ChoiceField(required=False, label=_("Then go to"))
    agent_message = forms.CharField(
        required=False,
        max_length=4000,
        label=_("Private message to the agent"),
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("May use {variables.X} and {context.X}."),
    )
    reason = forms.CharField(required=False, max_length=cv.NAME_MAX, label=_("Escalation reason"))

    def __init__(
        self, *args: Any, topic: Topic, node: TopicNode | None = None, **kwargs: Any
    ) -> None:
        self.topic = topic
        self.node = node
        if node is not None and not kwargs.get("initial") and not args:
            kwargs["initial"] = self.initial_for(node)
        super().__init__(*args, **kwargs)
        siblings = [
            n for n in topic.nodes.all() if node is None or n.pk != node.pk
        ]  # prefetched by the views: no query per form
        self.sibling_ids = {n.node_id for n in siblings}
        self.fields["variable"].widget.attrs["list"] = "known-variables"
        self.fields["reason"].widget.attrs["list"] = "known-reasons"
        goto = self.fields["goto"]
        goto.choices = [("", "---------")] + [  # type: ignore[attr-defined]
            (n.node_id, f"{n.node_id} ({n.get_type_display()})") for n in siblings
        ]

    @staticmethod
    def initial_for(node: TopicNode) -> dict[str, Any]:
        data: dict[str, Any] = {"node_id": node.node_id, "type": node.type}
        if node.type == "message":
            data["text"] = node.text
        elif node.type == "question":
            data.update(
                prompt=node.text,
                variable=node.variable,
                value_type=node.value_type or "text",
                choices="\n".join(node.choices),
            )
        elif node.type == "condition":
            data.update(
                variable=node.variable,
                operator=node.operator,
                value=value_text(node.value),
                goto=node.goto,
            )
        elif node.type == "transfer":
            data.update(agent_message=node.text, reason=node.reason)
        return data

    def clean_node_id(self) -> str:
        node_id = self.cleaned_data["node_id"]
        if node_id in self.sibling_ids:
            raise ValidationError(_("Another node of this topic has this id."))
        return node_id

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        node_type = data.get("type")
        if not node_type or self.errors:
            return data
        raw: dict[str, Any] = {"id": data.get("node_id"), "type": node_type}
        if node_type == "message":
            raw["text"] = data.get("text", "")
        elif node_type == "question":
            raw.update(
                prompt=data.get("prompt", ""),
                variable=data.get("variable", ""),
                value_type=data.get("value_type") or "text",
                choices=lines(data.get("choices", "")),
            )
        elif node_type == "condition":
            op = data.get("operator") or ""
            try:
                value = parse_value(op, data.get("value", ""))
            except ValidationError as error:
                self.add_error("value", error)
                return data
            if not data.get("goto"):
                self.add_error("goto", _("Choose the node to go to."))
                return data
            raw.update(variable=data.get("variable", ""), op=op, value=value, goto=data["goto"])
        elif node_type == "transfer":
            raw.update(agent_message=data.get("agent_message", ""), reason=data.get("reason", ""))
        for problem in cv.node_errors(raw):
            key = _first_key(problem.path)
            field = NODE_ERROR_FIELDS.get(key, key)
            self.add_error(field if field in self.fields else None, problem.message)
        if node_type == "condition" and data.get("goto") and data["goto"] not in self.sibling_ids:
            self.add_error("goto", _("Choose another node of this topic."))
        self.document_node = raw
        return data

    def node_values(self) -> dict[str, Any]:
        """TopicNode field values, as the import writes them (config_document._node_row)."""
        raw = self.document_node
        row = TopicNode(node_id=raw["id"], type=raw["type"])
        values: dict[str, Any] = {
            "node_id": raw["id"],
            "type": raw["type"],
            "text": "",
            "variable": "",
            "value_type": "",
            "choices": [],
            "operator": "",
            "value": None,
            "goto": "",
            "reason": "",
        }
        if row.type == "message":
            values["text"] = raw["text"]
        elif row.type == "question":
            values.update(
                text=raw["prompt"],
                variable=raw["variable"],
                value_type=raw["value_type"],
                choices=raw["choices"],
            )
        elif row.type == "condition":
            values.update(
                variable=raw["variable"], operator=raw["op"], value=raw["value"], goto=raw["goto"]
            )
        elif row.type == "transfer":
            values.update(text=raw["agent_message"], reason=raw["reason"])
        return values


# -- context fields -------------------------------------------------------------------------------


class ContextFieldForm(PortalFormMixin, ModelDataForm):
    default = forms.CharField(
        required=False,
        max_length=4000,
        label=_("Default"),
        help_text=_("Used when the value is missing or cannot be converted; empty for none."),
    )
    transform = forms.ChoiceField(
        required=False,
        choices=[("", _("None")), *ContextField.Transform.choices],
        label=_("Transform or masking"),
        help_text=_("Masking hides the value everywhere: context, variables and transcript."),
    )

    class Meta:
        model = ContextField
        fields = [
            "source",
            "target",
            "label",
            "type",
            "required",
            "default",
            "transform",
            "max_length",
            "visible_to_agent",
        ]
        labels = {
            "source": _("Source"),
            "target": _("Target"),
            "label": _("Label shown to the agent"),
            "max_length": _("Maximum length"),
            "visible_to_agent": _("Visible to the agent"),
        }
        help_texts = {
            "source": _("A bot variable or a system field such as va_LastTopic or customer.email."),
            "target": _("The context variable name the agent side sees: exact, case-sensitive."),
            "required": _("A handoff without a usable value is refused (422)."),
            "max_length": _("At most 4,000; empty for no limit."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["source"].widget.attrs["list"] = "known-sources"
        self.fields["max_length"].widget.attrs.update(min=1, max=4000)
        if not self.is_bound and self.instance.pk:
            self.initial["default"] = value_text(self.instance.default)
            self.initial["transform"] = self.instance.transform or ""

    def clean_source(self) -> str:
        source = self.cleaned_data["source"].strip()
        if not source:
            raise ValidationError(_("Choose or type a source."))
        return source

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data["transform"] = data.get("transform") or None
        data["default"] = self._typed_default(data.get("default", ""), data.get("type") or "text")
        if self.errors:
            return data
        raw = {name: data.get(name) for name in self.Meta.fields}
        for problem in cv.context_field_errors(raw):
            field = _first_key(problem.path)
            self.add_error(field if field in self.fields else None, problem.message)
        return data

    @staticmethod
    def _typed_default(text: str, field_type: str) -> Any:
        # Store numbers and booleans typed; anything unconvertible stays text for the check.
        if text == "":
            return None
        if field_type == "number":
            number = to_number(text)
            return text if number is None else number
        if field_type == "boolean":
            flag = to_bool(text)
            return text if flag is None else flag
        return text

    def field_values(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


def preview_mapping(data: Any, sample: str) -> dict[str, Any]:
    """A sample value through one field's mapping, by the engine the API uses."""
    form = ContextFieldForm(data)
    # Only shapes matter here: a preview of an unsaved (or renamed) field is still useful.
    form.is_valid()
    values = {name: form.cleaned_data.get(name) for name in ContextFieldForm.Meta.fields}
    source = values.get("source") or ""
    target = values.get("target") or "preview"
    raw = {**values, "target": target, "source": source}
    if raw["type"] not in cv.FIELD_TYPES:
        raw["type"] = "text"
    specs = compile_fields([raw])
    system = system_fields({}, bot_key="preview")
    variables: dict[str, Any] = {}
    given: Any = sample if sample != "" else None
    if source in system:
        system[source] = given
    else:
        variables[source.removeprefix("variables.")] = given
    mapped = map_context(specs, system, variables)
    return {
        "source": source,
        "target": target,
        "sample": sample,
        "converted": show(mapped.values[target]) if target in mapped.values else None,
        "stored": stored_form(mapped.context.get(target)),
        "present": target in mapped.context,
        "visible": any(item["target"] == target for item in mapped.visible),
        "error": mapped.errors.get(target),
        "warnings": [w["message"] for w in mapped.warnings],
        "notes": [n["text"] for n in mapped.notes],
    }


# -- escalation rules -----------------------------------------------------------------------------


class ConditionForm(forms.Form):
    field = forms.ChoiceField(label=_("Field"))
    op = forms.ChoiceField(label=_("Operator"))
    value = forms.CharField(required=False, max_length=4000, label=_("Value"))

    def __init__(self, *args: Any, fields: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        chosen = self._chosen_field()
        self.known = dict(fields)
        if chosen and chosen not in self.known and cv.is_rule_field(chosen):
            # A field this portal does not know yet (an imported rule): keep it choosable.
            self.known[chosen] = "text"
        self.fields["field"].choices = [("", "---------")] + [  # type: ignore[attr-defined]
            (name, name) for name in self.known
        ]
        self.value_type = self.known.get(chosen, "text")
        self.type_label = TYPE_LABELS.get(self.value_type, "") if chosen else ""
        # The page holds one <datalist id="hints-FIELD"> per field with suggested values.
        self.fields["value"].widget.attrs["list"] = f"hints-{chosen}"
        self.fields["op"].choices = op_choices(self.value_type)  # type: ignore[attr-defined]

    def _chosen_field(self) -> str:
        if self.is_bound:
            return str(self.data.get(self.add_prefix("field"), ""))
        return str(self.initial.get("field", ""))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        op = data.get("op")
        if op and "value" not in self.errors:
            try:
                data["typed_value"] = parse_value(op, data.get("value", ""))
            except ValidationError as error:
                self.add_error("value", error)
        return data


class BaseConditionFormSet(BaseFormSet):
    def __init__(self, *args: Any, fields: dict[str, str], **kwargs: Any) -> None:
        self.known_fields = fields
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        return {"fields": self.known_fields}

    def conditions(self) -> list[dict[str, Any]]:
        return [
            {
                "field": f.cleaned_data["field"],
                "op": f.cleaned_data["op"],
                "value": f.cleaned_data["typed_value"],
            }
            for f in self.forms
        ]


ConditionFormSet = cast(
    type[BaseConditionFormSet],
    formset_factory(
        ConditionForm, formset=BaseConditionFormSet, extra=0, max_num=50, validate_max=True
    ),
)


def condition_rows(data: Any, prefix: str = "cond") -> list[dict[str, str]]:
    """The condition rows as typed, from a bound form's data (to add or remove one)."""
    try:
        total = int(data.get(f"{prefix}-TOTAL_FORMS", 0))
    except ValueError:
        total = 0
    return [
        {
            "field": data.get(f"{prefix}-{i}-field", ""),
            "op": data.get(f"{prefix}-{i}-op", ""),
            "value": data.get(f"{prefix}-{i}-value", ""),
        }
        for i in range(min(total, 50))
    ]


LEVEL_CHOICES = [("", _("not required")), *((str(n), str(n)) for n in range(1, 6))]


class RuleForm(PortalFormMixin, forms.Form):
    name = forms.CharField(max_length=cv.NAME_MAX, label=_("Name"))
    mode = forms.ChoiceField(
        choices=[("all", _("all conditions hold")), ("any", _("any condition holds"))],
        widget=forms.RadioSelect,
        initial="all",
        label=_("Matches when"),
    )
    queue = forms.ModelChoiceField(
        queryset=Queue.objects.order_by("priority", "key"),
        to_field_name="key",
        label=_("Route to queue"),
    )
    priority = forms.IntegerField(
        required=False,
        min_value=-(2**31),
        max_value=2**31 - 1,
        label=_("Priority override"),
        help_text=_("Empty: the queue's priority. Lower is served first."),
    )
    agent_message = forms.CharField(
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        label=_("Message to the agent"),
        help_text=_(
            "May use {context.X}, {variables.X} and {customer.X}; a missing value is empty."
        ),
    )
    enabled = forms.BooleanField(required=False, initial=True, label=_("Enabled"))
    context_skills = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        label=_("Skills from the context"),
        help_text=_(
            "One per line, skill key with {context.X} and a level, such as "
            "language:{context.Language}=3. A value that is not a known skill is ignored."
        ),
    )

    def __init__(self, *args: Any, rule: EscalationRule | None = None, **kwargs: Any) -> None:
        self.rule = rule
        if rule is not None and not args and "initial" not in kwargs:
            conditions = rule.conditions if isinstance(rule.conditions, dict) else {}
            kwargs["initial"] = {
                "name": rule.name,
                "mode": next(iter(conditions), "all"),
                "queue": rule.queue.key,
                "priority": rule.priority,
                "agent_message": rule.agent_message,
                "enabled": rule.enabled,
                **{f"skill__{k}": str(v) for k, v in rule.require_skills.items()},
                "context_skills": "\n".join(
                    f"{k}={v}" for k, v in rule.require_skills.items() if "{" in k
                ),
            }
        super().__init__(*args, **kwargs)
        self.skills = list(Skill.objects.order_by("key"))
        for skill in self.skills:
            level = forms.ChoiceField(
                required=False, choices=LEVEL_CHOICES, label=f"{skill.name} ({skill.key})"
            )
            level.template_name = FIELD_TEMPLATE  # type: ignore[attr-defined]
            self.fields[f"skill__{skill.key}"] = level
        # One query for the select, not one per render of the choices.
        queues = list(Queue.objects.order_by("priority", "key"))
        queue_field = self.fields["queue"]
        queue_field.choices = [("", "---------")] + [(q.key, q.name) for q in queues]  # type: ignore[attr-defined]

    def skill_fields(self) -> list[forms.BoundField]:
        return [self[f"skill__{skill.key}"] for skill in self.skills]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        clash = EscalationRule.objects.filter(name=name)
        if self.rule is not None:
            clash = clash.exclude(pk=self.rule.pk)
        if clash.exists():
            raise ValidationError(_("Another rule has this name."))
        return name

    def clean_agent_message(self) -> str:
        message = self.cleaned_data.get("agent_message", "")
        targets = set(ContextField.objects.values_list("target", flat=True))
        unknown = sorted(
            m.group(2)
            for m in TEMPLATE_RE.finditer(message)
            if m.group(1) == "context" and m.group(2) not in targets
        )
        if unknown:
            raise ValidationError(
                _("No context field has the target %(names)s."),
                params={"names": ", ".join(unknown)},
            )
        return message

    def clean_context_skills(self) -> dict[str, int]:
        levels: dict[str, int] = {}
        for line in self.cleaned_data.get("context_skills", "").splitlines():
            if not line.strip():
                continue
            key, sep, level = line.strip().rpartition("=")
            if not sep or "{" not in key or not level.strip().isdigit():
                raise ValidationError(
                    _("Write each line as skill-key-with-{context.X}=level: %(line)s"),
                    params={"line": line.strip()},
                )
            levels[key.strip()] = int(level)
        return levels

    def require_skills(self) -> dict[str, int]:
        return {
            **{
                skill.key: int(self.cleaned_data[f"skill__{skill.key}"])
                for skill in self.skills
                if self.cleaned_data.get(f"skill__{skill.key}")
            },
            **(self.cleaned_data.get("context_skills") or {}),
        }

    def check_document(self, formset: BaseConditionFormSet) -> None:
        """The document's rule checks, each error shown at its field or condition row."""
        queue = self.cleaned_data["queue"]
        raw = {
            "name": self.cleaned_data["name"],
            "order": self.rule.order if self.rule else 1,
            "enabled": self.cleaned_data["enabled"],
            "conditions": {self.cleaned_data["mode"]: formset.conditions()},
            "queue": queue.key,
            "priority": self.cleaned_data["priority"],
            "require_skills": self.require_skills(),
            "agent_message": self.cleaned_data["agent_message"],
        }
        skill_keys = {skill.key for skill in self.skills}
        for problem in cv.rule_errors(raw, queue_keys={queue.key}, skill_keys=skill_keys):
            path, message = problem.path, problem.message
            found = re.match(r"conditions\.(?:all|any)\[(\d+)\](?:\.(\w+))?", path)
            if found:
                row = formset.forms[int(found.group(1))]
                field = found.group(2) if found.group(2) in ("field", "op", "value") else None
                row.add_error(field, message)
                continue
            key = _first_key(path)
            if key == "require_skills" and "{" in path:
                key = "context_skills"
            self.add_error(key if key in self.fields else None, message)
        for row in formset.forms:
            op, field = row.cleaned_data.get("op"), row.cleaned_data.get("field")
            if op and field and op not in OPS_BY_TYPE.get(row.value_type, cv.OPS):
                row.add_error("op", _("This operator does not fit the field's type."))
        self.document_rule = raw

    def rule_values(self) -> dict[str, Any]:
        raw = self.document_rule
        return {
            "name": raw["name"],
            "enabled": raw["enabled"],
            "conditions": raw["conditions"],
            "queue": self.cleaned_data["queue"],
            "priority": raw["priority"],
            "require_skills": raw["require_skills"],
            "agent_message": raw["agent_message"],
        }


def condition_summary(conditions: Any) -> list[str]:
    """Each condition of a rule in words, for the rule list."""
    out: list[str] = []
    if not isinstance(conditions, dict) or not conditions:
        return out
    for cond in next(iter(conditions.values()), []) or []:
        if not isinstance(cond, dict):
            continue
        op = str(cond.get("op", ""))
        label = str(OP_LABELS.get(op, op))
        value = "" if op in PRESENCE_OPS else f" {value_text(cond.get('value'))}"
        out.append(f"{cond.get('field')} {label}{value}")
    return out
