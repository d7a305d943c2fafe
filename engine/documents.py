"""Attached documents (a proposed amendment's text, Art. 5.8): the history keeps what identifies a file - its
name, SHA-256 and size - and never its content, so that the chain stays small and a document with
confidential passages (Art. 5.9) does not end up in every export. Whoever holds the file can prove it is the
one that was recorded by hashing it again."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convenant.engine.errors import BadInput

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class DocumentFile:
    """A file named on the command line (`--set document=PATH`), not yet read. It travels in the TriggerRequest
    and is read when the values are validated (engine/pipeline.py step 5), that is after the actor is authorised
    (INTERFACE.md's order): an auditor's attempt is refused without touching the file. Only a regular file of at
    most `max_bytes` ([documents] max_bytes) is read."""
    path: str
    max_bytes: int

    def describe(self, field: str) -> dict[str, Any]:
        return describe_file(self.path, field, max_bytes=self.max_bytes)


def describe_file(path: str | Path, field: str = "document", *, max_bytes: int) -> dict[str, Any]:
    """Read a local file once, through engine/text.py's bounded reader (a regular file only), and describe it."""
    from convenant.engine.text import read_file
    data = read_file(path, field, max_bytes)
    return {"name": Path(path).name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def check_document(value: Any, field: str) -> dict[str, Any]:
    """A document value as the engine accepts it: {name, sha256, size}; a path is only read by the CLI, and
    only here, once the act is authorised (a DocumentFile)."""
    if isinstance(value, DocumentFile):
        value = value.describe(field)
    if not isinstance(value, dict):
        raise BadInput(f"{field}: give a file (the CLI reads it: --set {field}=PATH) or an object with name, "
                       f"sha256 and size", field=field)
    name, digest, size = value.get("name"), value.get("sha256"), value.get("size")
    if not isinstance(name, str) or not name.strip() or len(name) > 255 or "/" in name or "\\" in name:
        raise BadInput(f"{field}.name must be a file name (1-255 characters, no folders)", field=field)
    if not isinstance(digest, str) or not _SHA256.match(digest):
        raise BadInput(f"{field}.sha256 must be 64 lower-case hexadecimal digits", field=field)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise BadInput(f"{field}.size must be a whole number of bytes", field=field)
    return {"name": name, "sha256": digest, "size": size}


def document_params(workflows: dict[str, Any], trigger: str) -> set[str]:
    """The --set keys that name a file for this trigger in any loaded workflow (read before the process is)."""
    return {key for wf in workflows.values() for proc in wf.processes.values() for t in proc.triggers
            if t.name == trigger for key, p in t.params.items() if p.type == "document"}
