"""`convenant audit replay`: state follows from the history. Every agreement's state, deadlines and outbox are
rebuilt from the history alone - each act a person recorded entered again, at the moment it was recorded, into a
scratch store (the factory's: app/bootstrap.py gives the in-memory store) on a virtual clock, the scheduler's work
run in between as `clock advance` runs it - and compared with what the database holds. A row of `processes` or
`deadlines` edited without a record (a state, a date, a status changed by hand) shows as a difference, naming the
process and the field. The hash chains and the log (`audit verify`) guard the history itself; this guards what is
derived from it.

What is entered again: the `create` record (which holds the agreement's data file), every trigger a person fired,
and the acts outside a definition's triggers that have a replayer here (`REPLAYERS`: contacts replaced, a
migration to another definition version), each as
the corrections recorded since say it should have been (engine/corrections.py). What is not: the engine's own
records (automatic transitions, missed deadlines, escalations, the records of children an act opened) and
bookkeeping (corrections), which the replay makes again itself - and then compares with the stored
ones, record by record, and its outbox, for an agreement without corrections. An agreement whose
`create` record predates this release holds no data file: it is listed as not replayable, not as different.

The comparison stops where the database's scheduler last ran (the log's sequencer notes the moment); on a real
clock an act entered in the seconds between a due moment and the scheduler's run may replay in the other order."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from convenant.engine import upcast
from convenant.engine.access import root_of
from convenant.engine.clock import DatabaseClock
from convenant.engine.corrections import BOOKKEEPING, RESERVE, corrected, enter, reservations
from convenant.engine.corrections import _entry_moment as entry_moment
from convenant.engine.errors import ConvenantError
from convenant.engine.log import NoLog
from convenant.engine.pipeline import TriggerRequest

if TYPE_CHECKING:
    from convenant.engine.queries import Queries
    from convenant.engine.service import Service
    from convenant.engine.whatif import Fork

LAST_RUN = "log_last_run"            # meta key: the moment the scheduler (or `clock advance`) last ran (engine/log.py)
# mail that depends on more than the history: a transport's failures, the log's periodic mail
UNREPLAYED_MAIL = frozenset({"delivery_failed", "checkpoint"})
DEADLINE_FIELDS = ("due", "status", "met_on", "missed_at", "article", "rule", "moment", "responsible")

Replayer = Callable[["Service", dict[str, Any]], Any]


def _update_contacts(svc: Service, rec: dict[str, Any]) -> Any:
    data = rec.get("data") or {}
    language = (data.get("language") or {}).get("after")
    return svc.update_contacts(rec["process"], rec["party"], (data.get("contacts") or {}).get("after") or [],
                               actor=rec["actor"], role=rec["role"], language=language, reason=rec.get("reason"))


def _migrate(svc: Service, rec: dict[str, Any]) -> Any:
    from convenant.engine.migrate import enter_migration
    return enter_migration(svc, rec)


# acts recorded outside a definition's triggers, and how to enter each again (a new kind registers here)
REPLAYERS: dict[str, Replayer] = {"update_contacts": _update_contacts, "migrate": _migrate, RESERVE: enter}


def _moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def replay(service: Service, queries: Queries, fork: Callable[[], Fork]) -> dict[str, Any]:
    """Rebuild everything from the history into `fork()` and compare (see the module's docstring)."""
    from convenant.engine.service import Service

    records = list(queries.reads.history())
    with service.store.transaction() as tx:
        last_run = tx.meta(LAST_RUN)
        simulated, live_now = service.clock_info(tx)
    scratch = fork()
    svc = Service(scratch.store, service.settings, service.workflows, subject=service.subject,
                  clock=DatabaseClock(scratch.store))
    svc.log = NoLog()  # type: ignore[assignment]
    start = _moment(records[0]["recorded_at"]) if records else live_now
    svc.init_database(simulation=True, start=start)
    differences: list[dict[str, Any]] = []
    skipped = {root_of(r["process"]) for r in records
               if r["trigger"] == "create" and not (r.get("data") or {}).get("agreement")}
    # the acts as the corrections recorded among them say they should have been (engine/corrections.py), each at
    # its moment of entry (a date corrected to after its entry: on that date)
    # (and where a withdrawn act opened children, their numbers kept taken at its moment, as they stay live)
    acts = [(entry_moment(r, service.tz), r) for r in [*corrected(records), *reservations(records)]
            if root_of(r["process"]) not in skipped]
    corrections = {root_of(r["process"]) for r in records if r["trigger"] in BOOKKEEPING}
    entered = 0
    for at, rec in sorted(acts, key=lambda a: (a[0], a[1]["seq"])):
        if at > svc.now():
            svc.advance_clock(at)
        try:
            _enter(svc, rec)
            entered += 1
        except ConvenantError as exc:
            differences.append({"process": rec["process"], "field": f"history seq {rec['seq']} ({rec['trigger']})",
                                "stored": "recorded", "replayed": f"refused: {exc}"})
    end = _moment(last_run) if last_run else (live_now if simulated else None)
    if end is not None and end > svc.now():
        svc.advance_clock(end)
    differences += _compare_history(records, list(scratch.reads.history()), skipped | corrections)
    # a child opened by an act a correction withdrew stays live under its id, closed; the replay has none
    closed = {c for r in reservations(records) for c in r["children"]}
    differences += [d for d in _compare_state(queries.reads, scratch.reads, skipped) if d["process"] not in closed]
    differences += [{"process": pid, "field": "final", "stored": False, "replayed": "closed (its act withdrawn)"}
                    for pid in sorted(closed) if (kept := queries.reads.process(pid)) is not None and not kept.final]
    # mail went out as the acts were entered; a corrected act's mails cannot be the replay's (as its records)
    differences += _compare_outbox(queries.reads.outbox(), scratch.reads.outbox(), skipped | corrections, end)
    agreements = [p.id for p in queries.reads.roots()]
    return {"equal": not differences, "agreements": len(agreements) - len(skipped), "records": len(records),
            "entered": entered, "skipped": sorted(skipped), "until": end.isoformat() if end else None,
            "differences": differences}


def _enter(svc: Service, rec: dict[str, Any]) -> None:
    data = rec.get("data") or {}
    if rec["trigger"] == "create":
        svc.create_agreement(data["workflow"], data["agreement"], actor=rec["actor"], pid=rec["process"])
        return
    replayer = REPLAYERS.get(rec["trigger"])
    if replayer is not None:
        replayer(svc, rec)
        return
    svc.fire(TriggerRequest(rec["process"], rec["trigger"], actor=rec["actor"], role=rec["role"], party=rec["party"],
                            on=rec["effective"], ref=rec["ref"], reason=rec["reason"],
                            data=dict(data.get("params") or {})))


# -- the comparison ---------------------------------------------------------------------------------------
ACT_FIELDS = ("process", "trigger", "source", "dest", "actor", "role", "party", "effective", "article", "ref",
              "reason")


def _compare_history(stored: list[dict[str, Any]], replayed: list[dict[str, Any]], skipped: set[str]
                     ) -> list[dict[str, Any]]:
    """The records the replay made, agreement by agreement and in order, against the stored ones."""
    def by_root(rows: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            out.setdefault(root_of(r["process"]), []).append(r)
        return out

    mine, theirs = by_root(stored), by_root(replayed)
    out = []
    for root, rows in mine.items():
        if root in skipped:
            continue
        again = theirs.get(root, [])
        for i, rec in enumerate(rows):
            if i >= len(again):
                out.append({"process": rec["process"], "field": f"history seq {rec['seq']}",
                            "stored": rec["trigger"], "replayed": None})
                break
            other = again[i]
            for f in ACT_FIELDS:
                if rec.get(f) != other.get(f):
                    out.append({"process": rec["process"], "field": f"history seq {rec['seq']}: {f}",
                                "stored": rec.get(f), "replayed": other.get(f)})
                    break
            else:
                mine_data, other_data = _act_data(rec), _act_data(other)
                if mine_data != other_data:
                    out.append({"process": rec["process"], "field": f"history seq {rec['seq']}: data",
                                "stored": mine_data, "replayed": other_data})
                else:
                    continue
            break
        else:
            for extra in again[len(rows):len(rows) + 1]:
                out.append({"process": extra["process"], "field": "history (one record more)",
                            "stored": None, "replayed": extra["trigger"]})
    return out


def _act_data(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in (rec.get("data") or {}).items() if k != "agreement"}


def _compare_state(live: Any, scratch: Any, skipped: set[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for root in live.roots():
        if root.id in skipped:
            continue
        again_root = scratch.process(root.id)
        for proc in [root, *live.children(root.id)]:
            again = again_root if proc.id == root.id else scratch.process(proc.id)
            if again is None:
                out.append({"process": proc.id, "field": "process", "stored": proc.state, "replayed": None})
                continue
            for f in ("state", "final", "ptype", "workflow", "parent_id"):
                if getattr(proc, f) != getattr(again, f):
                    out.append({"process": proc.id, "field": f, "stored": getattr(proc, f),
                                "replayed": getattr(again, f)})
            out += [{"process": proc.id, "field": path, "stored": a, "replayed": b}
                    for path, a, b in _diff(upcast.process_data(proc), upcast.process_data(again))]
        stored = _deadlines(live, root.id)
        replayed = _deadlines(scratch, root.id)
        for key in sorted(set(stored) | set(replayed), key=str):
            a, b = stored.get(key, []), replayed.get(key, [])
            name = f"deadline {key[1]}" + (f" ({key[2]})" if key[2] else "")
            if len(a) != len(b):
                out.append({"process": key[0], "field": name, "stored": [d["due"] for d in a],
                            "replayed": [d["due"] for d in b]})
                continue
            for da, db in zip(a, b, strict=True):
                for f in DEADLINE_FIELDS:
                    if da[f] != db[f]:
                        out.append({"process": key[0], "field": f"{name}: {f}", "stored": da[f], "replayed": db[f]})
    return out


def _deadlines(reads: Any, root_id: str) -> dict[tuple[str, str, str | None], list[dict[str, Any]]]:
    out: dict[tuple[str, str, str | None], list[dict[str, Any]]] = {}
    for d in reads.deadlines(statuses=None, root_id=root_id):
        row = {f: getattr(d, f) for f in DEADLINE_FIELDS}
        row["status"] = str(row["status"])
        row["due"] = d.due.isoformat()
        row["met_on"] = d.met_on.isoformat() if d.met_on else None
        row["missed_at"] = d.missed_at.isoformat() if d.missed_at else None
        out.setdefault((d.process_id, d.kind, d.subject), []).append(row)
    for rows in out.values():
        rows.sort(key=lambda r: r["due"])
    return out


def _diff(a: Any, b: Any, path: str = "data") -> Iterable[tuple[str, Any, Any]]:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            yield from _diff(a.get(k), b.get(k), f"{path}.{k}")
    elif a != b:
        yield path, a, b


def _compare_outbox(live: list[dict[str, Any]], scratch: list[dict[str, Any]], skipped: set[str],
                    end: dt.datetime | None) -> list[dict[str, Any]]:
    def bag(rows: list[dict[str, Any]]) -> Counter[tuple[str, str, str, str]]:
        until = end.replace(tzinfo=None) if end is not None else None
        return Counter((r["process_id"], r["kind"], r["to_addr"].lower(), r["subject"]) for r in rows
                       if r["kind"] not in UNREPLAYED_MAIL and r["root_id"] not in skipped
                       and (until is None or r["created_at"] <= until + dt.timedelta(seconds=1)))

    stored, replayed = bag(live), bag(scratch)
    out = []
    for key in sorted((stored - replayed) + (replayed - stored)):
        out.append({"process": key[0], "field": f"outbox {key[1]} to {key[2]}: {key[3]}",
                    "stored": stored.get(key, 0), "replayed": replayed.get(key, 0)})
    return out
