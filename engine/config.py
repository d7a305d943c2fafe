"""The settings of one installation (config.toml), validated on load; errors name the key."""
from __future__ import annotations

import datetime as dt
import difflib
import os
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from convenant.engine.contacts import Contact
from convenant.engine.errors import BadInput

# The shipped config.toml carries these same values; a kind missing from [reminders] gets them.
DEFAULT_REMINDERS: dict[str, list[int]] = {
    "publication": [14, 7, 1],
    "work_structure": [14, 7, 1],
    "extension_decision": [30, 14, 7, 1],
    "end": [30],
    "amendment_response": [14, 7, 1],
    "notice_period": [7],
    "continuation_decision": [14, 7, 1],
    "proposal": [14, 7, 1],
    "go_no_go": [30, 7],
    "vth_target": [90, 30],
    "progress_report": [14],
}

# Every number and date a setting holds has a range (issue 19: a day count of 10**20 passed validation and
# crashed the next command's date arithmetic). A century of days is far beyond any period of an agreement.
MAX_DAYS = 36_600
NonNegative = Annotated[int, Field(ge=0, le=MAX_DAYS)]
Days = Annotated[int, Field(ge=1, le=MAX_DAYS)]
# The years a date of the calendar settings may name; Python's date arithmetic ends at the year 9999.
SettingDate = Annotated[dt.date, Field(ge=dt.date(1900, 1, 1), le=dt.date(2999, 12, 31))]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClockSettings(Strict):
    timezone: str = "Europe/Amsterdam"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class MailPolicy(Strict):
    """What the engine reads of [mail]: whether acts are confirmed. The transport's keys (notifications/settings.py)
    extend this table in the installation's config (app/bootstrap.py Config)."""
    # Confirmations of acts recorded by a person; none for acts dated longer ago (entering past history).
    confirmations: bool = True
    confirmations_max_age_days: NonNegative = 7


Rung = Literal["responsible", "do", "bo"]
RUNGS: tuple[Rung, ...] = ("responsible", "do", "bo")


class Escalation(Strict):
    after_days: list[NonNegative] = Field(default_factory=lambda: [0, 14, 28])
    levels: list[Rung] = Field(default_factory=lambda: list(RUNGS))

    @field_validator("after_days")
    @classmethod
    def _ascending(cls, value: list[int]) -> list[int]:
        if value != sorted(value):
            raise ValueError("must be in ascending order")
        return value


class Scheduler(Strict):
    interval_seconds: Annotated[int, Field(ge=1, le=86_400)] = 30
    reminder_time: str = "08:00"
    reminders_on_working_days: bool = False
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 500

    @field_validator("reminder_time")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        try:
            dt.time.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a time of day (HH:MM)") from None
        return value


class Decisions(Strict):
    amendment_response_days: Days = 42
    continuation_decision_days: Days = 28
    extension_opens_days_before: NonNegative = 90


class Progress(Strict):
    report_interval_days: Days = 90


class Documents(Strict):
    """[documents]: files attached to an act (--set document=PATH) are read only when regular and at most this
    large; the history keeps their name, size and SHA-256 (engine/documents.py)."""
    max_bytes: Annotated[int, Field(ge=1, le=1024 ** 3)] = 20 * 1024 * 1024


class LogSettings(Strict):
    """[log]: the verifiable log (engine/log.py). `key_file`: the Ed25519 signing key (a file outside the database,
    relative to the config file's folder; created by `convenant keys create` or at the first checkpoint);
    `origin`: the log's name, the first line of every checkpoint (the name of a key created from now on);
    `checkpoint_mail_days`: every so many days the latest checkpoint is mailed to every party (0: never);
    `tsa_url`: an RFC 3161 time-stamping authority that also stamps each checkpoint (none: not stamped), and
    `tsa_certificate` its CA certificate, with which `audit verify` checks the tokens' signatures."""
    key_file: str = "convenant-log.key"
    origin: str | None = None
    checkpoint_mail_days: NonNegative = 0
    tsa_url: str | None = None
    tsa_timeout_seconds: Annotated[int, Field(ge=1, le=600)] = 10
    tsa_certificate: str | None = None     # the authority's CA certificate (PEM): `audit verify` checks its tokens

    @field_validator("tsa_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("the time-stamping authority's URL starts with http:// or https://")
        return value

    def tsa_certificate_path(self, base_dir: Path) -> Path | None:
        if self.tsa_certificate is None:
            return None
        path = Path(self.tsa_certificate).expanduser()
        return path if path.is_absolute() else base_dir / path

    @field_validator("origin")
    @classmethod
    def _origin(cls, value: str | None) -> str | None:
        if value is not None and (not value or "+" in value or any(ch.isspace() for ch in value)):
            raise ValueError("the log's name must be non-empty, without spaces or '+' (like example.org/convenant)")
        return value

    def key_path(self, base_dir: Path) -> Path:
        path = Path(self.key_file).expanduser()
        return path if path.is_absolute() else base_dir / path


class CalendarSettings(Strict):
    # Days equated to holidays by decree (Atw Art. 3(2)); no library knows them.
    extra_rest_days: list[SettingDate] = Field(default_factory=lambda: [dt.date(2026, 1, 2), dt.date(2026, 5, 15),
                                                                   dt.date(2027, 5, 7)])


class Settings(Strict):
    """The engine's settings: the clock, reminders, escalation, scheduling, decision periods, the calendar and
    contacts. The installation's own settings (database, mail transport, web) belong to the parts that use them
    and join these in app/bootstrap.py (Config), which reads the whole config.toml."""
    clock: ClockSettings = Field(default_factory=ClockSettings)
    mail: MailPolicy = Field(default_factory=MailPolicy)
    reminders: dict[str, list[NonNegative]] = Field(default_factory=dict)
    escalation: Escalation = Field(default_factory=Escalation)
    scheduler: Scheduler = Field(default_factory=Scheduler)
    decisions: Decisions = Field(default_factory=Decisions)
    progress: Progress = Field(default_factory=Progress)
    calendar: CalendarSettings = Field(default_factory=CalendarSettings)
    documents: Documents = Field(default_factory=Documents)
    log: LogSettings = Field(default_factory=LogSettings)
    contacts: dict[str, Contact] = Field(default_factory=dict)
    base_dir: Path = Path(".")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.clock.timezone)

    @property
    def reminder_time(self) -> dt.time:
        return dt.time.fromisoformat(self.scheduler.reminder_time)

    def reminder_offsets(self, kind: str) -> list[int]:
        if kind in self.reminders:
            return sorted(set(self.reminders[kind]), reverse=True)
        return sorted(set(DEFAULT_REMINDERS.get(kind, [14, 7, 1])), reverse=True)

    def param(self, dotted: str) -> object:
        """A setting by its dotted key, for definitions that take a value from the config."""
        node: object = self
        for part in dotted.split("."):
            node = node[part] if isinstance(node, dict) else getattr(node, part)
        return node


def _key_of(error: Mapping[str, Any]) -> str:
    """The dotted key of a failed value; a list item is named by its list (reminders.publication, not .0)."""
    return ".".join(str(part) for part in error["loc"] if not isinstance(part, int))


def check_reminder_kinds(settings: Settings, kinds: set[str]) -> None:
    """A [reminders] key that is no deadline kind (of a workflow, or of the shipped defaults) is a typo that
    would silently keep the defaults."""
    kinds = set(kinds) | set(DEFAULT_REMINDERS)
    unknown = sorted(set(settings.reminders) - kinds)
    if unknown:
        key = f"reminders.{unknown[0]}"
        raise BadInput(f"config.toml: [reminders] key {key!r}: no workflow has a deadline of this kind (kinds: "
                       f"{', '.join(sorted(kinds))})", field=key)


S = typing.TypeVar("S", bound=Settings)


def load_settings(path: str | os.PathLike | None, model: type[S] = Settings) -> S:  # type: ignore[assignment]
    """Read config.toml into `model`; a missing default file means all defaults, a missing named file is bad
    input."""
    if path is None:
        return model()
    from convenant.engine.text import check_path, read_toml
    file = check_path(path, "--config")
    if not file.exists():
        raise BadInput(f"config file {file} does not exist", field="--config")
    raw = read_toml(file, "config.toml")   # UTF-8, every string checked (engine/text.py)
    return settings_from_dict(raw, base_dir=file.resolve().parent, source=str(file), model=model)


def _known_keys(loc: tuple, top: type[BaseModel]) -> list[str]:
    """The keys a config.toml table accepts, for the table that holds the unknown key at `loc`."""
    model: type[BaseModel] = top
    parts = list(loc[:-1])
    while parts:
        field = model.model_fields.get(str(parts.pop(0)))
        annotation = field.annotation if field else None
        if typing.get_origin(annotation) is dict and parts:   # [contacts.NAME]: a table of tables
            annotation = typing.get_args(annotation)[1]
            parts.pop(0)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return [name for name in model.model_fields if name != "base_dir"]


def _unknown_key(source: str, loc: tuple, top: type[BaseModel]) -> BadInput:
    key = ".".join(str(part) for part in loc)
    known = _known_keys(loc, top)
    near = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    what = f"section [{key}]" if len(loc) == 1 else f"key {key!r}"
    hint = f"; did you mean {near[0]!r}?" if near else ""
    listing = f" (known: {', '.join(known)})" if known else ""
    return BadInput(f"{source}: unknown {what}{hint}{listing}", field=key)


def settings_from_dict(raw: dict, *, base_dir: Path = Path("."), source: str = "config.toml",
                       model: type[S] = Settings) -> S:  # type: ignore[assignment]
    if "base_dir" in raw:
        raise _unknown_key(source, ("base_dir",), model)
    try:
        settings = model.model_validate({**raw, "base_dir": base_dir})
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "extra_forbidden":
            raise _unknown_key(source, tuple(first["loc"]), model) from None
        key = _key_of(first)
        items = [part for part in first["loc"] if isinstance(part, int)]
        where = f" (item {items[-1] + 1}: {first['input']!r})" if items else ""
        raise BadInput(f"{source}: [{key.split('.')[0]}] key {key!r}{where}: {first['msg']}", field=key) from None
    return settings
