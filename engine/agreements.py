"""The data file of one agreement (parties, contacts, governance, and the sections its workflow's plug-ins read,
such as themes), validated before it is entered, and turned into the typed parts of a new agreement: what acts
change (parties, facts, the plug-ins' state) and the static reference data (contacts, governance, the plug-ins'
texts), which is stored apart (engine/model.py `Reference`)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from convenant.engine.contacts import Contact, EmailAddress
from convenant.engine.definitions import WorkflowDefinition
from convenant.engine.errors import BadInput, invalid
from convenant.engine.model import Body as BodyData
from convenant.engine.model import Contact as ContactData
from convenant.engine.model import Facts, Language, Party, PluginData, Process, Reference
from convenant.engine.plugins.base import Plugin


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
    """The generic part of a data file; other keys must be read by a plug-in of the workflow."""
    model_config = ConfigDict(extra="allow")
    id: str | None = None
    workflow: str | None = None
    title: str | None = None
    parties: list[PartyIn] = Field(min_length=1)
    governance: dict[str, Body] = Field(default_factory=dict)
    themes_file: str | None = None   # read by read_data_file: the themes, targets and governance of a file beside
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
    """A data file and the themes file it names (INTERFACE.md), through engine/text.py: UTF-8 text, every
    string checked, the themes file inside the data file's folder (the one path policy for referenced files)."""
    from convenant.engine.text import MAX_FILE, read_toml, referenced
    file = Path(path)
    raw = read_toml(file, "--file")
    if raw.get("themes_file"):
        themes = read_toml(referenced(file, raw["themes_file"], "themes_file", MAX_FILE), "themes_file")
        raw.setdefault("themes", themes.get("themes", []))
        raw.setdefault("vth_targets", themes.get("vth_targets", []))
        if "governance" in themes:
            for key, body in themes["governance"].items():
                raw.setdefault("governance", {}).setdefault(key, {}).update(
                    {k: v for k, v in body.items() if k not in raw.get("governance", {}).get(key, {})})
    return raw


@dataclass
class NewAgreement:
    """The typed parts of an agreement about to be entered."""
    id: str | None
    title: str | None
    parties: dict[str, Party]
    facts: Facts
    reference: Reference
    plugins: dict[str, PluginData] = field(default_factory=dict)

    def process(self, pid: str, wf: WorkflowDefinition, *, state: str, created_at: dt.datetime,
                entered_at: dt.datetime) -> Process:
        return Process(id=pid, workflow=wf.name, ptype=wf.root, state=state, created_at=created_at, root_id=pid,
                       facts=self.facts, title=self.title, entered_at=entered_at, parties=self.parties,
                       plugins=self.plugins, reference=self.reference)


def _bad(exc: ValidationError, prefix: str = "") -> BadInput:
    return invalid(exc, "agreement data", prefix=prefix)


def _contacts(contacts: Iterable[Contact]) -> list[ContactData]:
    return [ContactData(name=c.name, email=c.email, language=Language(c.language)) for c in contacts]


def _governance(bodies: dict[str, Body]) -> dict[str, BodyData]:
    out = {}
    for key, body in bodies.items():
        contacts = _contacts(body.contacts)
        if body.email:
            contacts.insert(0, ContactData(name=body.name, email=body.email, language=Language(body.language)))
        out[key] = BodyData(name=body.name, article=body.article, contacts=contacts, abbr=body.abbr,
                            title={"nl": body.name, "en": body.name_en or body.name})
    return out


def _plugin_parts(wf: WorkflowDefinition, extra: dict[str, Any], plugins: Iterable[Plugin]
                  ) -> tuple[dict[str, PluginData], dict[str, PluginData]]:
    """Each plug-in of the workflow reads its keys of the data file; a key none of them reads is refused."""
    states: dict[str, PluginData] = {}
    references: dict[str, PluginData] = {}
    claimed: set[str] = set()
    for p in plugins:
        if p.from_data is None:
            continue
        mine = {k: v for k, v in extra.items() if k in p.data_keys}
        claimed |= set(mine)
        try:
            part = p.from_data(mine, wf)
        except ValidationError as exc:
            raise _bad(exc) from None
        states[p.name], references[p.name] = part.state, part.reference
    for key in extra:
        if key not in claimed:
            raise BadInput(f"agreement data: field {key!r}: Extra inputs are not permitted (the {wf.name} workflow "
                           f"reads no such section)", field=key)
    return states, references


def agreement_data(wf: WorkflowDefinition, raw: dict[str, Any], plugins: Iterable[Plugin] = ()) -> NewAgreement:
    """Validate the file and turn it into the parts of a new agreement; `plugins` are the workflow's
    (engine/plugins/registry.py `library(wf).plugins`), each reading its own sections."""
    try:
        data = AgreementData.model_validate(raw)
    except ValidationError as exc:
        raise _bad(exc) from None
    if data.workflow and data.workflow != wf.name:
        raise BadInput(f"the data file is for workflow {data.workflow!r}, not {wf.name!r}", field="workflow")
    parties = {p.id: Party(name=p.name, represented_by=p.represented_by, group=p.group, layer=p.layer,
                           reservation=p.reservation, themes=p.themes, language=Language(p.language))
               for p in data.parties}
    states, references = _plugin_parts(wf, dict(data.model_extra or {}), plugins)
    reference = Reference(contacts={p.id: _contacts(p.contacts) for p in data.parties},
                          governance=_governance(data.governance), plugins=references)
    return NewAgreement(id=data.id, title=data.title or wf.title.get("nl"), parties=parties,
                        facts=Facts(data.facts), reference=reference, plugins=states)
