"""The data file of one agreement (parties, contacts, governance, themes), validated before it is entered."""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from convenant.engine.contacts import Contact, EmailAddress
from convenant.engine.definitions import WorkflowDefinition
from convenant.engine.errors import BadInput, invalid
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class PartyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    represented_by: str | None = None
    group: str | None = None
    layer: str | None = None
    reservation: str | None = None
    themes: list[str] | None = None
    language: Literal["nl", "en"] = "nl"
    contacts: list[Contact] = Field(default_factory=list)


class Commitment(BaseModel):
    model_config = ConfigDict(extra="ignore")
    n: int
    title_nl: str
    title_en: str | None = None


class ThemeIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    title_nl: str
    title_en: str | None = None
    article: str = "Art. 4"
    commitments: list[Commitment] = Field(default_factory=list)
    contacts: list[Contact] = Field(default_factory=list)


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str
    name_en: str | None = None
    abbr: str | None = None          # "DO", "BO": how the ladder's emails name the body
    article: str | None = None
    email: EmailAddress | None = None
    language: Literal["nl", "en"] = "nl"
    contacts: list[Contact] = Field(default_factory=list)


class AgreementData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    workflow: str | None = None
    title: str | None = None
    parties: list[PartyIn] = Field(min_length=1)
    governance: dict[str, Body] = Field(default_factory=dict)
    themes: list[ThemeIn] = Field(default_factory=list)
    themes_file: str | None = None
    vth_targets: list[dict[str, Any]] = Field(default_factory=list)
    facts: dict[str, Any] = Field(default_factory=dict)

    @field_validator("parties")
    @classmethod
    def _parties(cls, parties: list[PartyIn]) -> list[PartyIn]:
        # a field validator, so that the error names the field 'parties'
        ids = [p.id for p in parties]
        if len(ids) != len(set(ids)):
            raise ValueError("party ids must be unique")
        for p in parties:
            if p.represented_by and p.represented_by not in ids:
                raise ValueError(f"party {p.id} is represented by unknown party {p.represented_by}")
            if p.represented_by == p.id:
                raise ValueError(f"party {p.id} cannot represent itself")
        return parties


def read_data_file(path: str | Path) -> dict[str, Any]:
    file = Path(path)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"{file} does not exist", field="--file") from None
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{file}: not valid TOML: {exc}", field="--file") from None
    if raw.get("themes_file"):
        themes = tomllib.loads((file.parent / raw["themes_file"]).read_text(encoding="utf-8"))
        raw.setdefault("themes", themes.get("themes", []))
        raw.setdefault("vth_targets", themes.get("vth_targets", []))
        if "governance" in themes:
            for key, body in themes["governance"].items():
                raw.setdefault("governance", {}).setdefault(key, {}).update(
                    {k: v for k, v in body.items() if k not in raw.get("governance", {}).get(key, {})})
    return raw


def agreement_data(wf: WorkflowDefinition, raw: dict[str, Any]) -> dict[str, Any]:
    """Validate and turn the file into the process data the engine keeps."""
    try:
        data = AgreementData.model_validate(raw)
    except ValidationError as exc:
        raise invalid(exc, "agreement data") from None
    if data.workflow and data.workflow != wf.name:
        raise BadInput(f"the data file is for workflow {data.workflow!r}, not {wf.name!r}", field="workflow")
    parties = {}
    for p in data.parties:
        parties[p.id] = {"name": p.name, "represented_by": p.represented_by, "group": p.group, "layer": p.layer,
                         "reservation": p.reservation, "themes": p.themes, "language": p.language,
                         "contacts": [c.model_dump() for c in p.contacts], "signed_on": None, "withdrawn_on": None}
    themes = {}
    for th in data.themes:
        themes[th.id] = {"title": {"nl": th.title_nl, "en": th.title_en or th.title_nl}, "article": th.article,
                         "commitments": [c.model_dump() for c in th.commitments],
                         "contacts": [c.model_dump() for c in th.contacts],
                         "status": None, "last_report": None, "escalation_level": 0, "sign_ups": []}
    governance = {}
    for key, body in data.governance.items():
        contacts = [c.model_dump() for c in body.contacts]
        if body.email:
            contacts.insert(0, {"name": body.name, "email": body.email, "language": body.language})
        governance[key] = {"name": body.name, "article": body.article, "contacts": contacts, "abbr": body.abbr,
                           "title": {"nl": body.name, "en": body.name_en or body.name}}
    return {"id": data.id, "title": data.title or wf.title.get("nl"), "parties": parties, "themes": themes,
            "governance": governance, "vth_targets": data.vth_targets, "facts": dict(data.facts)}
