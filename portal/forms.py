"""Forms of the admin pages. Every rule a user can break is checked here, at its field."""

import copy
import itertools
import re
import zoneinfo
from datetime import date
from typing import Any, cast

from django import forms
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.forms import BaseFormSet, formset_factory
from django.utils.translation import gettext_lazy as _

from handoff.delivery.addresses import Refusal, private_allowed, url_refusal
from handoff.engine.hours import WEEKDAYS as DAYS
from handoff.models import Bot, Channel, OverflowAction, Queue, Skill, User
from handoff.services.portal_config import queue_overflow_cycle
from portal.roles import ADMIN, AGENT, ANALYST, MAKER

WEEKDAY_LABELS = {
    "mon": _("Monday"),
    "tue": _("Tuesday"),
    "wed": _("Wednesday"),
    "thu": _("Thursday"),
    "fri": _("Friday"),
    "sat": _("Saturday"),
    "sun": _("Sunday"),
}
# The days of operating hours as the engine reads them, each with its label.
WEEKDAYS = [(day, WEEKDAY_LABELS[day]) for day in DAYS]
WINDOW_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-(([01]\d|2[0-3]):[0-5]\d|24:00)$")
ROLE_CHOICES = [
    (ADMIN, _("Admin: everything, including users, channels, queues, bots and keys")),
    (MAKER, _("Maker: topics, escalation rules, context fields; publish")),
    (ANALYST, _("Analyst: reads configuration and analytics")),
    (AGENT, _("Agent: works handoffs in the agent workspace")),
]


def timezone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


def check_webhook_url(value: str) -> None:
    """The rule of handoff/delivery/addresses.py, in the portal's words."""
    refused = url_refusal(value, allow_private=private_allowed())
    if refused is None:
        return
    if refused.reason == Refusal.PRIVATE:
        raise ValidationError(
            _("%(host)s is a private or loopback address."), params={"host": refused.host}
        )
    raise ValidationError(_("Use an https:// URL."))


# In portal/templates/ (not templates/): Django's form renderer looks in app directories only.
FIELD_TEMPLATE = "portal/forms/field.html"


# The labels Django derives from model field names are plain, untranslated strings; these are
# marked. A label a form sets itself (a lazy translation, not a str) is left alone.
MODEL_FIELD_LABELS = {
    "key": _("Key"),
    "name": _("Name"),
    "kind": _("Kind"),
    "enabled": _("Enabled"),
    "priority": _("Priority"),
    "distribution": _("Distribution"),
    "assignment": _("Assignment"),
    "skill_matching": _("Skill matching"),
    "type": _("Type"),
    "required": _("Required"),
    "default": _("Default"),
    "transform": _("Transform"),
    "channels": _("Channels"),
}


class PortalFormMixin:
    """Each field renders in one wrapper div, so layouts can place label, help and errors."""

    fields: dict[str, forms.Field]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        for name, field in self.fields.items():
            field.template_name = FIELD_TEMPLATE  # type: ignore[attr-defined]
            if isinstance(field.label, str) and name in MODEL_FIELD_LABELS:
                field.label = MODEL_FIELD_LABELS[name]


class ModelDataForm(forms.ModelForm):
    """A ModelForm whose result is its cleaned data, for a service to save.

    Django's is_valid() writes the typed values onto the instance it validates (uniqueness
    needs them there): this form validates a copy, so the row a view passed in keeps what is
    stored, and shows it beside the errors after a refused save.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["instance"] = copy.copy(kwargs.get("instance"))
        super().__init__(*args, **kwargs)

    def save(self, commit: bool = True) -> Any:
        raise NotImplementedError("a service saves the cleaned data")


class ChannelForm(PortalFormMixin, ModelDataForm):
    class Meta:
        model = Channel
        fields = ["key", "name", "kind", "enabled"]
        help_texts = {"key": _("Used by bots and the API, for example “webchat”.")}


class BotForm(PortalFormMixin, ModelDataForm):
    status_callback_url = forms.URLField(
        max_length=2000,
        required=False,
        assume_scheme="https",
        label=_("Status callback URL"),
        help_text=_("Optional: assigned, failed and resolved handoffs are POSTed here, signed."),
    )
    channels = forms.ModelMultipleChoiceField(
        queryset=Channel.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("Allowed channels"),
    )

    class Meta:
        model = Bot
        fields = ["key", "name", "channels", "status_callback_url"]

    def clean_status_callback_url(self) -> str | None:
        value = self.cleaned_data.get("status_callback_url") or None
        if value:
            check_webhook_url(value)
        return value


class ApiKeyForm(PortalFormMixin, forms.Form):
    name = forms.CharField(
        max_length=200,
        required=False,
        label=_("Key name"),
        help_text=_("Where it is used, for example “production”."),
    )


class QueueForm(PortalFormMixin, ModelDataForm):
    """The queue itself, its operating hours and overflow; members are a formset beside it."""

    always_open = forms.BooleanField(
        required=False, initial=True, label=_("Always open (no operating hours)")
    )
    timezone = forms.ChoiceField(choices=timezone_choices, initial="UTC", label=_("Time zone"))
    webhook_url = forms.URLField(
        max_length=2000, required=False, assume_scheme="https", label=_("Webhook URL")
    )
    # The same ranges as the config document, so a saved queue always publishes.
    offer_timeout_seconds = forms.IntegerField(
        min_value=1, max_value=86400, initial=60, label=_("Offer timeout (seconds)")
    )
    skill_relax_after_seconds = forms.IntegerField(
        min_value=1, max_value=2**31 - 1, required=False, label=_("Relax skills after (seconds)")
    )
    max_wait_seconds = forms.IntegerField(
        min_value=1,
        max_value=2**31 - 1,
        required=False,
        label=_("Maximum wait (seconds)"),
        help_text=_("Empty for no limit."),
    )
    closed_dates = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label=_("Closed dates"),
        help_text=_("One date per line, YYYY-MM-DD."),
    )

    class Meta:
        model = Queue
        fields = [
            "key",
            "name",
            "priority",
            "is_fallback",
            "distribution",
            "assignment",
            "offer_timeout_seconds",
            "max_waiting",
            "skill_matching",
            "skill_relax_after_seconds",
            "when_closed_action",
            "when_closed_message",
            "when_closed_queue",
            "when_full_action",
            "when_full_message",
            "when_full_queue",
            "max_wait_seconds",
            "delivery_kind",
            "webhook_url",
        ]
        labels = {
            "is_fallback": _("Fallback queue"),
            "offer_timeout_seconds": _("Offer timeout (seconds)"),
            "max_waiting": _("Maximum waiting handoffs"),
            "skill_relax_after_seconds": _("Relax skills after (seconds)"),
            "when_closed_action": _("When closed"),
            "when_closed_message": _("Message to the customer"),
            "when_closed_queue": _("Transfer to"),
            "when_full_action": _("When full or waiting too long"),
            "when_full_message": _("Message to the customer"),
            "when_full_queue": _("Transfer to"),
            "max_wait_seconds": _("Maximum wait (seconds)"),
            "delivery_kind": _("Delivery"),
            "webhook_url": _("Webhook URL"),
        }
        help_texts = {
            "priority": _("Lower is served first."),
            "is_fallback": _(
                "Gets what no rule matched. Choosing this queue moves the flag from the "
                "current fallback queue."
            ),
            "max_waiting": _("Empty for unlimited."),
            "max_wait_seconds": _("Empty for no limit."),
        }
        widgets = {
            "when_closed_message": forms.TextInput(),
            "when_full_message": forms.TextInput(),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        others = Queue.objects.only("pk", "name")
        if self.instance.pk:
            others = others.exclude(pk=self.instance.pk)
        # One query for both selects instead of one each.
        choices = [("", "---------"), *((q.pk, q.name) for q in others)]
        for name in ("when_closed_queue", "when_full_queue"):
            field = self.fields[name]
            field.queryset = others  # type: ignore[attr-defined]
            field.choices = choices  # type: ignore[attr-defined]
        self.fields["assignment"].help_text = _("Push queues only.")
        for name in ("when_closed_action", "when_full_action"):
            self.fields[name].choices = [  # type: ignore[attr-defined]
                ("", _("Queue anyway (default)")),
                *OverflowAction.choices,
            ]
        for day, label in WEEKDAYS:
            day_field = forms.CharField(
                required=False,
                label=label,
                help_text=_("Empty: closed all day. For example 09:00-12:00, 13:00-17:00"),
            )
            day_field.template_name = FIELD_TEMPLATE  # type: ignore[attr-defined]
            self.fields[f"hours_{day}"] = day_field
        hours = self.instance.hours if self.instance.pk else None
        if not self.is_bound:
            self.initial["always_open"] = hours is None
            if hours:
                self.initial["timezone"] = hours.get("timezone", "UTC")
                self.initial["closed_dates"] = "\n".join(hours.get("closed_dates", []))
                for day, _label in WEEKDAYS:
                    windows = hours.get("weekly", {}).get(day, [])
                    self.initial[f"hours_{day}"] = ", ".join(f"{a}-{b}" for a, b in windows)

    def _get_validation_exclusions(self) -> set[str]:
        exclude = super()._get_validation_exclusions()  # type: ignore[misc]
        # The service moves the fallback flag, so "another queue is the fallback" is no error.
        exclude.add("is_fallback")
        return exclude

    def day_fields(self) -> list[forms.BoundField]:
        return [self[f"hours_{day}"] for day, _label in WEEKDAYS]

    def _clean_windows(self, name: str) -> list[list[str]]:
        raw = self.cleaned_data.get(name, "")
        windows = []
        for part in [p.strip() for p in raw.replace(";", ",").split(",") if p.strip()]:
            part = part.replace(" ", "").replace("–", "-")
            if not WINDOW_RE.match(part):
                self.add_error(name, _("“%(part)s” is not HH:MM-HH:MM.") % {"part": part})
                return []
            start, end = part.split("-")
            if start >= end:
                self.add_error(
                    name, _("%(start)s must be before %(end)s.") % {"start": start, "end": end}
                )
                return []
            windows.append([start, end])
        windows.sort()
        for before, after in itertools.pairwise(windows):
            if after[0] < before[1]:
                self.add_error(name, _("Time windows overlap."))
                return []
        return windows

    def clean_closed_dates(self) -> list[str]:
        dates = set()
        for line in self.cleaned_data.get("closed_dates", "").replace(",", "\n").splitlines():
            value = line.strip()
            if not value:
                continue
            try:
                if len(value) != 10:
                    raise ValueError
                date.fromisoformat(value)
            except ValueError:
                raise ValidationError(
                    _("“%(value)s” is not a date (YYYY-MM-DD)."), params={"value": value}
                ) from None
            dates.add(value)
        return sorted(dates)

    def clean_webhook_url(self) -> str:
        value = self.cleaned_data.get("webhook_url", "")
        if value:
            check_webhook_url(value)
        return value

    def clean_is_fallback(self) -> bool:
        value = self.cleaned_data.get("is_fallback", False)
        if not value and self.instance.pk and self.instance.is_fallback:
            raise ValidationError(
                _("One queue must be the fallback queue: make another queue the fallback instead.")
            )
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("distribution") == Queue.Distribution.PUSH and not data.get("assignment"):
            self.add_error("assignment", _("A push queue needs an assignment method."))
        if data.get("distribution") == Queue.Distribution.PICK:
            data["assignment"] = None
        webhook = data.get("delivery_kind") == Queue.DeliveryKind.WEBHOOK
        if webhook and not data.get("webhook_url") and "webhook_url" not in self.errors:
            self.add_error("webhook_url", _("A webhook queue needs the URL to deliver to."))
        for when in ("when_closed", "when_full"):
            action = data.get(f"{when}_action") or None
            data[f"{when}_action"] = action
            if action == OverflowAction.REJECT and not data.get(f"{when}_message"):
                self.add_error(
                    f"{when}_message", _("A reject needs the message shown to the customer.")
                )
            if action == OverflowAction.TRANSFER and not data.get(f"{when}_queue"):
                self.add_error(f"{when}_queue", _("A transfer needs a queue."))
            if action != OverflowAction.TRANSFER:
                data[f"{when}_queue"] = None
            if action != OverflowAction.REJECT:
                data[f"{when}_message"] = ""
        targets = [data.get("when_closed_queue"), data.get("when_full_queue")]
        if self.instance.pk and any(targets):
            cycle = queue_overflow_cycle(
                queue_id=self.instance.pk, target_ids=[t.pk for t in targets if t is not None]
            )
            if cycle:
                field = "when_closed_queue" if data.get("when_closed_queue") else "when_full_queue"
                self.add_error(
                    field,
                    _("Overflow loop: %(chain)s.") % {"chain": " → ".join(cycle)},
                )
        if data.get("always_open"):
            data["hours"] = None
        else:
            weekly = {}
            for day, _label in WEEKDAYS:
                windows = self._clean_windows(f"hours_{day}")
                if windows:
                    weekly[day] = windows
            data["hours"] = {
                "timezone": data.get("timezone") or "UTC",
                "weekly": weekly,
                "closed_dates": data.get("closed_dates") or [],
            }
        return data

    def queue_fields(self) -> dict[str, Any]:
        """The model values to save, once valid."""
        fields = {name: self.cleaned_data[name] for name in self.Meta.fields}
        fields["hours"] = self.cleaned_data["hours"]
        return fields


class MemberForm(PortalFormMixin, forms.Form):
    user = forms.TypedChoiceField(label=_("Agent"), coerce=int, required=False)
    capacity = forms.IntegerField(
        label=_("Capacity"), min_value=0, max_value=1000, initial=1, required=False
    )

    def __init__(self, *args: Any, agent_choices: list[tuple[Any, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].choices = [("", "---------"), *agent_choices]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("user") and data.get("capacity") is None:
            self.add_error("capacity", _("Give a capacity (0 or more)."))
        return data


class BaseMemberFormSet(BaseFormSet):
    def __init__(self, *args: Any, agent_choices: list[tuple[Any, str]], **kwargs: Any) -> None:
        self.agent_choices = agent_choices
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        return {"agent_choices": self.agent_choices}

    def clean(self) -> None:
        seen: set[int] = set()
        for form in self.forms:
            user = form.cleaned_data.get("user") if hasattr(form, "cleaned_data") else None
            if not user:
                continue
            if user in seen:
                form.add_error("user", _("This agent is already a member."))
            seen.add(user)

    def members(self, users: dict[int, User]) -> list[tuple[User, int]]:
        return [
            (users[f.cleaned_data["user"]], f.cleaned_data["capacity"])
            for f in self.forms
            if f.cleaned_data.get("user")
        ]


MemberFormSet = cast(
    type[BaseMemberFormSet], formset_factory(MemberForm, formset=BaseMemberFormSet, extra=1)
)


def agent_users() -> dict[int, User]:
    """Active users who hold the agent role, by id: the people a queue can have."""
    agents = User.objects.filter(is_active=True, groups__name=AGENT).order_by("username")
    return {u.pk: u for u in agents.distinct()}


class UserCreateForm(PortalFormMixin, forms.Form):
    username = forms.RegexField(
        regex=r"^[\w.@+-]+\Z",
        max_length=150,
        label=_("Username"),
        error_messages={"invalid": _("Letters, digits and @/./+/-/_ only.")},
    )
    first_name = forms.CharField(max_length=150, required=False, label=_("First name"))
    last_name = forms.CharField(max_length=150, required=False, label=_("Last name"))
    email = forms.EmailField(required=False, label=_("Email"))
    password = forms.CharField(
        widget=forms.PasswordInput(render_value=False), label=_("Password"), strip=False
    )
    roles = forms.MultipleChoiceField(
        choices=ROLE_CHOICES, required=False, widget=forms.CheckboxSelectMultiple, label=_("Roles")
    )
    is_active = forms.BooleanField(required=False, initial=True, label=_("Active"))

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise ValidationError(_("A user with this username already exists."))
        return username

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        candidate = User(username=self.data.get("username", ""), email=self.data.get("email", ""))
        validate_password(password, candidate)
        return password


class UserUpdateForm(PortalFormMixin, forms.Form):
    first_name = forms.CharField(max_length=150, required=False, label=_("First name"))
    last_name = forms.CharField(max_length=150, required=False, label=_("Last name"))
    email = forms.EmailField(required=False, label=_("Email"))
    password = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        label=_("New password"),
        required=False,
        strip=False,
        help_text=_("Leave empty to keep the current password."),
    )
    roles = forms.MultipleChoiceField(
        choices=ROLE_CHOICES, required=False, widget=forms.CheckboxSelectMultiple, label=_("Roles")
    )
    is_active = forms.BooleanField(required=False, label=_("Active"))

    def __init__(self, *args: Any, target: User, editor: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.target = target
        self.editor = editor

    def clean_password(self) -> str:
        password = self.cleaned_data.get("password", "")
        if password:
            validate_password(password, self.target)
        return password

    def clean_roles(self) -> list[str]:
        roles = self.cleaned_data.get("roles", [])
        # Nobody locks themselves out of user administration by accident.
        if self.target.pk == self.editor.pk and ADMIN not in roles:
            raise ValidationError(_("You cannot remove your own admin role."))
        return roles

    def clean_is_active(self) -> bool:
        active = self.cleaned_data.get("is_active", False)
        if self.target.pk == self.editor.pk and not active:
            raise ValidationError(_("You cannot deactivate yourself."))
        return active


class SkillForm(PortalFormMixin, ModelDataForm):
    key = forms.RegexField(
        regex=r"^[a-z0-9][a-z0-9_.:-]*\Z",
        max_length=100,
        label=_("Key"),
        help_text=_("For example language:ja or product:billing."),
        error_messages={
            "invalid": _("Lower-case letters, digits and . _ : - only, for example language:ja.")
        },
    )

    class Meta:
        model = Skill
        fields = ["key", "name"]


class AgentSkillForm(PortalFormMixin, forms.Form):
    skill = forms.TypedChoiceField(label=_("Skill"), coerce=int, required=False)
    proficiency = forms.IntegerField(
        label=_("Proficiency (1-5)"), min_value=1, max_value=5, initial=3, required=False
    )

    def __init__(self, *args: Any, skill_choices: list[tuple[Any, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["skill"].choices = [("", "---------"), *skill_choices]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("skill") and data.get("proficiency") is None:
            self.add_error("proficiency", _("Give a proficiency from 1 to 5."))
        return data


class BaseAgentSkillFormSet(BaseFormSet):
    def __init__(self, *args: Any, skill_choices: list[tuple[Any, str]], **kwargs: Any) -> None:
        self.skill_choices = skill_choices
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        return {"skill_choices": self.skill_choices}

    def clean(self) -> None:
        seen: set[int] = set()
        for form in self.forms:
            skill = form.cleaned_data.get("skill") if hasattr(form, "cleaned_data") else None
            if not skill:
                continue
            if skill in seen:
                form.add_error("skill", _("This skill is already listed."))
            seen.add(skill)

    def levels(self) -> dict[int, int]:
        return {
            f.cleaned_data["skill"]: f.cleaned_data["proficiency"]
            for f in self.forms
            if f.cleaned_data.get("skill")
        }


AgentSkillFormSet = cast(
    type[BaseAgentSkillFormSet],
    formset_factory(AgentSkillForm, formset=BaseAgentSkillFormSet, extra=1),
)
