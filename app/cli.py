"""The `convenant` command (INTERFACE.md): human tables by default, one JSON document with --json, and the
exit codes 0 done, 2 bad input, 3 not allowed, 4 not found, 5 conflict, 1 anything else."""
from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from convenant.engine.clock import UTC, iso_moment, local_date
from convenant.engine.definitions import ROLES
from convenant.engine.documents import DocumentFile, document_params
from convenant.engine.errors import BadInput, ConvenantError
from convenant.engine.history import to_csv
from convenant.engine.pipeline import TriggerRequest
from convenant.i18n import DEFAULT_LANG, localized


class Ctx:
    def __init__(self, config: str | None, as_json: bool) -> None:
        self.config = config
        self.as_json = as_json
        self._app = None

    def app(self, *, schema: bool = True):
        if self._app is None:
            from convenant.app.bootstrap import build
            self._app = build(self.config)
        if schema:
            self._app.require_schema()
        return self._app

    def out(self, data: Any, human: Callable[[], str] | str | None = None) -> None:
        if self.as_json:
            click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
        else:
            text = human() if callable(human) else human
            click.echo(text if text is not None else json.dumps(data, ensure_ascii=False, indent=2, default=str))


pass_ctx = click.make_pass_decorator(Ctx)


def run(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Map the engine's errors to exit codes and clear messages."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        click_ctx = click.get_current_context()
        ctx = click_ctx.find_object(Ctx)
        try:
            check_arguments(click_ctx, kwargs)
            return fn(*args, **kwargs)
        except ConvenantError as exc:
            fail(ctx, exc)
        except Exception as exc:  # the one error boundary of the command line (see `unexpected`)
            fail(ctx, unexpected(exc, ctx))
    return wrapper


def check_arguments(click_ctx: click.Context, values: dict[str, Any]) -> None:
    """Every text argument of the command through engine/text.py (lone surrogates from bytes that are not UTF-8,
    NUL and other control characters, length) before anything uses it; the field is the option's name."""
    from convenant.engine.text import check_value
    names = {p.name: (p.opts[0] if isinstance(p, click.Option) else (p.name or "").upper())
             for p in click_ctx.command.params}
    for key, value in values.items():
        if isinstance(value, (str, tuple, list)):
            check_value(value, names.get(key, key))
    obj = click_ctx.find_object(Ctx)
    if obj is not None and obj.config is not None:
        check_value(obj.config, "--config")


def unexpected(exc: BaseException, ctx: Ctx | None = None) -> ConvenantError:
    """What no other handler turned into a clear message: an unreachable database, a file system that refuses,
    or a fault of the product. One line with a correlation id; the traceback goes to the log under that id."""
    import logging
    import uuid

    from convenant.app.bootstrap import explain_failure
    app = getattr(ctx, "_app", None)
    known = explain_failure(exc, app.settings.database.url if app is not None else None)
    if known is not None:
        return known
    if isinstance(exc, OSError):
        return ConvenantError(f"{exc.strerror or exc}: {exc.filename or ''}".strip(": "))
    cid = uuid.uuid4().hex[:12]
    logging.getLogger("convenant.errors").debug("unexpected error %s", cid, exc_info=exc)
    return Unexpected(f"internal error {cid}: {type(exc).__name__}: {_one_line(exc)} (set CONVENANT_DEBUG=1 for "
                      f"the traceback)", correlation_id=cid)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300].encode("utf-8", "backslashreplace").decode("utf-8") if text else ""


class Unexpected(ConvenantError):
    exit_code = 1
    kind = "internal_error"

    def __init__(self, message: str, *, correlation_id: str) -> None:
        super().__init__(message)
        self.correlation_id = correlation_id

    def as_dict(self) -> dict:
        return {**super().as_dict(), "correlation_id": self.correlation_id}


def fail(ctx: Ctx | None, exc: ConvenantError) -> None:
    if ctx is not None and ctx.as_json:
        body = {**exc.as_dict(), "exit_code": exc.exit_code}
        if exc.exit_code == 3:   # as the API's 403 and 409: may this role or party not act at all, or not now?
            body["forbidden"] = exc.http_status == 403
        click.echo(_printable(json.dumps(body, ensure_ascii=False)))
    label = {2: "bad input", 3: "not allowed", 4: "not found", 5: "conflict"}.get(exc.exit_code, "error")
    where = f" [{exc.field}]" if exc.field else ""
    click.echo(_printable(f"convenant: {label}{where}: {exc}"), err=True)
    sys.exit(exc.exit_code)


def _printable(text: str) -> str:
    """A message may quote the bad input itself (a lone surrogate): print it escaped, never fail on it."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def parse_sets(sets: tuple[str, ...]) -> dict[str, str]:
    """--set KEY=VALUE options as a dict; each key once."""
    values: dict[str, str] = {}
    for item in sets:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise BadInput(f"--set {item!r} is not KEY=VALUE", field="set")
        if key.strip() in values:
            raise BadInput(f"--set {key} given twice", field=key.strip())
        values[key.strip()] = value
    return values


def parse_moment(text: str, field: str, tz) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
        if value.tzinfo is None:
            value = value.replace(tzinfo=tz)
        moment = value.astimezone(UTC)
    except ValueError:
        raise BadInput(f"{field}: {text!r} is not a date-time (like 2025-03-20T12:00:00+01:00)", field=field) \
            from None
    except OverflowError:   # 9999-12-31T23:59:59-01:00 lies past the last moment Python can hold
        moment = None
    if moment is None or not MIN_MOMENT <= moment <= MAX_MOMENT:
        raise BadInput(f"{field}: {text!r} lies outside the years {MIN_MOMENT.year}-{MAX_MOMENT.year - 1}",
                       field=field)
    return moment


# The moments a command accepts: every deadline and step computed from them stays within what dates can hold.
MIN_MOMENT = dt.datetime(1900, 1, 1, tzinfo=UTC)
MAX_MOMENT = dt.datetime(3000, 1, 1, tzinfo=UTC)
# The largest whole number a command accepts (a seq, a tree size, a version): what a database integer holds.
MAX_INT = 2 ** 63 - 1
POSITIVE = click.IntRange(min=1, max=MAX_INT)
NATURAL = click.IntRange(min=0, max=MAX_INT)


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "(none)"
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [min(max(len(c), *(len(row[i]) for row in cells)), 60) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append("  ".join(v[:w].ljust(w) for v, w in zip(row, widths, strict=True)))
    return "\n".join(lines)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="config.toml to use (default ./config.toml, or $CONVENANT_CONFIG)")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output: one JSON document on stdout")
@click.version_option(package_name="convenant")
@click.pass_context
def cli(ctx: click.Context, config: str | None, as_json: bool) -> None:
    """convenant: the lifecycle of multi-party agreements between Dutch governments."""
    ctx.obj = Ctx(config, as_json)


# -- init ---------------------------------------------------------------------------------------------
@cli.command()
@click.option("--simulation", is_flag=True, help="run this database on a virtual clock")
@click.option("--start", help="with --simulation: where the virtual clock starts (ISO date-time)")
@pass_ctx
@run
def init(ctx: Ctx, simulation: bool, start: str | None) -> None:
    """Create or upgrade the database named in the config (writing a commented config.toml if there is none)."""
    from convenant.app.bootstrap import write_default_config
    written = write_default_config(ctx.config)
    app = ctx.app(schema=False)
    tz = app.settings.tz
    if start and not simulation:
        raise BadInput("--start goes with --simulation", field="start")
    begin = parse_moment(start, "start", tz) if start else None
    ready = app.service.init_database(simulation=simulation, start=begin)
    simulated = ready["clock"] == "simulation"
    data = {"database": app.settings.database.url, "clock": "simulation" if simulated else "real",
            "now": ready["now"], "config_written": str(written) if written else None}
    wrote = f"wrote {written} (the shipped settings, commented: edit it to change them)\n" if written else ""
    ctx.out(data, f"{wrote}database ready: {data['database']} ({data['clock']} clock, now {data['now']})")


# -- workflows ----------------------------------------------------------------------------------------
@cli.group(invoke_without_command=True)
@click.pass_context
def workflows(click_ctx: click.Context) -> None:
    """List the workflow definitions; `workflows show NAME` shows one."""
    if click_ctx.invoked_subcommand is None:
        _list_workflows(click_ctx.find_object(Ctx))


@run
def _list_workflows(ctx: Ctx) -> None:
    import convenant.workflows as registry
    defs = registry.load_all()
    rows = [{"name": wf.name, "version": wf.version, "title": localized(wf.title, DEFAULT_LANG), "article": wf.article,
             "processes": list(wf.processes)} for wf in defs.values()]
    ctx.out(rows, lambda: table(rows, ["name", "version", "title"]))


@workflows.command("show")
@click.argument("name")
@click.option("--diagram", type=click.Choice(["mermaid"]), help="print the state diagram")
@click.option("--version", "version", metavar="N", help="another version of the definition (see its versions)")
@pass_ctx
@run
def workflows_show(ctx: Ctx, name: str, diagram: str | None, version: str | None) -> None:
    import convenant.workflows as registry
    from convenant.engine.diagram import mermaid
    defs = registry.load_all()
    if name not in defs:
        raise BadInput(f"unknown workflow {name!r}; known: {', '.join(sorted(defs))}", field="NAME")
    wf = defs[name]
    if version is not None:
        from convenant.engine.migrate import parse_version
        number = parse_version(version, "version")
        found = wf.at_version(number)
        if found is None:
            raise BadInput(f"--version {number}: {name} has versions {', '.join(map(str, sorted(wf.versions)))}",
                           field="version")
        wf = found
    if diagram:
        text = mermaid(wf)
        if ctx.as_json:
            ctx.out({"name": name, "format": "mermaid", "diagram": text})
        else:
            click.echo(text)
        return
    from convenant.engine.migrate import versions_of
    doc = {**wf.model_dump(mode="json", exclude={"source_file"}), "versions": versions_of(wf)}
    ctx.out(doc, lambda: describe_workflow(wf))


def describe_workflow(wf) -> str:
    lines = [f"{wf.name} (version {wf.version}): {localized(wf.title, DEFAULT_LANG)}"]
    for pname, proc in wf.processes.items():
        lines.append(f"\n[{pname}] {localized(proc.title, 'en')} ({proc.article})")
        lines.append("  states: " + ", ".join(f"{s}{' (final)' if st.final else ''}"
                                              for s, st in proc.states.items()))
        for t in proc.triggers:
            who = "automatic" if not t.manual else "/".join(t.roles) + (" or automatic" if t.automatic else "")
            lines.append(f"  {t.name:<24} {', '.join(t.source)} -> {t.dest or '(same)'}  [{who}] {t.article}")
        for d in proc.deadlines:   # the rule names a calendar other than calendar days itself (describe)
            calendar = "  (calendar_days)" if d.due.calendar == "calendar_days" else ""
            lines.append(f"  deadline {d.kind:<22} {d.due.describe()}{calendar}  {d.article}")
    from convenant.engine.migrate import versions_of
    lines.append("\nversions (convenant migrate ID --to VERSION):")
    for v in versions_of(wf):
        lines.append(f"  {v['version']}{'  (new agreements)' if v['current'] else ''}"
                     f"{'  from ' + ', '.join(map(str, v['migrates_from'])) if v['migrates_from'] else ''}"
                     f"  {v['file']}")
    return "\n".join(lines)


# -- agreements ---------------------------------------------------------------------------------------
@cli.group()
def agreements() -> None:
    """Create and list agreements."""


@agreements.command("create")
@click.option("--example", help="create the example agreement of a workflow (krachtenbundeling, stedendriehoek)")
@click.option("--workflow", "workflow_name", help="the workflow of the agreement in --file")
@click.option("--file", "file", type=click.Path(dir_okay=False), help="a TOML data file: parties, contacts, themes")
@click.option("--id", "pid", help="the agreement's id (default: from the data file)")
@click.option("--actor", default="secretariaat", show_default=True)
@click.option("--exists-ok", is_flag=True, help="an agreement with this id already there is not an error")
@pass_ctx
@run
def agreements_create(ctx: Ctx, example: str | None, workflow_name: str | None, file: str | None,
                      pid: str | None, actor: str, exists_ok: bool) -> None:
    import convenant.workflows as registry
    from convenant.engine.agreements import read_data_file
    app = ctx.app()
    if example:
        if workflow_name or file:
            raise BadInput("--example goes alone; or use --workflow with --file", field="example")
        wf = app.service.workflow(example)
        path = registry.example_file(wf)
        if path is None:
            raise BadInput(f"workflow {example} ships no example agreement", field="example")
        raw = read_data_file(path)
        workflow_name = wf.name
    else:
        if not (workflow_name and file):
            raise BadInput("give --example NAME, or --workflow NAME with --file FILE.toml", field="workflow")
        app.service.workflow(workflow_name)
        raw = read_data_file(file)
    target = pid or raw.get("id")
    if exists_ok and target:
        existing = app.queries.find(target)
        if existing is not None:
            ctx.out({"id": existing.id, "workflow": existing.workflow, "state": existing.state, "existed": True},
                    f"{existing.id} (exists already, state {existing.state})")
            return
    result = app.service.create_agreement(workflow_name, raw, actor=actor, pid=pid)
    ctx.out(result, result["id"])


@agreements.command("list")
@pass_ctx
@run
def agreements_list(ctx: Ctx) -> None:
    rows = ctx.app().queries.list_agreements()
    ctx.out(rows, lambda: table([{**r, "next_deadline": f"{r['next_deadline']['kind']} {r['next_deadline']['due']}"
                                  if r["next_deadline"] else ""} for r in rows],
                                ["id", "workflow", "state", "effective_from", "ends_on", "next_deadline"]))


# -- show, trigger, history ---------------------------------------------------------------------------
@cli.command()
@click.argument("process_id")
@click.option("--role", type=click.Choice(ROLES), help="list the triggers this role may fire now")
@click.option("--party", help="with --role party: the party")
@click.option("--as-recorded-on", "as_recorded_on", metavar="DATE",
              help="the process as it was known at the end of DATE (entry time, not legal date)")
@pass_ctx
@run
def show(ctx: Ctx, process_id: str, role: str | None, party: str | None, as_recorded_on: str | None) -> None:
    """One process: state, dates, parties, deadlines, children and the triggers allowed now."""
    app = ctx.app()
    if role == "party" and not party:
        raise BadInput("--party is required with --role party", field="party")
    if as_recorded_on is not None:
        from convenant.engine.corrections import as_recorded_on as known_on
        from convenant.engine.dates import parse_date
        from convenant.engine.views import show as show_view
        try:
            day = parse_date(as_recorded_on, "as_recorded_on")
        except ValueError as exc:
            raise BadInput(str(exc), field="as_recorded_on") from None
        then, pid = known_on(app.service, app.queries.reads, app.fork, process_id, day)
        doc = {**show_view(then, pid, role, party), "as_recorded_on": day.isoformat()}
    else:
        doc = app.queries.show(process_id, role, party)
    if party and party not in {p["id"] for p in doc["parties"]}:
        raise BadInput(f"unknown party {party!r}", field="party")
    ctx.out(doc, lambda: describe_process(doc))


def describe_process(doc: dict[str, Any]) -> str:
    lines = [f"{doc['id']} ({doc['workflow']} {doc['type']}): {doc['state']}   [{doc['state_article']}]"]
    if doc.get("effective_from") or doc.get("ends_on"):
        lines.append(f"in force from {doc.get('effective_from') or '-'}, ends on {doc.get('ends_on') or '-'}")
    lines.append("\nparties:")
    lines.append(table(doc["parties"], ["id", "name", "represented_by", "signed_on", "withdrawn_on"]))
    lines.append("\ndeadlines:")
    lines.append(table(doc["deadlines"], ["kind", "subject", "due", "status", "article", "next_reminder"]))
    for dec in doc.get("decisions", []):
        answered = ", ".join(f"{p}={a['answer']}" for p, a in dec["answers"].items()) or "none"
        lines.append(f"\ndecision {dec['name']} ({dec['article']}): outcome {dec['outcome'] or 'open'}; "
                     f"answered {answered}; pending {', '.join(dec['pending']) or 'none'}")
    if doc["children"]:
        lines.append("\nchildren:")
        lines.append(table(doc["children"], ["id", "type", "state"]))
    if doc.get("themes"):
        lines.append("\nthemes:")
        lines.append(table([{**t, "sign_ups": len(t["sign_ups"])} for t in doc["themes"]],
                           ["id", "status", "last_report", "escalation_level", "sign_ups"]))
    lines.append(f"\nallowed now: {', '.join(doc['allowed_triggers']) or '(nothing)'}")
    return "\n".join(lines)


@cli.command()
@click.argument("process_id")
@click.argument("trigger")
@click.option("--actor", required=True, help="who acts (a name)")
@click.option("--role", required=True, help="secretariat, party or auditor")
@click.option("--party", help="the party that acts (role party), or for whom the secretariat records the act")
@click.option("--on", "on", help="the date the act legally happened (default: today on the engine's clock)")
@click.option("--ref", help="the letter, decision or Staatscourant reference")
@click.option("--reason", help="why (free text, kept in the history)")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="a value the trigger takes (repeatable)")
@click.option("--expect-version", type=NATURAL, help="refuse (exit 5) if the process changed since this version")
@pass_ctx
@run
def trigger(ctx: Ctx, process_id: str, trigger: str, actor: str, role: str, party: str | None, on: str | None,
            ref: str | None, reason: str | None, sets: tuple[str, ...], expect_version: int | None) -> None:
    """Fire a transition."""
    values = parse_sets(sets)
    if role not in ROLES:
        raise BadInput(f"unknown role {role!r}; one of {', '.join(ROLES)}", field="role")
    if on is not None:
        from convenant.engine.dates import parse_date
        try:
            parse_date(on, "on")
        except ValueError as exc:
            raise BadInput(str(exc), field="on") from None
    app = ctx.app()
    data: dict[str, Any] = dict(values)
    for key in document_params(app.workflows, trigger) & set(values):
        # read by the service once the actor is authorised, a regular file of at most [documents] max_bytes
        data[key] = DocumentFile(values[key], app.settings.documents.max_bytes)
    fired = app.service.fire(TriggerRequest(process_id, trigger, actor=actor, role=role, party=party, on=on, ref=ref,
                                            reason=reason, data=data, expected_version=expect_version))
    out = fired.as_dict()
    ctx.out(out, lambda: f"{fired.process}: {fired.trigger} {fired.source} -> {fired.dest} (record {fired.seq})"
            + (f"\ncreated {fired.created}" if fired.created else "")
            + "".join(f"\nthen {f.process}: {f.trigger} -> {f.dest}" for f in fired.follow_ups))


@cli.command()
@click.argument("process_id")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default=None)
@click.option("--role", type=click.Choice(ROLES), default="secretariat", show_default=True,
              help="who reads: a party does not see the text of confidential notes (Art. 5.9) entered for others")
@click.option("--party", help="with --role party: the party that reads; otherwise: only acts of this party")
@click.option("--since", help="only acts with a legal date on or after this date")
@click.option("--until", help="only acts with a legal date on or before this date")
@pass_ctx
@run
def history(ctx: Ctx, process_id: str, fmt: str | None, role: str, party: str | None, since: str | None,
            until: str | None) -> None:
    """Every transition of the process and its children, in recording order, each with the notifications it
    caused and their delivery state (`notifications`)."""
    rows = ctx.app().queries.history(process_id, role=role, party=party, since=since, until=until)
    emit_records(ctx, rows, fmt)


def _mail_summary(notes: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for n in notes:
        counts[n["status"]] = counts.get(n["status"], 0) + 1
    return ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))


def emit_records(ctx: Ctx, rows, fmt: str | None, out: Path | None = None) -> None:
    fmt = fmt or ("json" if ctx.as_json else "table")
    if fmt == "json":
        text = json.dumps(list(rows), ensure_ascii=False, indent=2)
    elif fmt == "csv":
        text = to_csv(rows).rstrip("\n")
    else:
        text = table([{**r, "hash": r["hash"][:12], "mail": _mail_summary(r.get("notifications") or [])}
                      for r in rows],
                     ["seq", "process", "trigger", "source", "dest", "actor", "party", "effective", "article", "ref",
                      "mail"])
    if out is not None:
        write_out(out, text)
    else:
        click.echo(text)


def write_out(out: str | Path, text: str) -> None:
    """A file a command writes (--out): engine/text.py's path policy first (an existing folder, a regular file),
    then the write; a path that cannot be used is bad input, and nothing is claimed written that was not."""
    from convenant.engine.text import writable
    target = writable(out, "--out")
    try:
        target.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"--out {str(out)!r}: cannot be written: {exc.strerror or exc}", field="--out") from None


# -- deadlines, clock, outbox -------------------------------------------------------------------------
@cli.command()
@click.option("--within", type=click.IntRange(min=0, max=36500),
              help="only deadlines due within this many days (at most 36500, as the API)")
@click.option("--all", "show_all", is_flag=True, help="met, missed and cancelled deadlines too")
@click.option("--explain", "explain_each", is_flag=True,
              help="each deadline with why it is due then (the fields of `explain --json`: `explanation`)")
@click.option("--lang", type=click.Choice(["nl", "en"]), default=DEFAULT_LANG, show_default=True,
              help="with --explain: the language of the steps")
@pass_ctx
@run
def deadlines(ctx: Ctx, within: int | None, show_all: bool, explain_each: bool, lang: str) -> None:
    """Open deadlines of all processes, soonest first."""
    app = ctx.app()
    rows = app.queries.deadlines(within=within, show_all=show_all)
    columns = ["process", "kind", "subject", "due", "status", "article", "next_reminder"]
    if not explain_each:
        ctx.out(rows, lambda: table(rows, columns))
        return
    from convenant.engine.explain import explain_many
    found = explain_many(app.queries, [r["id"] for r in rows], lang=lang)
    rows = [{**r, "explanation": found[r["id"]]} for r in rows]
    ctx.out(rows, lambda: explained_table(rows, columns))


def explained_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """The deadlines table with each row's explanation indented under it."""
    if not rows:
        return "(none)"
    lines = table(rows, columns).splitlines()
    out = lines[:2]
    for line, row in zip(lines[2:], rows, strict=True):
        out += [line, *describe_explanation(row["explanation"], indent="    ")]
    return "\n".join(out)


def describe_explanation(doc: dict[str, Any], indent: str = "  ") -> list[str]:
    """An explanation (`explain`, `deadlines --explain`) as indented lines: rule, inputs, steps, schedule."""
    return ([f"{indent}{doc['article']}, rule {doc['rule']}"]
            + [f"{indent}input: {i['what']} {i['name']} = {i['value']}"
               + (f" (seq {i['seq']}: {i['record']})" if i["seq"] else "") for i in doc["inputs"]]
            + [f"{indent}{n}. {step}" for n, step in enumerate(doc["steps"], 1)]
            + ([f"{indent}moved by: seq {doc['moved_by']['seq']}: {doc['moved_by']['record']}"]
               if doc.get("moved_by") else [])
            + ([f"{indent}reminders: {reminder_words(doc['reminders'])}"] if doc.get("reminders") else [])
            + [f"{indent}{s['at']}  {s['kind']}: {s['why']}{' (done)' if s['done'] else ''}"
               for s in doc["schedule"]])


def reminder_words(scheme: dict[str, Any]) -> str:
    """`explain`'s reminder scheme and where it comes from (engine/explain.py reminder_source)."""
    days = ", ".join(str(d) for d in scheme["days"]) or "none"
    where = {"amendment": f"amendment {scheme.get('amendment')}"
                          + (f" (seq {scheme['seq']}: {scheme['record']})" if scheme.get("seq") else ""),
             "definition": f"definition version {scheme.get('version')} ({scheme.get('article')})",
             "config": "config.toml [reminders]", "default": "built-in default"}[scheme["source"]]
    return f"{days} day(s) before the due date, from {where}"


# -- corrections ------------------------------------------------------------------------------------
@cli.command()
@click.argument("process_id")
@click.option("--seq", "seq", type=POSITIVE, required=True, help="the record to correct")
@click.option("--reason", required=True, help="why the record is corrected (kept in the history)")
@click.option("--actor", required=True, help="who corrects (a name)")
@click.option("--role", required=True, help="secretariat")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="on=DATE, ref=TEXT, party=ID or a value the act took (repeatable)")
@click.option("--withdraw", is_flag=True, help="withdraw the wrongly entered act")
@click.option("--dry-run", "dry_run", is_flag=True, help="show what changes, write nothing")
@pass_ctx
@run
def correct(ctx: Ctx, process_id: str, seq: int, reason: str, actor: str, role: str, sets: tuple[str, ...],
            withdraw: bool, dry_run: bool) -> None:
    """Correct (or withdraw) a recorded act; what follows from it is recomputed."""
    from convenant.engine.corrections import correct as record_correction
    values = parse_sets(sets)
    app = ctx.app()
    report = record_correction(app.service, app.queries.reads, app.fork, process_id, seq, sets=values,
                               withdraw=withdraw, who={"actor": actor, "role": role, "reason": reason},
                               dry_run=dry_run)
    ctx.out(report, lambda: describe_correction(report))


def describe_correction(doc: dict[str, Any]) -> str:
    head = (f"correction of seq {doc['corrects']}: dry run, nothing written" if doc["dry_run"]
            else f"seq {doc['seq']} corrects seq {doc['corrects']}")
    lines = [head]
    for c in doc["changes"]:
        line = f"  {c['what']}: {c['before']} -> {c['after']}"
        if c.get("reminders_withdrawn"):
            line += f"; reminders withdrawn {', '.join(c['reminders_withdrawn'])}"
        if c.get("reminders_due"):
            line += f"; reminders due {', '.join(c['reminders_due'])}"
        lines.append(line)
    return "\n".join(lines)


# -- definition versions ---------------------------------------------------------------------------
@cli.command()
@click.argument("process_id")
@click.option("--to", "to", required=True, metavar="VERSION", help="the definition version to move to")
@click.option("--dry-run", "dry_run", is_flag=True, help="show the diff, write nothing")
@click.option("--actor", default="secretariat", show_default=True, help="who migrates (a name)")
@click.option("--role", default="secretariat", show_default=True, help="secretariat")
@click.option("--reason", help="why (kept in the history)")
@pass_ctx
@run
def migrate(ctx: Ctx, process_id: str, to: str, dry_run: bool, actor: str, role: str, reason: str | None) -> None:
    """Move a running agreement and its children to another version of its workflow definition, as one recorded
    migration (states mapped; deadlines added, moved or cancelled). Refused (exit 3) where a state or an open
    deadline has no place in that version; --dry-run prints the same and writes nothing."""
    report = ctx.app().service.migrate(process_id, to, actor=actor, role=role, reason=reason, dry_run=dry_run)
    ctx.out(report, lambda: describe_migration(report))


def describe_migration(doc: dict[str, Any]) -> str:
    head = (f"{doc['process']}: version {doc['from']} -> {doc['to']} of {doc['workflow']} ({doc['article']})"
            + (": dry run, nothing written" if doc["dry_run"] else f": recorded as seq {doc['seq']}"))
    states = [{"process": s["process"], "state": s["before"], "becomes": s["after"]} for s in doc["states"]]
    deadlines = [{"process": d["process"], "deadline": (d["after"] or d["before"])["kind"], "change": d["change"],
                  "due": d["before"]["due"] if d["before"] else "", "becomes": d["after"]["due"] if d["after"] else "",
                  "status": d["after"]["status"] if d["after"] else ""} for d in doc["deadlines"]]
    return "\n".join([head, "", "states", table(states, ["process", "state", "becomes"]), "", "deadlines",
                      table(deadlines, ["process", "deadline", "change", "due", "becomes", "status"])])


# -- rehearsal and explanation ------------------------------------------------------------------------
@cli.command()
@click.argument("process_id")
@click.option("--act", "acts", multiple=True, metavar='"TRIGGER [--party P] [--on DATE] [--set K=V]..."',
              help="a hypothetical act (repeatable); role secretariat unless --party is given")
@click.option("--script", "script", type=click.Path(dir_okay=False), default=None,
              help="a file of acts: one --act value a line, '#' starts a comment (before any --act)")
@click.option("--until", "until", required=True, help="ISO date-time to run the fork's clock to")
@pass_ctx
@run
def whatif(ctx: Ctx, process_id: str, acts: tuple[str, ...], script: str | None, until: str) -> None:
    """Rehearse acts on a throwaway fork of the agreement: writes nothing, sends nothing."""
    from convenant.engine.whatif import Act, load_script, parse_act
    from convenant.engine.whatif import whatif as rehearse
    parsed = [parse_act(a) for a in acts]
    app = ctx.app()
    if script is not None:
        parsed = load_script(script, app.workflows, app.settings.documents.max_bytes) + parsed
    for n, act in enumerate(parsed):
        files = document_params(app.workflows, act.trigger) & set(act.data)
        if files and act.source is None:     # an --act's document is a path on the command line, as for trigger
            data = {**act.data, **{k: DocumentFile(act.data[k], app.settings.documents.max_bytes) for k in files}}
            parsed[n] = Act(act.trigger, act.party, act.on, data, act.ref, act.process, act.source)
    target = parse_moment(until, "until", app.settings.tz)
    root = app.queries.root(app.queries.process(process_id))
    report = rehearse(app.service, process_id, parsed, target, app.fork,
                      pending=app.queries.outbox("pending", root.id))
    ctx.out(report, lambda: describe_whatif(report))


def describe_whatif(doc: dict[str, Any]) -> str:
    diff = doc["difference"]
    parts = [f"{doc['agreement']}: fork from {doc['from']} to {doc['until']} (nothing written, nothing sent)",
             "states:\n" + table(doc["states"], ["process", "state", "at", "trigger"]),
             "deadlines:\n" + table(doc["deadlines"], ["process", "kind", "subject", "due", "status", "change",
                                                       "due_before"]),
             "mails:\n" + table(doc["mails"], ["date", "to", "subject"]),
             "against no acts - deadlines:\n" + table(
                 [{"process": d["process"], "kind": d["kind"], "subject": d["subject"],
                   "without": d["without"] and f"{d['without']['due']} {d['without']['status']}",
                   "with": d["with"] and f"{d['with']['due']} {d['with']['status']}"} for d in diff["deadlines"]],
                 ["process", "kind", "subject", "without", "with"]),
             "against no acts - states:\n" + table(
                 [{**x, "diff": sign} for sign, part in (("+", "added"), ("-", "removed"))
                  for x in diff["states"][part]], ["diff", "process", "state", "at"]),
             f"against no acts - mails: {len(diff['mails']['added'])} more, {len(diff['mails']['removed'])} fewer"]
    return "\n\n".join(parts)


@cli.command()
@click.argument("process_id")
@click.argument("kind")
@click.option("--subject", help="the government or theme, for a deadline kept per subject")
@click.option("--lang", type=click.Choice(["nl", "en"]), default=DEFAULT_LANG, show_default=True)
@pass_ctx
@run
def explain(ctx: Ctx, process_id: str, kind: str, subject: str | None, lang: str) -> None:
    """Why a deadline is due when it is: rule, inputs (with their history records) and the calendar steps."""
    from convenant.engine.explain import explain as why
    doc = why(ctx.app().queries, process_id, kind, subject=subject, lang=lang)
    ctx.out(doc, lambda: "\n".join(
        [f"{doc['process']} {doc['kind']}: due {doc['due']} ({doc['status']}), {doc['article']}, rule {doc['rule']}"]
        + describe_explanation(doc)[1:]))


@cli.command()
@click.argument("agreement_id", required=False)
@click.option("--by", "by", type=click.Choice(["theme", "government"]), default="theme", show_default=True,
              help="one row per theme, or per signed-up government")
@pass_ctx
@run
def progress(ctx: Ctx, agreement_id: str | None, by: str) -> None:
    """Themes: status, last report, escalation level (0 none, 1 working group, 2 DO, 3 BO) and sign-ups.

    With --json: for one agreement its overview (`themes` and `governments`), without an id a list of them."""
    docs = ctx.app().queries.progress(agreement_id)
    ctx.out(docs[0] if agreement_id else docs, lambda: "\n\n".join(describe_progress(d, by) for d in docs)
            or "(no agreement with themes)")


def describe_progress(doc: dict[str, Any], by: str) -> str:
    head = f"{doc['agreement']} ({doc['state']}), reports due every {doc['report_interval_days']} days"
    if by == "government":
        rows = [{**g, "themes": ", ".join(" ".join([t["theme"], ",".join(map(str, t["commitments"]))]).strip()
                                          for t in g["themes"]),
                 "vth_target": f"{g['vth_target']['due']} {g['vth_target']['status']}" if g["vth_target"] else ""}
                for g in doc["governments"]]
        return head + "\n" + table(rows, ["government", "layer", "themes", "vth_target"])
    ladder = {0: "-", 1: "1 werkgroep", 2: "2 DO", 3: "3 BO"}
    rows = [{**t, "escalation_level": ladder.get(t["escalation_level"], t["escalation_level"]),
             "sign_ups": len(t["sign_ups"]), "status": t["status"] or "-",
             "governments": ", ".join(s["government"] for s in t["sign_ups"])} for t in doc["themes"]]
    return head + "\n" + table(rows, ["id", "status", "last_report", "next_report_due", "escalation_level",
                                      "sign_ups", "governments"])


@cli.group(invoke_without_command=True)
@click.pass_context
def clock(click_ctx: click.Context) -> None:
    """Show the engine's clock; `clock advance --to` moves a simulation's clock."""
    if click_ctx.invoked_subcommand is None:
        _show_clock(click_ctx.find_object(Ctx))


@run
def _show_clock(ctx: Ctx) -> None:
    app = ctx.app()
    simulated, now = app.service.clock_info()
    data = {"now": iso_moment(now, app.settings.tz), "simulated": simulated,
            "timezone": app.settings.clock.timezone, "today": local_date(now, app.settings.tz).isoformat()}
    ctx.out(data, f"{data['now']} ({'simulation' if simulated else 'real clock'}, {data['timezone']})")


@clock.command("advance")
@click.option("--to", "to", required=True, help="ISO date-time to move the virtual clock to")
@pass_ctx
@run
def clock_advance(ctx: Ctx, to: str) -> None:
    app = ctx.app()
    target = parse_moment(to, "to", app.settings.tz)
    result = app.service.advance_clock(target, dispatch=app.dispatcher())
    ctx.out(result, f"clock moved from {result['from']} to {result['to']}; {result['steps']} due step(s) run")


@cli.group(invoke_without_command=True)
@click.option("--status", type=click.Choice(["pending", "sent", "failed"]))
@click.pass_context
def outbox(click_ctx: click.Context, status: str | None) -> None:
    """Notifications and their delivery state; `outbox resend ID` sends a failed one again."""
    if click_ctx.invoked_subcommand is None:
        _list_outbox(click_ctx.find_object(Ctx), status)


@outbox.command("resend")
@click.argument("message_id", type=POSITIVE, metavar="ID")
@click.option("--actor", required=True, help="who sends it again (a name)")
@click.option("--role", default="secretariat", show_default=True, help="only the secretariat may")
@pass_ctx
@run
def outbox_resend(ctx: Ctx, message_id: int, actor: str, role: str) -> None:
    """Queue a failed message anew, as the pages' Outbox does: its attempts and its `[mail] retry_lifetime_days`
    start over, and the dispatcher takes it at its next run."""
    done = ctx.app().service.resend_mail(message_id, actor=actor, role=role)
    ctx.out(done, f"message {done['id']} queued again")


@run
def _list_outbox(ctx: Ctx, status: str | None) -> None:
    app = ctx.app()
    rows = [{"id": r["id"], "to": r["to_addr"], "to_name": r["to_name"], "subject": r["subject"],
             "status": r["status"], "attempts": r["attempts"], "kind": r["kind"], "process": r["process_id"],
             "created_at": iso_moment(r["created_at"].replace(tzinfo=UTC), app.settings.tz),
             "sent_at": iso_moment(r["sent_at"].replace(tzinfo=UTC), app.settings.tz) if r["sent_at"] else None,
             "last_error": r["last_error"], "message_id": r["message_id"],
             "next_attempt_at": iso_moment(r["next_attempt_at"].replace(tzinfo=UTC), app.settings.tz)
             if r["next_attempt_at"] and r["status"] == "pending" else None, "record_seq": r["record_seq"]}
            for r in app.queries.outbox(status)]
    ctx.out(rows, lambda: table(rows, ["id", "to", "status", "attempts", "subject"]))


# -- audit --------------------------------------------------------------------------------------------
@cli.group()
def audit() -> None:
    """Verify and export the tamper-evident history."""


@audit.command("verify")
@pass_ctx
@run
def audit_verify(ctx: Ctx) -> None:
    """Check every agreement's hash chain, the log's Merkle tree against every stored checkpoint, and the
    checkpoints' signatures (exit 0 intact, 3 broken, naming the first bad record)."""
    result = ctx.app().queries.verify()
    if result["intact"]:
        log = result.get("log") or {}
        ctx.out(result, f"intact: {result['records']} records, chain head {result.get('head', '')[:16]}; log of "
                        f"{log.get('size', 0)} leaves, {log.get('checkpoints', 0)} signed checkpoints"
                        + (f", {log['pending']} records not yet in the log" if log.get("pending") else ""))
        return
    where = f"at record {result['first_bad']}" if result.get("first_bad") is not None else "in the log"
    message = f"broken {where}: {result['problem']}"
    if ctx.as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    click.echo(f"convenant: audit: {message}", err=True)
    sys.exit(3)


@audit.command("checkpoint")
@pass_ctx
@run
def audit_checkpoint(ctx: Ctx) -> None:
    """The latest signed checkpoint of the log (the records not yet in one are taken in first). The note is what
    a party keeps: `convenant-verify log EXPORT --checkpoint NOTE` checks later that the log still extends it."""
    doc = ctx.app().service.log.checkpoint()
    ctx.out(doc, doc["note"].rstrip("\n"))


@audit.command("prove")
@click.option("--seq", "seq", type=POSITIVE, required=True, help="the record")
@click.option("--checkpoint", "size", type=POSITIVE, help="against the checkpoint of this tree size "
              "(default: the latest)")
@pass_ctx
@run
def audit_prove(ctx: Ctx, seq: int, size: int | None) -> None:
    """An inclusion proof of one record: its leaf index and hash, the audit path and the signed checkpoint."""
    doc = ctx.app().service.log.prove(seq, size)
    ctx.out(doc, lambda: json.dumps(doc, ensure_ascii=False, indent=2))


@audit.command("consistency")
@click.option("--from", "size1", type=NATURAL, required=True, help="the older checkpoint's size")
@click.option("--to", "size2", type=NATURAL, required=True, help="the newer checkpoint's size")
@pass_ctx
@run
def audit_consistency(ctx: Ctx, size1: int, size2: int) -> None:
    """A consistency proof: the log at --to extends the log at --from (for `convenant-verify consistency`)."""
    doc = ctx.app().service.log.consistency(size1, size2)
    ctx.out(doc, lambda: json.dumps(doc, ensure_ascii=False, indent=2))


@audit.command("receipt")
@click.argument("seq", type=POSITIVE)
@click.option("--out", "out", type=click.Path(dir_okay=False), help="write the receipt to this file")
@pass_ctx
@run
def audit_receipt(ctx: Ctx, seq: int, out: str | None) -> None:
    """An offline receipt for one record: the record, its leaf index, an inclusion proof and a signed checkpoint
    (`convenant-verify receipt FILE --key PUBKEY` checks it with no database)."""
    doc = ctx.app().service.log.receipt(seq)
    text = json.dumps(doc, ensure_ascii=False, indent=2)
    if out:
        write_out(out, text)
        click.echo(f"receipt for record {seq} written to {out}", err=True)
        if ctx.as_json:
            click.echo(text)
        return
    click.echo(text)


@audit.command("replay")
@pass_ctx
@run
def audit_replay(ctx: Ctx) -> None:
    """Rebuild every agreement's state, deadlines and outbox from the history alone, in a scratch store, and
    compare them with the stored ones (exit 0 equal, 3 differing, naming process and field)."""
    from convenant.engine.replay import replay
    app = ctx.app()
    report = replay(app.service, app.queries, app.fork)
    if report["equal"]:
        ctx.out(report, f"equal: {report['agreements']} agreements rebuilt from {report['records']} records "
                        f"({report['entered']} acts entered again)"
                + (f"; not replayable: {', '.join(report['skipped'])}" if report["skipped"] else ""))
        return
    lines = [f"{d['process']}: {d['field']}: stored {d['stored']!r}, replayed {d['replayed']!r}"
             for d in report["differences"]]
    if ctx.as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2, default=str))
    click.echo("convenant: audit replay: the stored state differs from the history:\n  " + "\n  ".join(lines[:50]),
               err=True)
    sys.exit(3)


@audit.command("refusals")
@click.option("--limit", type=POSITIVE, default=200, show_default=True)
@pass_ctx
@run
def audit_refusals(ctx: Ctx, limit: int) -> None:
    """Refused attempts (who tried what, and why), kept apart from the chained history; newest first."""
    rows = ctx.app().queries.refusals(limit)
    ctx.out(rows, lambda: table(rows, ["at", "process", "trigger", "actor", "role", "party", "code", "message"]))


@audit.command("export")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False), help="write to this file instead of stdout")
@click.option("--role", type=click.Choice(ROLES), default="secretariat", show_default=True,
              help="who reads: a party does not see the text of confidential notes (Art. 5.9) entered for others")
@click.option("--party", help="with --role party: the party that reads")
@pass_ctx
@run
def audit_export(ctx: Ctx, fmt: str, out: str | None, role: str, party: str | None) -> None:
    """Every record. JSON: the log as `convenant-verify log` reads it - each record with the fields of `history`,
    its leaf index and leaf hash, and every signed checkpoint. CSV: one column per field of `history`."""
    app = ctx.app()
    if fmt == "json":
        reader = app.queries.reader(role, party, app.queries.party_ids())
        doc = app.service.log.export(lambda rows: app.queries.readable(rows, role, reader))
        text = json.dumps(doc, ensure_ascii=False, indent=2)
        if out:
            write_out(out, text)
            click.echo(f"exported to {out}", err=True)
        else:
            click.echo(text)
        return
    rows = app.queries.export(role=role, party=party)
    emit_records(ctx, rows, fmt, Path(out) if out else None)
    if out:
        click.echo(f"exported to {out}", err=True)


# -- keys ---------------------------------------------------------------------------------------------
@cli.group()
def keys() -> None:
    """The log's signing key (Ed25519): a file outside the database ([log] key_file, by default beside
    config.toml). Publish the public key: parties and auditors check checkpoints and receipts with it."""


@keys.command("create")
@pass_ctx
@run
def keys_create(ctx: Ctx) -> None:
    """Create the signing key (refused if there is one: checkpoints already signed name it)."""
    made = ctx.app(schema=False).service.log.create_key()
    ctx.out(made, f"created {made['key_file']} (keep it private; back it up)\npublic key: {made['public_key']}")


@keys.command("show")
@pass_ctx
@run
def keys_show(ctx: Ctx) -> None:
    """Print the public key (the signed-note verifier key) for publication."""
    shown = ctx.app(schema=False).service.log.public_key()
    ctx.out(shown, shown["public_key"])


# -- people and tokens ----------------------------------------------------------------------------------
def read_password(field: str = "password") -> str:
    """One line from stdin (a pipe, or typed with no echo at a terminal): never an argument, which `ps` and the
    shell's history would show."""
    if sys.stdin.isatty():
        import getpass
        return getpass.getpass("password: ")
    line = sys.stdin.readline()
    if not line:
        raise BadInput(f"--{field}-stdin: no password on standard input", field=field)
    return line.rstrip("\r\n")


@cli.group()
def users() -> None:
    """Personal accounts: who signs in to the pages, recorded by name in the history."""


@users.command("add")
@click.option("--name", required=True, help="the person's name, as the history records it")
@click.option("--email", required=True, help="the account's key; also how the identity provider names them")
@click.option("--role", required=True, help="secretariat, party, auditor or administrator")
@click.option("--party", help="with --role party: the party they act for")
@click.option("--language", default="nl", show_default=True, help="nl or en")
@click.option("--password-stdin", is_flag=True, help="read a password for local sign-in from standard input")
@pass_ctx
@run
def users_add(ctx: Ctx, name: str, email: str, role: str, party: str | None, language: str,
              password_stdin: bool) -> None:
    app = ctx.app()
    password = read_password() if password_stdin else None
    made = app.accounts.add_user(name, email, role, party=party, language=language, password=password)
    ctx.out(made, f"added {made['email']} ({made['name']}, {made['role']}"
                  f"{', ' + made['party'] if made['party'] else ''})")


@users.command("list")
@pass_ctx
@run
def users_list(ctx: Ctx) -> None:
    rows = ctx.app().accounts.list_users()
    ctx.out(rows, lambda: table([{**r, "enabled": "yes" if r["enabled"] else "no",
                                  "password": "yes" if r["password"] else "no"} for r in rows],
                                ["email", "name", "role", "party", "language", "enabled", "password",
                                 "created_at", "disabled_at"]))


@users.command("disable")
@click.argument("email")
@pass_ctx
@run
def users_disable(ctx: Ctx, email: str) -> None:
    """Disable an account: its sessions end at once, its tokens stop working, its history stays."""
    gone = ctx.app().accounts.disable_user(email)
    ctx.out(gone, f"disabled {gone['email']}")


@users.command("set-password")
@click.argument("email")
@pass_ctx
@run
def users_set_password(ctx: Ctx, email: str) -> None:
    """Set the password for local sign-in, read from standard input."""
    app = ctx.app()
    done = app.accounts.set_password(email, read_password())
    ctx.out(done, f"password set for {done['email']}")


@cli.group()
def tokens() -> None:
    """API tokens for machines (the HTTP API), stored hashed; people sign in with an account (`users`)."""


@tokens.command("create")
@click.option("--name", required=True)
@click.option("--role", required=True)
@click.option("--party")
@click.option("--owner", help="a person's email (an account) or a service account's name; default: the token's name")
@click.option("--expires", help="the last day it works (DATE); default 365 days from now")
@click.option("--days", type=int, help="works this many days from now (instead of --expires)")
@click.option("--scope", default="write", show_default=True, help="read (look only) or write")
@pass_ctx
@run
def tokens_create(ctx: Ctx, name: str, role: str, party: str | None, owner: str | None, expires: str | None,
                  days: int | None, scope: str) -> None:
    made = ctx.app().accounts.create_token(name, role, party, owner=owner, expires=expires, days=days, scope=scope)
    ctx.out(made, f"{made['token']}\n(shown once: store it now; scope {made['scope']}, owner {made['owner']}, "
                  f"expires {made['expires_at']})")


@tokens.command("list")
@pass_ctx
@run
def tokens_list(ctx: Ctx) -> None:
    rows = ctx.app().accounts.list_tokens()
    ctx.out(rows, lambda: table(rows, ["name", "role", "party", "owner", "scope", "created_at", "expires_at",
                                       "last_used_at", "revoked_at"]))


@tokens.command("revoke")
@click.argument("name")
@pass_ctx
@run
def tokens_revoke(ctx: Ctx, name: str) -> None:
    ctx.out(ctx.app().accounts.revoke_token(name), f"revoked {name}")


# -- serve, scheduler ---------------------------------------------------------------------------------
@cli.command()
@click.option("--host", help="default [web] host")
@click.option("--port", type=click.IntRange(min=1, max=65535), help="default [web] port")
@pass_ctx
@run
def serve(ctx: Ctx, host: str | None, port: int | None) -> None:
    """The web pages, the HTTP API and the scheduler in one process."""
    from convenant.app.web.server import serve as run_server
    app = ctx.app()
    host, port = host or app.settings.web.host, port or app.settings.web.port
    _check_port_free(host, port)
    run_server(app, host, port)


def _check_port_free(host: str, port: int) -> None:
    """Say so at once when the port is taken, instead of a traceback from the web server."""
    import socket
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise BadInput(f"--host {host!r}: cannot be resolved ({exc.strerror})", field="host") from None
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise ConvenantError(f"cannot listen on {host}:{port}: {exc.strerror or exc} (is another "
                                 f"'convenant serve' running? choose another with --port or [web] port)",
                                 field="port") from None


@cli.command()
@click.option("--once", is_flag=True, help="run what is due now and stop")
@pass_ctx
@run
def scheduler(ctx: Ctx, once: bool) -> None:
    """The scheduler alone (a worker): runs what is due now, then at each next due moment and at least every
    [scheduler] interval_seconds, logging one line per run to stderr; SIGTERM or Ctrl-C stops it cleanly."""
    import logging

    from convenant.engine.scheduler import Worker
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("convenant.engine.scheduler").setLevel(logging.INFO)   # one line per run; libraries stay quiet
    app = ctx.app()
    worker = Worker(app.service, app.dispatcher(), interval_seconds=app.settings.scheduler.interval_seconds,
                    batch=app.settings.scheduler.batch_size)
    if once:
        done = worker.run_once()
        ctx.out({"ran": done}, f"ran {done} due step(s)")
        return
    worker.run_forever()


def _global_options_anywhere(group: click.Group) -> None:
    """INTERFACE.md: --config and --json are accepted before or after the subcommand. Every command gets both,
    setting the same fields the group's options set."""
    def set_json(click_ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if value:
            click_ctx.ensure_object(Ctx).as_json = True

    def set_config(click_ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
        if value is not None:
            click_ctx.ensure_object(Ctx).config = value

    for command in group.commands.values():
        names = {opt for param in command.params for opt in getattr(param, "opts", [])}
        if "--json" not in names:
            command.params.append(click.Option(["--json"], is_flag=True, expose_value=False, callback=set_json,
                                               help="machine-readable output (also accepted before the command)"))
        if "--config" not in names:
            command.params.append(click.Option(["--config"], expose_value=False, callback=set_config,
                                               type=click.Path(dir_okay=False),
                                               help="config.toml to use (also accepted before the command)"))
        if isinstance(command, click.Group):
            _global_options_anywhere(command)


_global_options_anywhere(cli)


def argv_problem(argv: list[str]) -> ConvenantError | None:
    """Arguments that are not text (bytes that are not UTF-8 arrive as lone surrogates) before click sees them,
    named by the option they belong to."""
    from convenant.engine.text import problem
    for index, arg in enumerate(argv):
        found = problem(arg)
        if found is not None:
            before = argv[index - 1] if index and argv[index - 1].startswith("-") else None
            field = arg.split("=", 1)[0] if arg.startswith("--") else (before or f"argument {index + 1}")
            return BadInput(f"{_printable(field)}: {found}", field=_printable(field))
    return None


def main() -> None:
    """The command line's error boundary: whatever escapes a command becomes one line and exit 1."""
    import logging
    import os
    if os.environ.get("CONVENANT_DEBUG"):
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    problem = argv_problem(sys.argv[1:])
    if problem is not None:
        fail(Ctx(None, "--json" in sys.argv), problem)
    try:
        cli(standalone_mode=True)
    except ConvenantError as exc:  # errors raised outside a command
        fail(None, exc)
    except Exception as exc:
        fail(None, unexpected(exc))


if __name__ == "__main__":
    main()
