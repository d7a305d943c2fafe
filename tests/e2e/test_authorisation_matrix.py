"""Issue 18's authorisation matrix: every role (secretariat, party for each party, auditor, administrator where the
engine knows it) x every trigger of both shipped definitions x every party, through the command line (in-process,
`--role/--party/--actor`) and the API (a token of each role and party). Not one unauthorised success: an act the
definition forbids is refused with exit 3 and `"forbidden": true` / HTTP 403; an authorised act is never refused
for authorisation (it may be refused for its state or its values: exit 3 with `"forbidden": false` / HTTP 409, or
exit 2 / 400).

The expected answer is derived here from the definition files and the example agreements' data alone (the
triggers' `roles`, `parties`, `own` and `manual`, the parties' `represented_by`), not from engine/access.py.
One SQLite database per definition, put back from a copy (SQLite's backup) after each act that succeeded."""
from __future__ import annotations

import json
import sqlite3
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Cli, active

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
KB, SD = "krachtenbundeling", "stedendriehoek"

# Values for the parameters a trigger takes (by the definition's params), so that authorised acts can succeed.
SAMPLE = {"extend": "yes", "new_end": "2027-06-01", "change": "Artikel 5.3 anders", "theme": "inkoop",
          "status": "on_track", "government": "Gemeente Matrix", "layer": "municipality", "step": "advice",
          "body": "Gemeenteraad", "text": "Notitie", "continue": "yes", "name": "K. Maker",
          "focus_points": "grondstoffen", "decision": "continue"}
# The facts an `own` trigger compares with: who asked for the amendment, who gave notice (set up below).
FACTS = {"requester": "ipo", "notifier": "vng"}


def roles() -> list[str]:
    from convenant.engine.definitions import ROLES  # the vocabulary of roles (not the authorisation)
    return [r for r in ("secretariat", "party", "auditor", "administrator") if r in ROLES]


def definition(name: str) -> dict[str, Any]:
    return tomllib.loads((WORKFLOWS / f"{name}.toml").read_text(encoding="utf-8"))


def agreement_data(name: str) -> dict[str, Any]:
    return tomllib.loads((WORKFLOWS / definition(name)["example"]).read_text(encoding="utf-8"))


def expected(trigger: dict[str, Any], role: str, party: str | None, represented: dict[str, str | None]) -> str:
    """From the data: "forbidden" (this role or party may not), "automatic" (nobody fires it by hand: a refusal
    of the state, not of the person) or "authorised"."""
    if role in ("auditor", "administrator"):      # INTERFACE.md: auditors read only; administrators manage accounts
        return "forbidden"
    if trigger.get("manual", True) is False:
        return "automatic"
    if role not in trigger.get("roles", []):
        return "forbidden"
    if party is not None:
        if represented[party]:                     # the parties clause: a represented party acts through its representative
            return "forbidden"
        if trigger.get("parties") is not None and party not in trigger["parties"]:
            return "forbidden"
        if trigger.get("own") and FACTS[trigger["own"]] != party:
            return "forbidden"
    return "authorised"


class Matrix:
    """One definition's agreement, with a child process of every kind, and a token for every role and party."""

    def __init__(self, name: str, root: Path) -> None:
        from convenant.app.bootstrap import build
        from convenant.app.web.server import create_app

        self.name = name
        self.data = agreement_data(name)
        self.parties = [p["id"] for p in self.data["parties"]]
        self.represented = {p["id"]: p.get("represented_by") for p in self.data["parties"]}
        self.db = root / "matrix.db"
        self.cli = Cli(root, f"sqlite:///{self.db}")
        if name == KB:
            active(self.cli)
            self.cli.trigger(KB, "request_amendment", role="party", party=FACTS["requester"], ref="brief 1")
            self.cli.trigger(KB, "give_notice", role="party", party=FACTS["notifier"], ref="brief 2")
            self.cli.trigger(KB, "raise_dispute", role="party", party="uvw", ref="brief 3")
            self.processes = {"agreement": KB, "amendment": f"{KB}/amendment-1",
                              "termination": f"{KB}/termination-1", "dispute": f"{KB}/dispute-1"}
        else:
            self.cli.run("init", "--simulation", "--start", "2026-01-12T09:00:00+01:00")
            self.cli.run("agreements", "create", "--example", name)
            self.processes = {definition(name)["root"]: self.data["id"]}
        for ptype, pid in self.processes.items():
            assert self.cli.show(pid)["id"] == pid, ptype
        self.tokens: dict[tuple[str, str | None], str] = {}
        for role in roles():
            for party in ([None] if role != "party" else self.parties):
                args = ["tokens", "create", "--name", f"{role}-{party}", "--role", role]
                made = self.cli.run(*args, *(["--party", party] if party else [])).data
                assert isinstance(made, dict)
                self.tokens[(role, party)] = made["token"]
        self.template = root / "template.db"
        self.copy(self.db, self.template)
        self.app = build(str(self.cli.config))
        self.client = TestClient(create_app(self.app, scheduler=False), raise_server_exceptions=False)
        self.restores = 0

    @staticmethod
    def copy(source: Path, target: Path) -> None:
        src, dst = sqlite3.connect(source), sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()

    def reset(self) -> None:
        self.copy(self.template, self.db)
        self.restores += 1
        assert self.records(self.db) == self.records(self.template)   # the act that succeeded is gone again

    @staticmethod
    def records(path: Path) -> int:
        conn = sqlite3.connect(path)
        try:
            return int(conn.execute("SELECT count(*) FROM records").fetchone()[0])
        finally:
            conn.close()

    def cases(self) -> list[tuple[str, str, dict[str, Any], str, str | None]]:
        """(process type, process id, trigger, role, party): every trigger x role x party (and no party)."""
        spec = definition(self.name)["processes"]
        out = []
        for ptype, pid in self.processes.items():
            for trigger in spec[ptype].get("triggers", []):
                for role in roles():
                    for party in [None, *self.parties]:
                        if role == "party" and party is None:   # --party is required with --role party (exit 2)
                            continue
                        out.append((ptype, pid, trigger, role, party))
        return out

    def values(self, trigger: dict[str, Any]) -> dict[str, str]:
        return {key: SAMPLE[key] for key in trigger.get("params", {}) if key in SAMPLE}

    def fire_cli(self, pid: str, trigger: dict[str, Any], role: str, party: str | None) -> tuple[str, str]:
        sets = tuple(f"{k}={v}" for k, v in self.values(trigger).items())
        res = self.cli.trigger(pid, trigger["name"], role=role, party=party, actor="Matrix", ref="brief M-1",
                               sets=sets, expect=None)
        if res.code == 0:
            return "success", "exit 0"
        if res.code == 3:
            assert res.data is not None and "forbidden" in res.data, res.out
            return ("forbidden" if res.data["forbidden"] else "refused"), f"exit 3 ({res.data['message']})"
        assert res.code in (2, 4, 5), f"exit {res.code}: {res.out} {res.err}"
        return "refused", f"exit {res.code} ({res.data['message'] if res.data else res.err})"

    def fire_api(self, pid: str, trigger: dict[str, Any], role: str, party: str | None,
                 token_party: str | None = None) -> tuple[str, str]:
        """`token_party`: a party's token that asks to act for `party` (another party)."""
        token = self.tokens[(role, token_party or (party if role == "party" else None))]
        body: dict[str, Any] = {"ref": "brief M-1", "data": self.values(trigger)}
        if party is not None:
            body["party"] = party
        response = self.client.post(f"/api/v1/processes/{pid.replace('/', '%2F')}/triggers/{trigger['name']}",
                                    json=body, headers={"Authorization": f"Bearer {token}"})
        code = response.status_code
        assert code < 500, response.text
        if code == 200:
            return "success", "200"
        if code == 403:
            return "forbidden", f"403 ({response.json().get('reason')})"
        assert code in (400, 404, 409), f"{code}: {response.text}"
        return "refused", f"{code} ({response.json().get('reason')})"


@pytest.fixture(scope="module", params=[KB, SD])
def matrix(request, tmp_path_factory) -> Matrix:
    return Matrix(request.param, tmp_path_factory.mktemp(f"matrix-{request.param}"))


@pytest.mark.parametrize("way", ["cli", "api"])
def test_no_unauthorised_success_and_no_authorised_act_refused_for_authorisation(matrix, way) -> None:
    started = time.monotonic()
    outcomes: Counter[tuple[str, str]] = Counter()
    wrong: list[str] = []
    for ptype, pid, trigger, role, party in matrix.cases():
        want = expected(trigger, role, party, matrix.represented)
        fire = matrix.fire_cli if way == "cli" else matrix.fire_api
        got, detail = fire(pid, trigger, role, party)
        outcomes[(want, got)] += 1
        if got == "success":
            matrix.reset()
        if want == "forbidden" and got != "forbidden":
            wrong.append(f"{ptype} {trigger['name']} by {role}/{party}: forbidden by the definition, got {detail}")
        elif want == "authorised" and got == "forbidden":
            wrong.append(f"{ptype} {trigger['name']} by {role}/{party}: authorised, refused for it: {detail}")
        elif want == "automatic" and got in ("success", "forbidden"):
            wrong.append(f"{ptype} {trigger['name']} by {role}/{party}: automatic only, got {detail}")
        if way == "api" and role == "party":   # a party's token acting for any other party: never
            for other in (p for p in matrix.parties if p != party):
                got, detail = matrix.fire_api(pid, trigger, role, other, token_party=party)
                outcomes[("forbidden", got)] += 1
                if got == "success":
                    matrix.reset()
                if got != "forbidden":
                    wrong.append(f"{ptype} {trigger['name']} by the token of {party} for {other}: got {detail}")
    seconds = time.monotonic() - started
    summary = {"definition": matrix.name, "way": way, "cases": sum(outcomes.values()), "seconds": round(seconds, 1),
               "outcomes (expected -> got)": {f"{w} -> {g}": n for (w, g), n in sorted(outcomes.items())},
               "unauthorised successes": outcomes[("forbidden", "success")], "wrong": len(wrong)}
    print(f"\nauthorisation matrix: {json.dumps(summary)}")
    assert not wrong, "\n".join(wrong[:30])
    assert outcomes[("forbidden", "success")] == 0
    # the matrix is not vacuous: it holds acts of every answer, and authorised ones that succeeded
    assert outcomes[("forbidden", "forbidden")] > 0 and outcomes[("authorised", "success")] > 0
