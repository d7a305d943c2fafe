"""Issue 19: thousands of generated bad inputs - command-line arguments, config.toml values, data files and the
documents a command reads, HTTP paths and JSON bodies - and not one reaches the error boundary (exit 1 on the
command line, HTTP 500 in the API, a correlation id in the log), and a refused case changes nothing in the
database (every table but the refusal log, checksummed before and after).

The command line runs in-process through the program's own `main()` (argv checks, click, the `run` boundary)
under click's CliRunner isolation; the API through FastAPI's TestClient; both on one SQLite simulation
database. One hypothesis run of at least 1,000 cases, bounded in time; the figures (cases by kind, exit codes and
statuses counted) are printed and written to `fuzz-report.json` in the test's tmp folder."""
from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import BASE_CONFIG

KB = "krachtenbundeling"
UNCHECKED = {"refusals",   # refused attempts are logged apart from the history, by design
             # the verifiable log's sequencer: any audit command first appends the records committed earlier to
             # the Merkle tree and signs a checkpoint (engine/log.py); `changed` checks it only ever covers records
             # that were there before the case
             "log_leaves", "log_subtrees", "log_checkpoints", "log_state"}
UNCHECKED_COLUMNS = {("tokens", "last_used_at")}   # a token's last use is bookkeeping of who asked, not state

# -- what the generated input is made of --------------------------------------------------------------------------
NASTY = ["", " ", "\0", "a\0b", "\udcff", "\ud800", "x\udcffy", "\x07", "\x1b[31m", "\x7f", "\u200b", "\u202e",
         "\ufeff", "\r\n", "\t", "%00", "%ED%A0%80", "../../../../etc/passwd", "/dev/zero", "/dev/null", "/", ".",
         "x" * 300, "y" * 20_000, "é" * 5000, "𝕏", "😀" * 3, "'; DROP TABLE records; --", "${HOME}", "{{7*7}}",
         "<script>alert(1)</script>", "NaN", "-1", "0", "1e400", "9223372036854775808", "-9223372036854775809",
         "100000000000000000000", "true", "null", "[]", "{}"]
ODD_DATES = ["9999-12-31", "0001-01-01", "10000-01-01", "2025-02-30", "2025-13-01", "2025-00-10", "2025-3-1",
             "20250301", "2025-03-01T25:00", "2025-03-01T09:00:00+25:00", "9999-12-31T23:59:59-01:00",
             "0001-01-01T00:00:00+14:00", "1899-12-31", "2999-12-31", "soon", "today", "-2025-01-01", "2025-W10",
             "2025-060", "2025-03-01T09:00:00Z", "2025-03-01 09:00", "１２３４-05-06"]
TRIGGERS = ["open_signing", "sign", "publish", "vote_extension", "request_amendment", "give_notice",
            "raise_dispute", "report_progress", "record_work_structure", "sign_up", "add_note", "record_mandate",
            "record_vth_implementation", "activate", "end", "consent", "refuse", "withdraw", "retract",
            "vote_continuation", "start_consultation", "resolve", "escalate"]
PROCESSES = [KB, f"{KB}/amendment-1", f"{KB}/termination-1", f"{KB}/dispute-1", "stedendriehoek", "nope"]
PARTIES = ["ienw", "ez", "vro", "ipo", "uvw", "vng", "nobody"]
ROLES = ["secretariat", "party", "auditor", "administrator", "root"]
SET_KEYS = ["extend", "new_end", "change", "document", "theme", "status", "government", "layer", "commitments",
            "text", "confidential", "step", "body", "continue", "new_ends_on", "accede", "accede_name", "leave",
            "subject", "email", "unknown_key"]

text = st.one_of(st.sampled_from(NASTY), st.text(max_size=40),
                 st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=30))
word = st.one_of(text, st.sampled_from(TRIGGERS + PROCESSES + PARTIES + ROLES + SET_KEYS))
date_text = st.one_of(st.sampled_from(ODD_DATES), text, st.dates().map(str),
                      st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()))
number = st.one_of(st.integers(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70), st.floats(),
                   st.sampled_from([0, -1, 2 ** 63, -(2 ** 63) - 1, 10 ** 20, 10 ** 400]))


def maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.none(), strategy)


def often(usual: st.SearchStrategy, odd: st.SearchStrategy) -> st.SearchStrategy:
    """`usual` three times in four."""
    return st.one_of(usual, usual, usual, odd)


@st.composite
def trigger_case(draw) -> list[str]:
    # mostly names the workflow knows, so that a case gets past the first check and tries the later ones
    args = ["trigger", draw(often(st.sampled_from(PROCESSES), text)), draw(often(st.sampled_from(TRIGGERS), text)),
            "--actor", draw(often(st.just("Secretariaat CE"), text)),
            "--role", draw(often(st.sampled_from(ROLES), text))]
    for option, values in (("--party", often(st.sampled_from(PARTIES), text)), ("--on", date_text),
                           ("--ref", text), ("--reason", text)):
        value = draw(maybe(values))
        if value is not None:
            args += [option, value]
    for _ in range(draw(st.integers(0, 3))):
        key = draw(often(st.sampled_from(SET_KEYS), text))
        value = draw(st.one_of(text, date_text, number.map(str), st.sampled_from(["yes", "no", "on_track"])))
        args += ["--set", draw(st.sampled_from([f"{key}={value}", key, f"={value}", f"{key}=={value}"]))]
    if draw(st.booleans()):
        args += ["--expect-version", draw(st.one_of(number.map(str), text))]
    return args


@st.composite
def one_odd_value(draw) -> list[str]:
    """A command that names what the workflow knows, with one odd value: these get to the later checks."""
    role, party = draw(st.sampled_from([("secretariat", None), ("secretariat", "ipo"), ("party", "ipo"),
                                        ("party", "ienw"), ("party", "ez"), ("auditor", None)]))
    args = ["trigger", draw(st.sampled_from(PROCESSES[:4])), draw(st.sampled_from(TRIGGERS)), "--actor", "a",
            "--role", role, *(["--party", party] if party else [])]
    where = draw(st.sampled_from(["--on", "--ref", "--reason", "--set", "--set", "--set"]))
    if where == "--set":
        value = draw(st.one_of(text, date_text, number.map(str), st.sampled_from(["yes", "no", "on_track"])))
        return [*args, "--ref", "brief 1", "--set", f"{draw(st.sampled_from(SET_KEYS))}={value}"]
    return [*args, where, draw(date_text if where == "--on" else text)]


@st.composite
def read_case(draw) -> list[str]:
    choice = draw(st.integers(0, 14))
    pid = draw(st.one_of(st.sampled_from(PROCESSES), text))
    if choice == 0:
        args = ["show", pid]
        if draw(st.booleans()):
            args += ["--role", draw(st.one_of(st.sampled_from(ROLES), text)), "--party", draw(word)]
        if draw(st.booleans()):
            args += ["--as-recorded-on", draw(date_text)]
        return args
    if choice == 1:
        return ["history", pid, "--format", draw(st.sampled_from(["json", "csv", "table", "xml"])),
                "--since", draw(date_text), "--until", draw(date_text)]
    if choice == 2:
        return ["deadlines", "--within", draw(st.one_of(number.map(str), text))]
    if choice == 3:
        return ["explain", pid, draw(st.one_of(st.sampled_from(["publication", "end", "work_structure"]), text)),
                "--subject", draw(text)]
    if choice == 4:
        return ["tokens", "create", "--name", draw(text), "--role", draw(st.one_of(st.sampled_from(ROLES), text)),
                "--party", draw(word)]
    if choice == 5:
        return ["tokens", "revoke", draw(text)]
    if choice == 6:   # odd moments only in the past or far away: a valid far-future advance would run for ever
        return ["clock", "advance", "--to", draw(st.one_of(st.sampled_from(ODD_DATES), text,
                                                           st.sampled_from(["2020-01-01T00:00:00+01:00"])))]
    if choice == 7:
        return ["init", "--simulation", "--start", draw(date_text)]
    if choice == 8:
        return ["workflows", "show", draw(word)]
    if choice == 9:
        return ["audit", draw(st.sampled_from(["prove", "consistency", "receipt"])),
                *draw(st.sampled_from([["--seq", "x"], ["--from", "-1", "--to", "99999999999999999999"],
                                       ["0"], ["99999999999999999999"], ["--seq", "99999999"]]))]
    if choice == 10:
        return ["outbox", "--status", draw(st.one_of(st.sampled_from(["pending", "sent", "failed"]), text))]
    if choice == 14:   # a file a command writes: odd places, odd names (inside the test's folder when relative)
        out = draw(st.one_of(st.sampled_from(["/", "/dev/full", "/nonexistent-dir/x.csv", "/proc/version",
                                               "/etc/passwd/x", "x" * 300 + ".csv", ".", "", "cases", "out"]),
                             text.map(lambda t: f"out/{t}")))
        return draw(st.sampled_from([["audit", "export", "--format", "csv", "--out", f"@{out}"],
                                     ["audit", "receipt", "1", "--out", f"@{out}"],
                                     ["audit", "export", "--format", "json", "--out", f"@{out}"]]))
    if choice == 12:
        return ["users", "add", "--name", draw(text), "--email", draw(st.one_of(text, st.emails())),
                "--role", draw(often(st.sampled_from(ROLES), text)), "--party", draw(word),
                "--language", draw(st.one_of(st.sampled_from(["nl", "en"]), text))]
    if choice == 13:
        return ["correct", pid, "--seq", draw(st.one_of(number.map(str), text)), "--reason", draw(text),
                "--actor", draw(often(st.just("Secretariaat CE"), text)),
                "--role", draw(often(st.sampled_from(ROLES), text)),
                "--set", f"{draw(st.sampled_from(['on', 'ref', *SET_KEYS]))}={draw(st.one_of(text, date_text))}",
                *draw(st.sampled_from([[], ["--dry-run"], ["--withdraw"]]))]
    acts = [f"{draw(st.sampled_from(TRIGGERS))} --party {draw(st.sampled_from(PARTIES))} --on {draw(date_text)}"
            for _ in range(draw(st.integers(0, 2)))]
    return ["whatif", pid, *[a for act in acts for a in ("--act", act)],
            "--until", draw(st.one_of(st.sampled_from(ODD_DATES), text))]


# config.toml: one setting given an odd value (or an unknown key, or a table where a value belongs)
CONFIG_KEYS = {
    "clock": ["timezone"], "mail": ["transport", "sender", "retry_base_seconds", "retry_max_seconds",
                                    "retry_lifetime_days", "confirmations", "confirmations_max_age_days", "host",
                                    "port", "tls", "username", "password_env", "max_attempts"],
    "reminders": ["publication", "end", "work_structure", "progress_report", "unknown_kind"],
    "escalation": ["after_days"], "scheduler": ["interval_seconds", "reminder_time", "reminders_on_working_days"],
    "decisions": ["amendment_response_days", "continuation_decision_days", "extension_opens_days_before"],
    "progress": ["report_interval_days"], "calendar": ["extra_rest_days"], "documents": ["max_bytes"],
    "log": ["key_file", "checkpoint_mail_days"], "web": ["host", "port"], "nonsense": ["key"],
    "database": ["url", "sqlite_synchronous", "echo", "pool"]}


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(str(value), repr(value))
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{k}" = {toml_value(v)}' for k, v in value.items()) + "}"
    return json.dumps(value, ensure_ascii=False)   # a TOML basic string (surrogates come out as \\ud800 escapes)


toml_values = st.recursive(
    st.one_of(st.booleans(), st.integers(min_value=-(2 ** 63), max_value=2 ** 63 - 1), st.floats(), text,
              st.sampled_from(ODD_DATES)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(["a", "b", "x"]), inner,
                                                                         max_size=2)), max_leaves=6)


ODD_URLS = ["", "nonsense", "mysql://x/y", "oracle://a", "postgresql+pg8000://x@127.0.0.1/x", "sqlite+nope:///x",
            "postgresql+asyncpg://x@127.0.0.1/x", "sqlite:///\0", "http://example.org", "sqlite:", "://", 12, True]


@st.composite
def config_case(draw) -> tuple[str, dict[str, Any] | bytes]:
    """The fuzz database's config.toml with one setting changed (a table of its own, or a key of [database] and
    [mail] beside the ones the run needs); or bytes that are no config at all."""
    if draw(st.integers(0, 9)) == 0:
        return "bytes", draw(st.sampled_from([b"\xff\xfe[mail]\n", b"[mail]\nsender = \"\xc3\x28\"\n",
                                              b"[[[", b"\x00" * 10, b"[mail\nx=1"]))
    table = draw(st.sampled_from(sorted(CONFIG_KEYS)))
    key = draw(st.sampled_from(CONFIG_KEYS[table]))
    if (table, key) == ("database", "url"):
        value: Any = draw(st.one_of(st.sampled_from(ODD_URLS), text.filter(lambda t: "sqlite" not in t
                                                                            and "postgres" not in t)))
    else:
        value = draw(st.one_of(toml_values, number.filter(lambda n: not isinstance(n, int) or abs(n) < 2 ** 63)))
    return f"{table}.{key}", {table: {key: value}}


def config_text(tables: dict[str, dict[str, Any]]) -> str:
    return "".join(f"[{name}]\n" + "".join(f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}\n"
                                           for k, v in values.items()) for name, values in tables.items())


@st.composite
def data_file_case(draw) -> tuple[str, dict[str, Any] | bytes]:
    """The example agreement's data file with one thing changed."""
    import tomllib

    from convenant import workflows
    path = workflows.example_file(workflows.load_all()[KB])
    assert path is not None
    raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    raw["id"] = f"fz-{draw(st.integers(0, 10 ** 6))}"
    kind = draw(st.sampled_from(["value", "party", "contact", "unknown", "themes_file", "bytes", "drop"]))
    if kind == "bytes":
        return kind, draw(st.sampled_from([b"\xff\xfeid = 1", b'id = "\xc3\x28"', b"\x00", b"title = 'x\x07'"]))
    if kind == "value":
        raw[draw(st.sampled_from(["id", "title", "workflow", "effective_from", "ends_on"]))] = draw(
            st.one_of(toml_values, date_text))
    elif kind == "party":
        party = raw["parties"][draw(st.integers(0, len(raw["parties"]) - 1))]
        party[draw(st.sampled_from(["id", "name", "represented_by", "group", "layer", "themes", "language"]))] = \
            draw(toml_values)
    elif kind == "contact":
        raw["parties"][0]["contacts"][0][draw(st.sampled_from(["name", "email", "language"]))] = draw(toml_values)
    elif kind == "unknown":
        raw[draw(text)] = draw(toml_values)
    elif kind == "themes_file":
        raw["themes_file"] = draw(st.one_of(st.sampled_from(["../../../../etc/passwd", "/etc/passwd", "/dev/zero",
                                                             ".", "missing.toml", "a" * 300]), text))
    else:
        raw.pop(draw(st.sampled_from(["parties", "title", "id", "themes_file"])), None)
    return kind, raw


def dump_toml(raw: dict[str, Any]) -> str:
    lines: list[str] = []
    tables: list[tuple[str, Any]] = []
    for key, value in raw.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables.append((key, value))
        else:
            lines.append(f"{json.dumps(key, ensure_ascii=False)} = {toml_value(value)}")
    for key, items in tables:
        for item in items:
            lines.append(f"[[{json.dumps(key, ensure_ascii=False)}]]")
            lines += [f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), number.filter(lambda n: not isinstance(n, float) or n == n), text),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=3)), max_leaves=10)


@st.composite
def api_case(draw) -> tuple[str, str, str, bytes | None, str]:
    """(kind, method, path, body, who)."""
    from urllib.parse import quote
    who = draw(st.sampled_from(["secretariat", "auditor", "ipo", "ez", "vng", "bad", "none"]))
    pid = draw(st.one_of(st.sampled_from(PROCESSES), text))
    quoted = quote(pid.encode("utf-8", "surrogatepass"), safe="")
    kind = draw(st.sampled_from(["fire", "fire", "fire", "raw", "deep", "get", "query", "log"]))
    if kind == "get":
        tail = draw(st.sampled_from(["", "/history", "/workflow"]))
        return kind, "GET", f"/api/v1/processes/{quoted}{tail}", None, who
    if kind == "query":
        name = draw(st.sampled_from(["within", "all", "format", "status", "lang", "explain", "seq", "checkpoint",
                                     "from", "to", "since", "until", "role", "party"]))
        value = quote(draw(st.one_of(text, number.map(str), date_text)).encode("utf-8", "surrogatepass"), safe="")
        path = draw(st.sampled_from(["/api/v1/deadlines", "/api/v1/audit/export", "/api/v1/processes",
                                     "/api/v1/log/proofs/inclusion", "/api/v1/log/proofs/consistency",
                                     f"/api/v1/processes/{KB}/history", "/api/v1/log/export"]))
        return kind, "GET", f"{path}?{name}={value}", None, who
    if kind == "log":
        number_text = quote(draw(st.one_of(number.map(str), text)).encode("utf-8", "surrogatepass"), safe="")
        path = draw(st.sampled_from(["/api/v1/log/checkpoints/", "/api/v1/log/receipts/"]))
        return kind, "GET", f"{path}{number_text}", None, who
    trigger = quote(draw(st.one_of(st.sampled_from(TRIGGERS), text)).encode("utf-8", "surrogatepass"), safe="")
    path = f"/api/v1/processes/{quoted}/triggers/{trigger}"
    if kind == "deep":
        depth = draw(st.sampled_from([100, 1000, 10_000, 100_000]))
        deep = draw(st.sampled_from(["[" * depth + "]" * depth, '{"data": ' + '{"a": ' * depth + "1" +
                                     "}" * depth + "}", '{"data": {"text": ' + "[" * depth + "]" * depth + "}}"]))
        return kind, "POST", path, deep.encode(), who
    if kind == "raw":
        raw = draw(st.one_of(st.binary(max_size=60), st.sampled_from(
            [b"", b"{", b"null", b"[]", b"1e999999", b'{"on": "\\ud800"}', b'{"\\ud800": 1}', b"\xff\xfe{}",
             b'{"data": {"text": "a\\u0000b"}}', b'{"data": []}', b'{"data": null}', b'{"on": 99999999999999}'])))
        return kind, "POST", path, raw, who
    body: dict[str, Any] = {}
    for key, values in (("on", st.one_of(date_text, json_values)), ("ref", st.one_of(text, json_values)),
                        ("reason", text), ("party", st.one_of(st.sampled_from(PARTIES), json_values)),
                        ("version", number), ("data", st.one_of(
                            st.dictionaries(st.one_of(st.sampled_from(SET_KEYS), text),
                                            st.one_of(text, date_text, json_values), max_size=3), json_values)),
                        ("unknown", json_values)):
        if draw(st.booleans()):
            body[key] = draw(values)
    return kind, "POST", path, json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass"), who


# -- the world the cases run in -----------------------------------------------------------------------------------
class Boundary(logging.Handler):
    """Every record the error boundaries log (the CLI's `unexpected`, the API's 500 handler)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.hits: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "unexpected error" in message or "internal error" in message:
            self.hits.append(message)


class World:
    def __init__(self, root: Path) -> None:
        from convenant.app.bootstrap import build
        from convenant.app.web.server import create_app
        from convenant.storage.people import SqlTokens

        self.root = root
        self.db = root / "fuzz.db"
        self.base = BASE_CONFIG.format(url=f"sqlite:///{self.db}", mail=root / "mail")
        self.config = root / "config.toml"
        (root / "cases").mkdir()            # the files of the cases (and a folder an --out may name)
        (root / "out").mkdir()
        self.config.write_text(self.base)
        self.runner = CliRunner()
        self.counter = 0
        # an active agreement with an amendment, a termination and a dispute: cases reach every kind of process
        acts = [["trigger", KB, "sign", "--actor", "s", "--role", "party", "--party", party, "--on", "2025-03-20"]
                for party in ("ienw", "ipo", "uvw", "vng")]
        for args in (["init", "--simulation", "--start", "2025-03-01T09:00:00+01:00"],
                     ["agreements", "create", "--example", KB],
                     ["trigger", KB, "open_signing", "--actor", "s", "--role", "secretariat"],
                     ["clock", "advance", "--to", "2025-03-20T12:00:00+01:00"], *acts,
                     ["trigger", KB, "publish", "--actor", "s", "--role", "secretariat", "--ref", "Stcrt. 1"],
                     ["clock", "advance", "--to", "2025-04-01T09:00:00+02:00"],
                     ["trigger", KB, "request_amendment", "--actor", "s", "--role", "party", "--party", "ipo",
                      "--ref", "brief 1"],
                     ["trigger", KB, "give_notice", "--actor", "s", "--role", "party", "--party", "vng",
                      "--ref", "brief 2"],
                     ["trigger", KB, "raise_dispute", "--actor", "s", "--role", "party", "--party", "uvw",
                      "--ref", "brief 3"]):
            code, out, err = self.cli(args, str(self.config))
            assert code == 0, (args, out, err)
        self.app = build(str(self.config))
        now = self.app.service.now()
        tokens = SqlTokens(self.app.store)
        self.tokens = {name: tokens.create(f"fz-{name}", role, party, now) for name, role, party in
                       (("secretariat", "secretariat", None), ("auditor", "auditor", None), ("ipo", "party", "ipo"),
                        ("ez", "party", "ez"), ("vng", "party", "vng"))}
        self.client = TestClient(create_app(self.app, scheduler=False), raise_server_exceptions=False)
        self.outcomes: Counter[str] = Counter()
        self.outcomes_by_kind: dict[str, Counter[str]] = {}
        self.kinds: Counter[str] = Counter()
        self.refused_unchanged = 0
        self.started = time.monotonic()
        self.cpu_started = time.process_time()

    def cli(self, args: list[str], config: str) -> tuple[int, str, str]:
        """The program as installed: `main()` with this argv, in-process."""
        from convenant.app.cli import main
        argv = ["convenant", "--config", config, "--json", *args]
        with self.runner.isolation() as (out, err, _both):
            saved = sys.argv
            sys.argv = argv
            try:
                main()
                code = 0
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
            finally:
                sys.argv = saved
            return code, out.getvalue().decode("utf-8", "replace"), err.getvalue().decode("utf-8", "replace")

    def digest(self) -> dict[str, str]:
        """A checksum of every table but the refusal log (a refusal is logged apart, by design)."""
        conn = sqlite3.connect(self.db)
        try:
            out = {}
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
            for name in names:
                if name in UNCHECKED:
                    continue
                h = hashlib.sha256()
                columns = [c[1] for c in conn.execute(f'PRAGMA table_info("{name}")')
                           if (name, c[1]) not in UNCHECKED_COLUMNS]
                listed = ", ".join(f'"{c}"' for c in columns)
                for row in conn.execute(f'SELECT {listed} FROM "{name}" ORDER BY rowid'):
                    h.update(repr(row).encode())
                out[name] = h.hexdigest()
            return out
        finally:
            conn.close()

    def changed(self, before: dict[str, str]) -> list[str]:
        after = self.digest()
        found = sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))
        conn = sqlite3.connect(self.db)
        try:
            leaves, records = (conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
                               for name in ("log_leaves", "records"))
        finally:
            conn.close()
        return found + (["log_leaves (more leaves than records)"] if leaves > records else [])

    def file(self, content: str | bytes, suffix: str = ".toml") -> Path:
        self.counter += 1
        path = self.root / "cases" / f"case-{self.counter}{suffix}"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(content.encode("utf-8", "surrogatepass"))
        return path

    def check_cli(self, kind: str, args: list[str], config: str | None = None) -> None:
        # "@PATH": a path to write; a relative one is placed in this run's folder, never in the working directory
        args = [a if not a.startswith("@") else (a[1:] if a[1:].startswith("/") else str(self.root / a[1:]))
                for a in args]
        before = self.digest()
        code, out, err = self.cli(args, config or str(self.config))
        self.kinds[kind] += 1
        self.outcomes[f"exit {code}"] += 1
        self.outcomes_by_kind.setdefault(kind, Counter())[f"exit {code}"] += 1
        assert code != 1 and code in (0, 2, 3, 4, 5), f"{kind}: convenant {args!r} -> exit {code}\n{out}\n{err}"
        assert "Traceback" not in err, err
        if code != 0:
            changed = self.changed(before)
            assert not changed, f"{kind}: refused (exit {code}) but changed {changed}: {args!r}\n{out}"
            self.refused_unchanged += 1

    def check_api(self, kind: str, method: str, path: str, body: bytes | None, who: str) -> None:
        headers = {"Content-Type": "application/json"}
        if who == "bad":
            headers["Authorization"] = "Bearer not-a-token"
        elif who != "none":
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        before = self.digest()
        response = self.client.request(method, path, content=body, headers=headers)
        self.kinds[f"api {kind}"] += 1
        self.outcomes[f"HTTP {response.status_code}"] += 1
        self.outcomes_by_kind.setdefault(f"api {kind}", Counter())[f"HTTP {response.status_code}"] += 1
        assert response.status_code < 500, f"{method} {path} {body!r:.300} as {who} -> {response.status_code}: " \
                                           f"{response.text[:500]}"
        if response.status_code >= 400:
            changed = self.changed(before)
            assert not changed, f"refused ({response.status_code}) but changed {changed}: {method} {path} " \
                                f"{body!r:.300} as {who}: {response.text[:300]}"
            self.refused_unchanged += 1


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return World(tmp_path_factory.mktemp("fuzz"))


GOOD_ACTS = ["report_progress --set theme=inkoop --set status=on_track", "# a comment", "",
             "report_progress --set theme=vth --set status=stalled --on 2025-04-01",
             "add_note --set text=Notitie", "raise_dispute --party ipo --on 2025-04-01"]


@st.composite
def script_case(draw) -> tuple[str | bytes, str]:
    """A `whatif --script` file: acts that would do, with (mostly) one odd line among them, or bytes; the --until."""
    until = draw(often(st.sampled_from(["2025-04-02T00:00:00+02:00", "2025-05-01T00:00:00+02:00"]),
                       st.one_of(st.sampled_from(ODD_DATES), text)))
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from([b"\xff\xfe sign", b"sign --party ipo\x00", b"\xc3\x28"])), until
    lines = draw(st.lists(st.sampled_from(GOOD_ACTS), max_size=3))
    if draw(st.integers(0, 3)):
        act = f"{draw(often(st.sampled_from(TRIGGERS), text))}"
        if draw(st.booleans()):
            act += f" --party {draw(often(st.sampled_from(PARTIES), text))}"
        if draw(st.booleans()):
            act += f" --on {draw(date_text)}"
        if draw(st.booleans()):
            act += f" --set {draw(st.sampled_from(SET_KEYS))}={draw(st.one_of(text, date_text))}"
        odd = draw(st.one_of(st.just(act), text, st.sampled_from(["--act", "'unclosed", "\\", "x" * 20_000])))
        lines.insert(draw(st.integers(0, len(lines))), odd)
    return "\n".join(lines) + "\n", until


# each kind its own share of the run, so that hypothesis's preference for simple choices starves none of them
BUDGET = {"cli trigger": 400, "cli trigger, one odd value": 300, "cli read and admin": 300, "config.toml": 200,
          "data file": 200, "document": 100, "whatif script": 100,
          "api": 500}
STRATEGIES: dict[str, st.SearchStrategy] = {
    "cli trigger": trigger_case(), "cli trigger, one odd value": one_odd_value(),
    "cli read and admin": read_case(), "config.toml": config_case(),
    "data file": data_file_case(), "api": api_case(),
    "whatif script": script_case(),
    "document": st.one_of(text, st.sampled_from(["/dev/zero", "/dev/null", "/", "/etc/passwd", "/proc/self/mem",
                                                 "x" * 300, "nonexistent"])),
}


def run_kind(kind: str, budget: int, one: Any) -> None:
    @settings(max_examples=budget, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(STRATEGIES[kind])
    def cases(spec: Any) -> None:
        one(kind, spec)
    cases()


def test_no_generated_input_reaches_the_error_boundary_and_a_refusal_changes_nothing(world) -> None:
    boundary = Boundary()
    seconds: dict[str, float] = {}
    watched = [logging.getLogger(name) for name in ("convenant.errors", "convenant.app.web.server")]
    saved = [(lg.level, lg.propagate) for lg in watched]
    for lg in watched:
        lg.addHandler(boundary)
        lg.setLevel(logging.DEBUG)

    def one(kind: str, spec: Any) -> None:
        if kind.startswith("cli"):
            world.check_cli(kind, spec)
        elif kind == "config.toml":
            key, change = spec
            if isinstance(change, bytes):
                path = world.file(change)
            else:
                tables = {"database": {"url": f"sqlite:///{world.db}"},
                          "mail": {"transport": "maildir", "path": str(world.root / "mail")}}
                for name, values in change.items():
                    tables.setdefault(name, {}).update(values)
                path = world.file(config_text(tables))
            command = ["show", KB] if world.counter % 2 else ["deadlines"]
            world.check_cli(kind, command, str(path))
        elif kind == "data file":
            sub, raw = spec
            path = world.file(raw if isinstance(raw, bytes) else dump_toml(raw))
            if sub == "themes_file" or world.counter % 3 == 0:   # a real themes file beside it, named relatively
                from convenant import workflows
                example = workflows.example_file(workflows.load_all()[KB])
                assert example is not None
                (path.parent / "krachtenbundeling_themes.toml").write_bytes(
                    (Path(example).parent / "krachtenbundeling_themes.toml").read_bytes())
            world.check_cli(kind, ["agreements", "create", "--workflow", KB, "--file", str(path)])
        elif kind == "whatif script":
            content, until = spec
            before = world.digest()
            world.check_cli(kind, ["whatif", KB, "--script", str(world.file(content, ".txt")), "--until", until])
            assert world.changed(before) == [], "whatif writes nothing, done or refused"
        elif kind == "document":
            world.check_cli(kind, ["trigger", KB, "request_amendment", "--actor", "a", "--role",
                                   "party", "--party", "ipo", "--ref", "brief", "--set", f"document={spec}"])
        else:
            world.check_api(*spec)

    try:
        for kind, budget in BUDGET.items():
            began = time.monotonic()
            run_kind(kind, budget, one)
            seconds[kind] = round(time.monotonic() - began, 1)
    finally:
        for lg, (level, propagate) in zip(watched, saved, strict=True):
            lg.removeHandler(boundary)
            lg.setLevel(level)
            lg.propagate = propagate
        elapsed = time.monotonic() - world.started
        cpu = time.process_time() - world.cpu_started
        report = {"cases": sum(world.kinds.values()), "seconds": round(elapsed, 1), "cpu_seconds": round(cpu, 1),
                  "seconds_by_kind": seconds, "by_kind": dict(world.kinds),
                  "outcomes": dict(sorted(world.outcomes.items())),
                  "outcomes_by_kind": {k: dict(sorted(v.items())) for k, v in world.outcomes_by_kind.items()},
                  "refusals_checked_unchanged": world.refused_unchanged, "boundary_log_records": len(boundary.hits)}
        (world.root / "fuzz-report.json").write_text(json.dumps(report, indent=2))
        print(f"\nfuzz report ({world.root / 'fuzz-report.json'}):\n{json.dumps(report, indent=2)}")
    assert boundary.hits == [], boundary.hits[:5]
    assert sum(world.kinds.values()) >= 1000


# -- what the fuzz found, pinned: each once exit 1 or HTTP 500 ---------------------------------------------------
@pytest.mark.parametrize("args", [
    ["deadlines", "--within", "100000000000000000000"],
    ["audit", "receipt", "99999999999999999999"],
    ["audit", "prove", "--seq", "9223372036854775808"],
    ["trigger", KB, "sign", "--actor", "a", "--role", "secretariat", "--expect-version", "99999999999999999999"],
    ["audit", "export", "--format", "json", "--out", "/dev/full"],
    ["audit", "export", "--format", "json", "--out", "/nonexistent-dir/x.json"],
    ["audit", "receipt", "1", "--out", "/dev/full"],
    ["audit", "receipt", "1", "--out", "/nonexistent-dir/r.json"],
])
def test_found_by_the_fuzz_on_the_command_line(world, args) -> None:
    before = world.digest()
    code, out, err = world.cli(args, str(world.config))
    assert code == 2, (code, out, err)
    assert "Traceback" not in err and world.changed(before) == []


@pytest.mark.parametrize("url", ["mysql://x/y", "postgresql+asyncpg://x@127.0.0.1/x", "sqlite+nope:///x.db"])
def test_found_by_the_fuzz_a_database_url_convenant_cannot_use(world, url) -> None:
    path = world.file(config_text({"database": {"url": url}, "mail": {"transport": "maildir"}}))
    code, _out, err = world.cli(["deadlines"], str(path))
    assert code == 2 and "database.url" in err, err


@pytest.mark.parametrize("path", ["/api/v1/log/checkpoints/9223372036854775808",
                                  "/api/v1/log/receipts/-9223372036854775809"])
def test_found_by_the_fuzz_over_http(world, path) -> None:
    response = world.client.get(path, headers={"Authorization": f"Bearer {world.tokens['secretariat']}"})
    assert response.status_code == 400, response.text
