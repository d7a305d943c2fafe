"""The response schemas of the HTTP API, for its OpenAPI document (/core/doc-openapi). They describe what the
routes answer - the same documents as the command line's `--json` - and are not used to rebuild the answers, so
what the CLI and the API print stays one document. Each names the fields INTERFACE.md fixes as required and
allows more (`additionalProperties`), as the contract says: more may be added."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["open", "met", "missed", "cancelled"]


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


# -- processes --------------------------------------------------------------------------------------------------
class DeadlineRef(Open):
    kind: str
    due: str = Field(description="ISO 8601 date")
    process: str


class DecisionRef(Open):
    process: str
    name: str
    article: str | None = None


class MissedRef(Open):
    process: str
    kind: str
    due: str


class ProcessSummary(Open):
    """One agreement in the list: the fields of `agreements list --json`, plus open decisions and missed
    deadlines."""
    id: str
    workflow: str
    state: str
    title: str | None = None
    effective_from: str | None = None
    ends_on: str | None = None
    next_deadline: DeadlineRef | None = None
    open_decisions: list[DecisionRef] = []
    missed_deadlines: list[MissedRef] = []
    version: int


class Party(Open):
    id: str
    name: str
    represented_by: str | None = None
    signed_on: str | None = None
    withdrawn_on: str | None = None


class Deadline(Open):
    """A deadline as `deadlines --json` and `show --json` give it."""
    process: str
    kind: str
    due: str = Field(description="ISO 8601 date")
    status: Status
    article: str | None = None
    rule: str | None = None
    subject: str | None = Field(None, description="the government or theme, for a deadline kept per subject")


class Explanation(Open):
    """Why a deadline is due when it is (`convenant explain ID KIND --json`)."""
    process: str
    kind: str
    subject: str | None = None
    due: str
    status: Status
    article: str | None = None
    rule: str | None = None
    inputs: list[dict[str, Any]] = Field(description="each with `what`, `name`, `value` and the `seq` of the "
                                                     "record it comes from (or null)")
    steps: list[str] = Field(description="the calendar reasoning, in words")
    schedule: list[dict[str, Any]] = Field([], description="each reminder, the missing and each escalation step: "
                                                           "`at`, `kind`, `why`, `done`")


class ExplainedDeadline(Deadline):
    explanation: Explanation | None = Field(None, description="with `explain=true`")


class Child(Open):
    id: str
    state: str


class ProcessView(Open):
    """What `show --json` returns."""
    id: str
    workflow: str
    state: str
    effective_from: str | None = None
    ends_on: str | None = None
    parties: list[Party]
    deadlines: list[Deadline]
    children: list[Child]
    allowed_triggers: list[str]
    version: int


class HistoryRecord(Open):
    """One transition record, as `history --json` gives it."""
    seq: int
    process: str
    trigger: str
    source: str | None = None
    dest: str | None = None
    actor: str | None = None
    role: str | None = None
    party: str | None = None
    effective: str | None = Field(None, description="the legal date of the act")
    recorded_at: str = Field(description="when it was entered, on the engine's clock, with its UTC offset")
    article: str | None = None
    ref: str | None = None
    reason: str | None = None
    hash: str
    corrects: int | None = Field(None, description="the seq this record corrects")
    corrected_by: int | None = Field(None, description="the seq of the correction of this record")


class Fired(Open):
    """What firing a trigger did (`trigger --json`), with the process's new version (also its ETag)."""
    process: str
    trigger: str
    source: str | None = None
    dest: str | None = None
    seq: int | None = None
    effective: str | None = None
    created: str | None = Field(None, description="the id of the child process the trigger started")
    version: int | None = None


class Verdict(Open):
    """`audit verify --json`."""
    intact: bool
    records: int


# -- the log ----------------------------------------------------------------------------------------------------
class PublicKey(BaseModel):
    public_key: str
    key_id: str
    origin: str


class Checkpoint(Open):
    size: int
    root: str
    note: str = Field(description="the C2SP signed note")


class InclusionProof(Open):
    seq: int
    leaf_index: int
    tree_size: int
    root: str
    inclusion_proof: list[str]


# -- mail and refusals ------------------------------------------------------------------------------------------
class OutboxItem(Open):
    """A notification and its delivery state (`outbox --json`)."""
    id: int
    to: str
    subject: str
    status: Literal["pending", "sent", "failed"]
    attempts: int
    to_name: str | None = None
    kind: str | None = None
    process: str | None = None
    created_at: str | None = None
    sent_at: str | None = None
    last_error: str | None = None
    message_id: str | None = None
    next_attempt_at: str | None = None
    record_seq: int | None = None


class Resent(BaseModel):
    id: int
    status: Literal["pending"]


class Refusal(Open):
    """A refused attempt (`audit refusals --json`): who tried what, and why; kept apart from the history."""
    id: int
    at: str
    process: str | None = None
    trigger: str | None = None
    actor: str | None = None
    role: str | None = None
    party: str | None = None
    code: int = Field(description="the command line's exit code: 2 bad input, 3 not allowed, 4 not found, "
                                  "5 conflict")
    error: str = Field(description="bad_input, not_allowed, not_found, conflict or error")
    message: str
    article: str | None = None


# -- rehearsals and corrections ---------------------------------------------------------------------------------
class StateReached(Open):
    process: str
    state: str
    at: str


class Mail(Open):
    date: str
    to: str
    subject: str


class WhatIf(Open):
    """`convenant whatif --json`: what the acts would do on a throwaway fork; nothing is written or sent."""
    agreement: str
    until: str
    states: list[StateReached]
    deadlines: list[Deadline]
    mails: list[Mail]
    difference: dict[str, Any] | None = Field(None, description="against the same fork run with no acts")


class Change(Open):
    what: str
    before: Any = None
    after: Any = None


class Correction(Open):
    """`convenant correct --json`."""
    seq: int | None = Field(description="the correction's record (null on a dry run)")
    corrects: int
    changes: list[Change]
    dry_run: bool


class Migration(Open):
    """`convenant migrate --json`."""


# -- people -----------------------------------------------------------------------------------------------------
class User(Open):
    """A personal account (`users list --json`)."""
    email: str
    name: str
    role: str
    party: str | None = None
    language: str | None = None
    enabled: bool


# -- the entry --------------------------------------------------------------------------------------------------
class Index(BaseModel):
    """The API's base: its version and where its description and documentation are."""
    name: str
    version: str = Field(description="the full semantic version, as the API-Version header")
    openapi: str
    docs: str


# -- definitions, clock, progress, parties ----------------------------------------------------------------------
class WorkflowSummary(Open):
    name: str
    version: int
    title: str | None = None
    article: str | None = None
    processes: list[str]


class Workflow(Open):
    """`workflows show NAME --json` (the definition as data), or with diagram=mermaid: `name`, `format`,
    `diagram`."""
    name: str


class Clock(BaseModel):
    now: str = Field(description="ISO 8601 with its UTC offset")
    simulated: bool
    timezone: str
    today: str


class Progress(Open):
    """`progress ID --json`: the themes (each `id`, `status`, `last_report`, `escalation_level`, `sign_ups`) and
    the governments signed up."""
    agreement: str
    themes: list[dict[str, Any]]


class Contact(Open):
    name: str
    email: str
    language: str | None = None


class PartyDetail(Open):
    """A party of an agreement with its contacts."""
    id: str
    agreement: str
    name: str
    represented_by: str | None = None
    language: str | None = None
    signed_on: str | None = None
    withdrawn_on: str | None = None
    contacts: list[Contact]
