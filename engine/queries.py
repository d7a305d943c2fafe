"""The read side of the service layer: every read model the command line, the pages and the API show, built on
the `ReadModels` port alone and filtered to what the reader may see (a party its own agreements; confidential
notes hidden from whoever may not read them, Art. 5.9)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from convenant.engine.access import Principal, agreement_of, may_see, root_of
from convenant.engine.confidential import redact
from convenant.engine.dates import parse_date
from convenant.engine.errors import BadInput, NotAllowed, NotFound
from convenant.engine.model import Process

if TYPE_CHECKING:
    from convenant.engine.ports import ReadModels
    from convenant.engine.service import Service


def check_date(value: str | None, field: str) -> str | None:
    if value is None or value == "":
        return None
    try:
        return parse_date(value, field).isoformat()
    except ValueError as exc:
        raise BadInput(str(exc), field=field) from None


class Queries:
    def __init__(self, reads: ReadModels, service: Service) -> None:
        self.reads = reads
        self.service = service

    # -- processes ------------------------------------------------------------------------------------
    def process(self, pid: str) -> Process:
        proc = self.reads.process(pid)
        if proc is None:
            raise NotFound(f"no process {pid!r}", process=pid)
        return proc

    def find(self, pid: str) -> Process | None:
        return self.reads.process(pid)

    def root(self, proc: Process) -> Process:
        return agreement_of(proc, self.reads.process)

    def roots(self, principal: Principal | None = None) -> list[Process]:
        return [r for r in self.reads.roots() if principal is None or may_see(principal, r)]

    def children(self, root_id: str) -> list[Process]:
        return self.reads.children(root_id)

    def party_ids(self) -> list[str]:
        """Every party id of every agreement in the database."""
        return sorted({pid for root in self.reads.roots() for pid in root.parties})

    def require_visible(self, principal: Principal, pid: str) -> Process:
        """A party reads the agreements it is a party to; others read everything. 404 before 403."""
        proc = self.reads.process(pid)
        root = self.reads.process(root_of(pid)) if proc is not None else None
        if proc is None or root is None:
            raise NotFound(f"no process {pid!r}", process=pid)
        if not may_see(principal, root):
            raise NotAllowed(f"the party {principal.party} is not a party to {root.id}; a party token sees its "
                             f"own agreements only", forbidden=True, process=pid)
        return proc

    def show(self, pid: str, role: str | None = None, party: str | None = None) -> dict[str, Any]:
        from convenant.engine.views import show
        return show(self.service, pid, role, party)

    def party(self, pid: str, party: str) -> dict[str, Any]:
        """One party of a process's agreement with its contacts (who receives its mail, in which language)."""
        root = self.root(self.process(pid))
        found = root.parties.get(party)
        if found is None:
            raise NotFound(f"no party {party!r} in {root.id}", process=pid)
        contacts = root.reference.contacts.get(party, []) if root.reference is not None else []
        rep = root.parties.get(found.represented_by) if found.represented_by else None
        return {"id": party, "agreement": root.id, "name": found.name, "represented_by": found.represented_by,
                "represented_by_name": rep.name if rep else None, "group": found.group,
                "language": str(found.language), "signed_on": found.signed_on.isoformat() if found.signed_on else None,
                "withdrawn_on": found.withdrawn_on.isoformat() if found.withdrawn_on else None,
                "contacts": [c.to_dict() for c in contacts]}

    def list_agreements(self) -> list[dict[str, Any]]:
        """`agreements list`: each agreement with its state, dates and next open deadline."""
        nxt: dict[str, Any] = {}
        for open_deadline in self.reads.deadlines(statuses=("open",)):
            nxt.setdefault(open_deadline.root_id, open_deadline)
        rows = []
        for p in self.reads.roots():
            d = nxt.get(p.id)
            rows.append({"id": p.id, "workflow": p.workflow, "state": p.state, "title": p.title,
                         "effective_from": p.facts.get("effective_from"), "ends_on": p.facts.get("ends_on"),
                         "next_deadline": {"kind": d.kind, "due": d.due.isoformat(), "process": d.process_id}
                         if d else None})
        return rows

    def overview(self, principal: Principal) -> list[dict[str, Any]]:
        """One row per agreement the principal may see: the fields of `agreements list --json`, plus open
        decisions and missed deadlines (the pages' start and the API's list)."""
        rows = []
        for root in self.roots(principal):
            doc = self.show(root.id, principal.role, principal.party)
            deadlines = doc["deadlines"] + [d for c in doc["children"] for d in c["deadlines"]]
            open_ = sorted((d for d in deadlines if d["status"] == "open"), key=lambda d: (d["due"], d["process"]))
            decisions = [{**dec, "process": doc["id"]} for dec in doc["decisions"]] + \
                [{**dec, "process": c["id"]} for c in doc["children"] if not c["final"] for dec in c["decisions"]]
            nxt = open_[0] if open_ else None
            rows.append({
                "id": root.id, "workflow": root.workflow, "state": root.state, "state_title": doc["state_title"],
                "title": root.title, "effective_from": doc["effective_from"], "ends_on": doc["ends_on"],
                "next_deadline": {"kind": nxt["kind"], "due": nxt["due"], "process": nxt["process"]} if nxt else None,
                "open_decisions": [{"process": d["process"], "name": d["name"], "article": d["article"]}
                                   for d in decisions if not d["outcome"]],
                "missed_deadlines": [{"process": d["process"], "kind": d["kind"], "due": d["due"]}
                                     for d in deadlines if d["status"] == "missed"],
                "version": doc["version"]})
        return rows

    def progress(self, agreement_id: str | None) -> list[dict[str, Any]]:
        from convenant.engine.views import offers, progress_view
        ids = [agreement_id] if agreement_id else [p.id for p in self.reads.roots() if offers(p, "progress")]
        return [progress_view(self.service, pid) for pid in ids]

    # -- deadlines ------------------------------------------------------------------------------------
    def deadlines(self, principal: Principal | None = None, *, within: int | None = None, show_all: bool = False,
                  include_missed: bool = False) -> list[dict[str, Any]]:
        """Open deadlines soonest first (`deadlines --json`); `include_missed` adds missed ones not met yet."""
        from convenant.engine.views import deadline_view
        until = self.service.today() + dt.timedelta(days=within) if within is not None else None
        statuses = None if show_all else (("open", "missed") if include_missed else ("open",))
        seen = {r.id: r for r in self.reads.roots()}
        out = []
        for d in self.reads.deadlines(statuses=statuses, due_until=until):
            root = seen.get(d.root_id)
            if root is None or (principal is not None and not may_see(principal, root)):
                continue
            if include_missed and not show_all and d.status == "missed" and d.met_on is not None:
                continue
            out.append({**deadline_view(self.service, d), "id": d.id})
        return out

    # -- the history ----------------------------------------------------------------------------------
    def reader(self, role: str, party: str | None, parties: Iterable[str]) -> str | None:
        """The party that reads (role party), checked against the agreement's parties."""
        if role == "party" and not party:
            raise BadInput("--party is required with --role party", field="party")
        known = set(parties)
        if party is not None and party not in known:
            raise BadInput(f"unknown party {party!r}; parties are {', '.join(sorted(known))}", field="party")
        return party if role == "party" else None

    def history(self, pid: str, *, role: str = "secretariat", party: str | None = None, since: str | None = None,
                until: str | None = None) -> Iterator[dict[str, Any]]:
        """`history ID`: the records of a process (and its children, for an agreement) as `role` reads them;
        without --role party, `party` filters the acts of that party."""
        proc = self.process(pid)
        reader = self.reader(role, party, self.root(proc).parties)
        rows = self.reads.history(pid, include_children=proc.parent_id is None, party=None if reader else party,
                                  since=check_date(since, "since"), until=check_date(until, "until"))
        return self.readable(rows, role, reader)

    def export(self, *, role: str = "secretariat", party: str | None = None) -> Iterator[dict[str, Any]]:
        """`audit export`: every record of the database, as `role` reads them."""
        reader = self.reader(role, party, self.party_ids())
        return self.readable(self.reads.history(), role, reader)

    def records(self, principal: Principal, *, process: str | None = None, party: str | None = None,
                since: str | None = None, until: str | None = None) -> Iterator[dict[str, Any]]:
        """The pages' and the API's history stream, limited to the principal's agreements. The filters are
        checked at once; the rows are read lazily, page by page."""
        since, until = check_date(since, "since"), check_date(until, "until")
        include_children = True
        if process is not None:
            proc = self.reads.process(process)
            include_children = proc is not None and proc.parent_id is None
        allowed = {r.id for r in self.roots(principal)} if principal.role == "party" else None
        rows = self.reads.history(process, include_children=include_children, party=party or None, since=since,
                                  until=until)
        rows = (rec for rec in rows if allowed is None or root_of(rec["process"]) in allowed)
        return self.readable(rows, principal.role, principal.party)

    def readable(self, rows: Iterable[dict[str, Any]], role: str, reader: str | None) -> Iterator[dict[str, Any]]:
        """History records with the notifications each caused, as this role may read them."""
        for row in self.reads.with_notifications(rows, self.service.tz):
            yield redact(row, role, reader)

    def verify(self) -> dict[str, Any]:
        """`audit verify`: every agreement's chain (storage) and the log - leaves, tree, checkpoints, signatures
        (engine/log.py) - with the first bad record of either."""
        return self.service.log.audit(self.reads.verify_chain())

    def refusals(self, limit: int = 200) -> list[dict[str, Any]]:
        return self.reads.refusals(limit)

    def outbox(self, status: str | None = None, root_id: str | None = None) -> list[dict[str, Any]]:
        return self.reads.outbox(status, root_id)
