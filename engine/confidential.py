"""Confidentiality (Art. 5.9): competition- or privacy-sensitive information is shared only where the law allows.

A note or document is recorded with the `add_note` trigger (`--set text=... --set confidential=yes`); any act
recorded with `--set confidential=yes` counts as confidential. Its record stays whole in the database (the hash
chain covers it), but views for a role that may not see it replace what it says - every value of `--set`, `--ref`
and `--reason` - by a marker. Who may see: the secretariat (the operator, the default on the command line) and
auditors see everything; a party sees a confidential record only when it was entered for that party (`--party`),
because then it is its own information. Emails never carry it at all (engine/confirmations.py leaves out every
`--set` value, and the reference of a confidential act)."""
from __future__ import annotations

from typing import Any

from convenant.engine.confirmations import is_confidential

REDACTED = "[vertrouwelijk - Art. 5.9]"
SEES_ALL = frozenset({"secretariat", "auditor"})


def may_see(record: dict[str, Any], role: str | None, party: str | None) -> bool:
    if role is None or role in SEES_ALL:
        return True
    return party is not None and record.get("party") == party


def redact(record: dict[str, Any], role: str | None = None, party: str | None = None) -> dict[str, Any]:
    """The record as `role` (and `party`) may see it; every record gains `confidential` (true or false)."""
    params = (record.get("data") or {}).get("params")
    if not is_confidential(params):
        return {**record, "confidential": False}
    out = {**record, "confidential": True}
    if may_see(record, role, party):
        return out
    hidden = {k: (v if k == "confidential" or v in (None, "") else REDACTED) for k, v in (params or {}).items()}
    out["data"] = {**record["data"], "params": hidden}
    for key in ("ref", "reason"):
        if out.get(key):
            out[key] = REDACTED
    return out
