"""convenant-verify: check a convenant log offline, trusting nothing but the installation's published public key.

This module is the part of convenant an auditor has to trust, so it stands alone: the standard library and
`cryptography` (Ed25519), nothing else of the project (and `rfc3161-client` for a log with time-stamps). The engine imports it for the hashing and the formats,
never the other way round.

What is checked
---------------
Every record of the history is a leaf of one append-only Merkle tree (RFC 9162 §2.1, the hashing of Certificate
Transparency v2). From time to time the installation signs a *checkpoint* of that tree - its size and root hash -
with its Ed25519 key. Parties keep the checkpoints they are mailed. Then:

- ``convenant-verify log EXPORT --key PUBKEY [--checkpoint NOTE]...`` recomputes every leaf from the record's
  content, rebuilds the tree, checks every checkpoint of the export (root and signature), and checks that each
  checkpoint kept from earlier is a prefix of this log: same root at its size. A record changed, removed, inserted
  or moved, or a log rewritten and re-signed with another key, fails one of these.
- ``convenant-verify receipt RECEIPT --key PUBKEY`` checks one record against a signed checkpoint (inclusion proof).
- ``convenant-verify consistency OLD_NOTE NEW_NOTE --proof PROOF --key PUBKEY`` checks that the newer checkpoint
  extends the older one (consistency proof).

Exit status: 0 valid; 3 not valid (the reason names the first bad record, checkpoint or proof step); 2 bad input
(a file that cannot be read, is not JSON, or lacks a field; the message names the file and the field).

Hashing (RFC 9162 §2.1.1)
-------------------------
leaf hash = SHA-256(0x00 || leaf input); interior node = SHA-256(0x01 || left || right); the empty tree's root is
SHA-256 of nothing. A record's leaf input is its canonical serialisation: UTF-8 JSON with sorted keys, no
whitespace (separators ``,`` and ``:``), non-ASCII characters written as themselves, of the record as
``convenant history --json`` gives it - ``seq``, ``process``, ``trigger``, ..., ``data``, and the link of its
agreement's own hash chain, ``prev_hash`` and ``hash`` - less the keys in ``NOT_COMMITTED``: annotations that are
no part of the act and may change after it was recorded (mail delivery state, the ``corrected_by`` back-reference,
markers of the export). The verifier does not recompute the chain's ``hash`` itself (that formula is the
database's); it checks that every ``prev_hash`` names an earlier record (or is 64 zeros, the start of a chain) and
that no record has two successors.

Checkpoint: a C2SP tlog-checkpoint in a C2SP signed note
--------------------------------------------------------
(https://c2sp.org/tlog-checkpoint, https://c2sp.org/signed-note) The note text is the origin (the log's name),
the tree size in decimal, the root hash in standard base64, and optional extension lines; convenant adds one,
``time <ISO 8601 with offset>``, the moment of signing. A blank line, then one line per signature:
``— <key name> base64(4-byte key ID || Ed25519 signature of the note text)``. Signatures of other keys (a witness's
cosignature) are ignored; a signature line with the published key's name and ID must verify. An example, signed
with the example key below (a tree of 3 leaves, the inputs ``example record 1`` .. ``3``)::

    convenant.example.org/log
    3
    +CegAp6Mh+SqgY39It4E1awmdmh3h0hAwqdJjBSNToQ=
    time 2025-03-21T09:00:00+00:00

    — convenant.example.org/log EOoxTxgWJdx33D3v2pX1aZz1GztnXnGZeXcljLcd2ds3NtGrCXYpzISe7gWNeQVpXgcUJC7gLn3u9L1xvIlonBUvGQk=

Public key (``--key``): the signed-note verifier key ``<name>+<key ID, 8 hex digits>+base64(0x01 || 32-byte
Ed25519 public key)``, where key ID = the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key); given as
the text itself, or a file holding it (or the JSON of ``convenant keys show --json``, field ``public_key``)::

    convenant.example.org/log+10ea314f+AX7V+oDUGCw6DTUaXqCucJrrDB+xpTap3sV9kXxjVM+I

Export (``convenant audit export --format json``)
-------------------------------------------------
::

    {"format": "convenant-log-v1",              optional; if present exactly this
     "origin": "convenant.example.org/log",     optional; if present, every checkpoint's origin
     "records": [                                every leaf of the tree, in leaf order
        {"leaf_index": 0, "leaf_hash": "<64 hex>",
         "seq": 1, "process": "krachtenbundeling", "trigger": "open_signing", ..., "data": {...},
         "prev_hash": "<64 hex>", "hash": "<64 hex>",
         "corrected_by": null, "notifications": [...], "confidential": false},     (annotations: NOT_COMMITTED)
        ...],
     "checkpoints": [                            at least one; the largest covers every record
        {"note": "<signed note text>", "size": 3, "root": "<64 hex>",            (size, root: optional copies)
         "tsa_token": "<base64>"}, ...]}                                          (optional, see below)

A record shown to a reader who may not see its content (Art. 5.9) carries ``"redacted": true``: its content
cannot be recomputed, so its ``leaf_hash`` is taken as given (the tree and checkpoints still bind it) and the
verdict lists it as not checked. ``corrected_by``, if not null, must name a record whose ``corrects`` is this one,
and a corrected record must say by whom.

Receipt (``convenant audit receipt SEQ``)
-----------------------------------------
::

    {"format": "convenant-receipt-v1",          optional; if present exactly this
     "record": {...the record as in the export...},
     "leaf_index": 41, "leaf_hash": "<64 hex>",  (leaf_hash optional: recomputed from the record)
     "tree_size": 57,                            optional; if present, the checkpoint's size
     "inclusion_proof": ["<64 hex>", ...],       RFC 9162 §2.1.3.1 PATH(leaf_index, D[tree_size])
     "checkpoint": "<signed note text>",
     "tsa_token": "<base64>"}                    optional: the checkpoint's RFC 3161 time-stamp

Consistency proof (``convenant audit consistency --from SIZE1 --to SIZE2``)
---------------------------------------------------------------------------
::

    {"from": 10, "to": 57,                       optional; if present, the sizes of the two checkpoints
     "proof": ["<64 hex>", ...]}                 RFC 9162 §2.1.4.1 PROOF(from, D[to])

Trusted time (optional): a ``tsa_token`` is the base64 DER ``TimeStampResponse`` of an RFC 3161 time-stamping
authority over the checkpoint's whole signed note (SHA-256 message imprint). It must stamp exactly that note; with
``--tsa-cert CA.pem`` the authority's signature and certificate chain are checked too. Checking a token needs the
package ``rfc3161-client``, imported only when a token is there.

A note file (``--checkpoint``, ``OLD_NOTE``, ``NEW_NOTE``) holds the note text - CRLF line ends, as mail programs
may save them, are read as LF - or the JSON of ``convenant audit checkpoint --json`` (field ``note``).
"""
from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

LOG_FORMAT = "convenant-log-v1"
RECEIPT_FORMAT = "convenant-receipt-v1"
NOT_COMMITTED = frozenset({"leaf_index", "leaf_hash", "corrected_by", "notifications", "confidential", "redacted"})
GENESIS = "0" * 64               # the prev_hash of the first record of a chain
SIG_ED25519 = 0x01               # signed-note signature type
TIME_PREFIX = "time "            # convenant's checkpoint extension line
MAX_SIGNATURES = 100             # signed-note: verifiers must accept at least 16


class BadInput(Exception):
    """Input that cannot be read as what it should be (exit 2)."""


class Invalid(Exception):
    """Input that was read, and is not valid (exit 3)."""


# -- Merkle tree (RFC 9162 §2.1) --------------------------------------------------------------------------
def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


class TreeBuilder:
    """Appends leaf hashes and gives the root hash of the tree so far, keeping only the roots of its complete
    subtrees (at most log2(n) of them, largest first)."""

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[bytes] = []

    def append(self, leaf: bytes) -> None:
        self._stack.append(leaf)
        self.size += 1
        n = self.size
        while n % 2 == 0:                    # each trailing zero bit of the size completes one subtree
            right, left = self._stack.pop(), self._stack.pop()
            self._stack.append(node_hash(left, right))
            n //= 2

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        result = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            result = node_hash(left, result)
        return result


def tree_head(leaf_hashes: Iterable[bytes]) -> bytes:
    """The root hash (RFC 9162 MTH) of the tree with these leaf hashes."""
    tree = TreeBuilder()
    for leaf in leaf_hashes:
        tree.append(leaf)
    return tree.root()


def _shift_while_even(fn: int, sn: int) -> tuple[int, int]:
    while fn and not fn & 1:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """RFC 9162 §2.1.3.2: raise Invalid unless `proof` shows the leaf at `index` in the tree (`size`, `root`)."""
    if not 0 <= index < size:
        raise Invalid(f"leaf index {index} is outside a tree of {size} leaves")
    fn, sn, r = index, size - 1, leaf
    for step, p in enumerate(proof, 1):
        if sn == 0:
            raise Invalid(f"the inclusion proof is too long (step {step} of {len(proof)} is one too many)")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            fn, sn = _shift_while_even(fn, sn)
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise Invalid(f"the inclusion proof is too short ({len(proof)} steps)")
    if r != root:
        raise Invalid("the inclusion proof does not lead to the checkpoint's root hash")


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """RFC 9162 §2.1.4.2: raise Invalid unless `proof` shows the tree (size1, root1) is a prefix of
    (size2, root2). Equal sizes need equal roots and an empty proof; every tree extends the empty one."""
    if not 0 <= size1 <= size2:
        raise Invalid(f"the older checkpoint has {size1} leaves, more than the newer one's {size2}: the log shrank")
    if size1 == size2 or size1 == 0:
        if proof:
            raise Invalid(f"a consistency proof from size {size1} to {size2} must be empty")
        expected = root2 if size1 == size2 else EMPTY_ROOT
        if root1 != expected:
            raise Invalid(f"the two checkpoints of size {size1} have different root hashes: the log was rewritten")
        return
    if not proof:
        raise Invalid("the consistency proof is empty")
    path = [root1, *proof] if size1 & (size1 - 1) == 0 else list(proof)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for step, c in enumerate(path[1:], 1):
        if sn == 0:
            raise Invalid(f"the consistency proof is too long (step {step} is one too many)")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            fn, sn = _shift_while_even(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise Invalid(f"the consistency proof is too short ({len(proof)} steps)")
    if fr != root1 or sr != root2:
        raise Invalid(f"the proof does not show that the log at size {size2} extends the log at size {size1}: "
                      f"the first {size1} records were rewritten, or the proof is wrong")


# -- records ----------------------------------------------------------------------------------------------
def canonical_json(value: Any) -> bytes:
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as e:        # NaN, a lone surrogate, a value JSON does not have
        raise BadInput(f"not serialisable as canonical JSON ({e})") from None


def record_leaf_input(record: Mapping[str, Any]) -> bytes:
    """The bytes a record's leaf commits to: its canonical JSON without the NOT_COMMITTED annotations."""
    return canonical_json({k: v for k, v in record.items() if k not in NOT_COMMITTED})


def record_leaf_hash(record: Mapping[str, Any]) -> bytes:
    return leaf_hash(record_leaf_input(record))


# -- signed notes (C2SP signed-note, Ed25519) -------------------------------------------------------------
def check_key_name(name: str) -> None:
    if not name or "+" in name or any(ch.isspace() for ch in name):
        raise BadInput(f"key name {name!r}: must be non-empty, without spaces or '+'")


def key_id(name: str, public_key: bytes) -> int:
    """SHA-256(name || 0x0A || 0x01 || public key)[:4] as a big-endian number."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([SIG_ED25519]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise BadInput(f"{what}: not base64") from None


@dataclass(frozen=True)
class VerifierKey:
    name: str
    key_id: int
    public_key: bytes            # 32 bytes, RFC 8032

    def text(self) -> str:
        return f"{self.name}+{self.key_id:08x}+" + base64.b64encode(bytes([SIG_ED25519]) + self.public_key).decode()

    def verifies(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


def parse_vkey(text: str) -> VerifierKey:
    """A signed-note verifier key `name+hash+base64(0x01||key)`; BadInput if it is not one."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise BadInput("not a verifier key (name+keyid+base64 key)")
    name, hex_id, b64 = parts
    check_key_name(name)
    if len(hex_id) != 8 or any(c not in "0123456789abcdef" for c in hex_id):
        raise BadInput(f"verifier key id {hex_id!r}: not 8 lowercase hex digits")
    raw = _b64(b64, "verifier key")
    if len(raw) != 33 or raw[0] != SIG_ED25519:
        raise BadInput("verifier key: not an Ed25519 key (0x01 and 32 bytes)")
    if key_id(name, raw[1:]) != int(hex_id, 16):
        raise BadInput(f"verifier key id {hex_id} does not belong to this name and key")
    return VerifierKey(name, int(hex_id, 16), raw[1:])


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: int
    signature: bytes


def parse_note(note: str) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its text (with its final newline) and its signature lines."""
    if any(ord(ch) < 0x20 and ch != "\n" for ch in note):
        raise BadInput("a signed note may hold no control characters but newlines")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise BadInput("not a signed note (text, a blank line, signature lines, each ending in a newline)")
    text, lines = note[:cut + 1], note[cut + 2:].split("\n")[:-1]
    if not lines:
        raise BadInput("the note has no signature lines")
    if len(lines) > MAX_SIGNATURES:
        raise BadInput(f"the note has more than {MAX_SIGNATURES} signatures")
    signatures = []
    for number, line in enumerate(lines, 1):
        name, _, b64 = line.removeprefix("— ").partition(" ")
        if not line.startswith("— ") or not name or not b64:
            raise BadInput(f"signature line {number}: not '— <key name> <base64 signature>'")
        raw = _b64(b64, f"signature line {number}")
        if len(raw) < 5:
            raise BadInput(f"signature line {number}: too short for a key ID and a signature")
        signatures.append(NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:]))
    return text, signatures


def open_note(note: str, key: VerifierKey) -> str:
    """The note's text, once a signature by `key` verifies. Other keys' signatures are ignored (C2SP)."""
    text, signatures = parse_note(note)
    mine = [s for s in signatures if s.name == key.name and s.key_id == key.key_id]
    if not mine:
        others = ", ".join(f"{s.name}+{s.key_id:08x}" for s in signatures)
        raise Invalid(f"not signed by the published key {key.name}+{key.key_id:08x} (signed by: {others})")
    for sig in mine:
        if not key.verifies(text.encode("utf-8"), sig.signature):
            raise Invalid(f"the signature by {key.name}+{key.key_id:08x} does not verify: the note was changed")
    return text


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    @property
    def time(self) -> str | None:
        return next((e[len(TIME_PREFIX):] for e in self.extensions if e.startswith(TIME_PREFIX)), None)


def parse_checkpoint(text: str) -> Checkpoint:
    """A C2SP tlog-checkpoint note text: origin, tree size, base64 root hash, optional extension lines."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
        raise BadInput("not a checkpoint (origin, size and root hash lines, then any extension lines)")
    origin, size, root, *extensions = lines[:-1]
    if not size.isascii() or not size.isdigit() or (size.startswith("0") and size != "0"):
        raise BadInput(f"checkpoint size {size!r}: not a decimal number without leading zeros")
    raw_root = _b64(root, "checkpoint root hash")
    if len(raw_root) != 32:
        raise BadInput("checkpoint root hash: not 32 bytes")
    return Checkpoint(origin, int(size), raw_root, tuple(extensions))


def verify_checkpoint(note: str, key: VerifierKey) -> Checkpoint:
    return parse_checkpoint(open_note(note, key))


def checkpoint_text(cp: Checkpoint) -> str:
    """The note text of a checkpoint (what is signed)."""
    lines = [cp.origin, str(cp.size), base64.b64encode(cp.root).decode(), *cp.extensions]
    return "\n".join(lines) + "\n"


# -- trusted time (RFC 3161), optional ---------------------------------------------------------------------
SHA256_OID = "2.16.840.1.101.3.4.2.1"


def verify_timestamp(token: str, note: str, roots: Sequence[bytes] = (), what: str = "tsa_token") -> str:
    """An RFC 3161 time-stamp token (base64 of the DER TimeStampResponse) kept with a checkpoint: it must stamp
    exactly this signed note (its SHA-256 message imprint). With `roots` (the time-stamping authority's CA
    certificates, PEM or DER) the authority's signature and certificate chain are checked too. Returns the
    stamped time (genTime, ISO 8601). Needs the package rfc3161-client, imported only here."""
    try:
        import rfc3161_client
    except ImportError:
        raise BadInput(f"{what}: checking an RFC 3161 token needs the package rfc3161-client") from None
    raw = _b64(token, what)
    try:
        response = rfc3161_client.decode_timestamp_response(raw)
        info = response.tst_info
        imprint = info.message_imprint
    except Exception as e:          # the library's parse errors have no common base class
        raise BadInput(f"{what}: not an RFC 3161 time-stamp response ({e})") from None
    if response.status not in (0, 1):
        raise Invalid(f"{what}: the time-stamping authority did not grant it (status {response.status})")
    if imprint.hash_algorithm.dotted_string != SHA256_OID:
        raise Invalid(f"{what}: it stamps a digest other than SHA-256 ({imprint.hash_algorithm.dotted_string})")
    if imprint.message != hashlib.sha256(note.encode("utf-8")).digest():
        raise Invalid(f"{what}: it stamps another text than this checkpoint (a token of another checkpoint)")
    if roots:
        from cryptography import x509
        certs = [x509.load_pem_x509_certificate(r) if r.lstrip().startswith(b"-----") else
                 x509.load_der_x509_certificate(r) for r in roots]
        builder = rfc3161_client.VerifierBuilder()
        for cert in certs:
            builder = builder.add_root_certificate(cert)
        try:
            builder.build().verify_message(response, note.encode("utf-8"))
        except rfc3161_client.VerificationError as e:
            raise Invalid(f"{what}: the time-stamping authority's signature does not verify ({e})") from None
    return info.gen_time.isoformat()


# -- reading the JSON documents ---------------------------------------------------------------------------
def _get(obj: Mapping[str, Any], key: str, kind: type, where: str, required: bool = True) -> Any:
    if key not in obj:
        if required:
            raise BadInput(f"{where}.{key}: missing")
        return None
    value = obj[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise BadInput(f"{where}.{key}: expected {kind.__name__}, found {type(value).__name__}")
    return value


def _hex32(value: Any, where: str) -> bytes:
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value):
        return bytes.fromhex(value)
    raise BadInput(f"{where}: not a SHA-256 hash (64 hex digits)")


def _object(doc: Any, where: str, fmt: str | None = None) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise BadInput(f"{where}: expected a JSON object")
    if fmt is not None and doc.get("format", fmt) != fmt:
        raise BadInput(f"{where}.format: {doc['format']!r} is not {fmt!r}")
    return doc


def _hashes(obj: dict[str, Any], key: str, where: str) -> list[bytes]:
    return [_hex32(h, f"{where}.{key}[{i}]") for i, h in enumerate(_get(obj, key, list, where))]


def _leaf_of(record: dict[str, Any], where: str) -> bytes:
    try:
        return record_leaf_hash(record)
    except BadInput as e:
        raise BadInput(f"{where}: {e}") from None


# -- the three checks -------------------------------------------------------------------------------------
@dataclass
class _Mark:                     # a checkpoint to compare the rebuilt tree with
    label: str
    cp: Checkpoint


def _export_checkpoints(doc: dict[str, Any], key: VerifierKey, where: str, tsa_roots: Sequence[bytes] = (),
                        marks_stamped: list[tuple[int, str]] | None = None) -> list[_Mark]:
    marks = []
    marks_stamped = [] if marks_stamped is None else marks_stamped
    for i, entry in enumerate(_get(doc, "checkpoints", list, where)):
        label = f"{where}.checkpoints[{i}]"
        entry = _object(entry, label)
        note = _get(entry, "note", str, label)
        try:
            cp = verify_checkpoint(note, key)
        except Invalid as e:
            raise Invalid(f"checkpoint {label}: {e}") from None
        except BadInput as e:
            raise BadInput(f"{label}.note: {e}") from None
        size, root = _get(entry, "size", int, label, False), entry.get("root")
        if (size is not None and size != cp.size) or (root is not None and _hex32(root, f"{label}.root") != cp.root):
            raise Invalid(f"checkpoint {label}: its size or root field differs from its signed note")
        token = _get(entry, "tsa_token", str, label, False)
        if token is not None:
            stamped = verify_timestamp(token, note, tsa_roots, f"{label}.tsa_token")
            marks_stamped.append((cp.size, stamped))
        marks.append(_Mark(f"checkpoint {label} (size {cp.size})", cp))
    if not marks:
        raise Invalid(f"{where}: the export holds no signed checkpoint")
    return marks


def _kept_checkpoints(kept: Sequence[tuple[str, str]], key: VerifierKey) -> list[_Mark]:
    marks = []
    for label, note in kept:
        try:
            cp = verify_checkpoint(note, key)
        except Invalid as e:
            raise Invalid(f"your checkpoint {label}: {e}") from None
        except BadInput as e:
            raise BadInput(f"{label}: {e}") from None
        marks.append(_Mark(f"your checkpoint {label} (size {cp.size})", cp))
    return marks


class _Walk:
    """Rebuilds the tree record by record, checking each record and every checkpoint as its size is reached."""

    def __init__(self, marks: list[_Mark]) -> None:
        self.pending = sorted(marks, key=lambda m: m.cp.size)
        self.tree = TreeBuilder()
        self.records: list[dict[str, Any]] = []
        self.redacted: list[int] = []
        self.seqs: set[int] = set()
        self.matched, self.matched_label = 0, ""     # the largest checkpoint that matched so far
        self.hashes: dict[str, int] = {}    # chain hash -> seq
        self.successor: dict[str, int] = {}  # prev_hash -> seq of the record that follows it

    def reach(self) -> None:
        while self.pending and self.pending[0].cp.size == self.tree.size:
            mark = self.pending.pop(0)
            if mark.cp.root != self.tree.root():
                if not self.records:
                    raise Invalid(f"{mark.label} does not match an empty log")
                since = f"; the first {self.matched} match {self.matched_label}" if self.matched else ""
                raise Invalid(f"{mark.label} does not match the records: of the first {self.tree.size} (up to seq "
                              f"{self.records[-1]['seq']}) one was changed, removed, inserted or moved{since}")
            self.matched, self.matched_label = self.tree.size, mark.label

    def add(self, record: dict[str, Any], label: str) -> None:
        index = self.tree.size
        seq = _get(record, "seq", int, label)
        name = f"record seq {seq} (leaf {index})"
        if _get(record, "leaf_index", int, label) != index:
            raise Invalid(f"{name}: it says leaf index {record['leaf_index']}: records were removed, inserted or "
                          f"moved")
        given = _hex32(_get(record, "leaf_hash", str, label), f"{label}.leaf_hash")
        prev, own = (_get(record, k, str, label) for k in ("prev_hash", "hash"))
        if record.get("redacted") is True:
            self.redacted.append(seq)
        elif _leaf_of(record, label) != given:
            raise Invalid(f"{name}: its content does not match its leaf hash (the record was changed)")
        if seq in self.seqs:
            raise Invalid(f"{name}: seq {seq} is in the log twice")
        self.seqs.add(seq)
        if prev != GENESIS:
            if prev not in self.hashes:
                raise Invalid(f"{name}: its prev_hash names no earlier record: a record was removed or moved")
            if prev in self.successor:
                raise Invalid(f"{name}: record seq {self.hashes[prev]} already has a successor "
                              f"(seq {self.successor[prev]}) in its chain")
            self.successor[prev] = seq
        self.hashes[own] = seq
        self.tree.append(given)
        self.records.append(record)


@dataclass
class LogReport:
    records: int
    root: bytes
    checkpoints: int
    kept: int
    redacted: list[int]
    latest: Checkpoint
    stamped: list[tuple[int, str]] = field(default_factory=list)    # (size, time) of time-stamped checkpoints


def _check_corrections(records: list[dict[str, Any]]) -> None:
    """`corrected_by` is not committed (it is set later): it must agree with the committed `corrects`."""
    by_seq = {r["seq"]: r for r in records}
    correctors: dict[Any, list[Any]] = {}
    for r in records:
        if r.get("corrects") is not None:
            correctors.setdefault(r["corrects"], []).append(r["seq"])
    for r in records:
        if "corrected_by" not in r:
            continue
        by, name = r["corrected_by"], f"record seq {r['seq']}"
        if by is not None and (by not in by_seq or by_seq[by].get("corrects") != r["seq"]):
            raise Invalid(f"{name}: corrected_by names seq {by}, which does not correct it")
        if by is None and r["seq"] in correctors:
            raise Invalid(f"{name}: it is corrected by seq {correctors[r['seq']][0]} but says it is not")


def verify_log(doc: Any, key: VerifierKey, kept: Sequence[tuple[str, str]] = (), where: str = "export",
               tsa_roots: Sequence[bytes] = ()) -> LogReport:
    """Check an exported log (see the module docstring) against the key and the checkpoints kept from earlier
    (label, note text); each checkpoint's RFC 3161 token, where it has one, must stamp it (and, with `tsa_roots`,
    be signed by that authority). Raise Invalid naming the first bad record or checkpoint."""
    doc = _object(doc, where, LOG_FORMAT)
    entries = _get(doc, "records", list, where)
    stamped: list[tuple[int, str]] = []
    ours, theirs = _export_checkpoints(doc, key, where, tsa_roots, stamped), _kept_checkpoints(kept, key)
    origin = _get(doc, "origin", str, where, False) or ours[0].cp.origin
    for mark in ours + theirs:
        if mark.cp.origin != origin:
            raise Invalid(f"{mark.label} is of another log ({mark.cp.origin!r}, not {origin!r})")
    walk = _Walk(ours + theirs)
    walk.reach()
    for i, entry in enumerate(entries):
        label = f"{where}.records[{i}]"
        walk.add(_object(entry, label), label)
        walk.reach()
    size = walk.tree.size
    if walk.pending:
        mark = walk.pending[0]
        raise Invalid(f"{mark.label} covers {mark.cp.size} records but the log holds {size}: records at the end "
                      f"were removed (or this export is older than that checkpoint)")
    latest = max((m.cp for m in ours), key=lambda cp: cp.size)
    if latest.size < size:
        raise Invalid(f"records from leaf {latest.size} on (seq {walk.records[latest.size]['seq']}) are covered by "
                      f"no signed checkpoint")
    _check_corrections(walk.records)
    return LogReport(size, walk.tree.root(), len(ours), len(theirs), walk.redacted, latest, stamped)


def verify_receipt(doc: Any, key: VerifierKey, where: str = "receipt", tsa_roots: Sequence[bytes] = ()
                   ) -> tuple[dict[str, Any], Checkpoint]:
    """Check a receipt (see the module docstring): the record, at its leaf index, in the signed checkpoint (and
    the checkpoint's RFC 3161 token, where the receipt carries one)."""
    doc = _object(doc, where, RECEIPT_FORMAT)
    record = _object(_get(doc, "record", dict, where), f"{where}.record")
    index = _get(doc, "leaf_index", int, where)
    proof = _hashes(doc, "inclusion_proof", where)
    note = _get(doc, "checkpoint", str, where)
    given = doc.get("leaf_hash")
    given_hash = None if given is None else _hex32(given, f"{where}.leaf_hash")
    tree_size = _get(doc, "tree_size", int, where, False)
    try:
        cp = verify_checkpoint(note, key)
    except Invalid as e:
        raise Invalid(f"the receipt's checkpoint: {e}") from None
    name = f"record seq {record.get('seq')}"
    if record.get("redacted") is True:
        raise Invalid(f"{name}: the receipt holds a redacted record, whose content cannot be checked")
    leaf = _leaf_of(record, f"{where}.record")
    if given_hash is not None and given_hash != leaf:
        raise Invalid(f"{name}: its content does not match the receipt's leaf hash (the record was changed)")
    if tree_size is not None and tree_size != cp.size:
        raise Invalid(f"the receipt says tree size {tree_size} but its checkpoint is of size {cp.size}")
    try:
        verify_inclusion(leaf, index, cp.size, proof, cp.root)
    except Invalid as e:
        raise Invalid(f"{name} is not shown at leaf {index} of the checkpoint (size {cp.size}): {e}") from None
    token = _get(doc, "tsa_token", str, where, False)
    if token is not None:
        verify_timestamp(token, note, tsa_roots, f"{where}.tsa_token")
    return record, cp


def verify_consistency_proof(old_note: str, new_note: str, proof_doc: Any, key: VerifierKey,
                             labels: tuple[str, str, str] = ("old", "new", "proof")) -> tuple[Checkpoint, Checkpoint]:
    """Check that the checkpoint `new_note` extends `old_note`, given a consistency proof document."""
    cps = []
    for label, note in zip(labels, (old_note, new_note), strict=False):
        try:
            cps.append(verify_checkpoint(note, key))
        except Invalid as e:
            raise Invalid(f"checkpoint {label}: {e}") from None
        except BadInput as e:
            raise BadInput(f"{label}: {e}") from None
    old, new = cps
    doc = _object(proof_doc, labels[2])
    proof = _hashes(doc, "proof", labels[2])
    for name, cp in (("from", old), ("to", new)):
        size = _get(doc, name, int, labels[2], False)
        if size is not None and size != cp.size:
            raise Invalid(f"{labels[2]}.{name} is {size} but the checkpoint is of size {cp.size}")
    if old.origin != new.origin:
        raise Invalid(f"the checkpoints are of different logs ({old.origin!r}, {new.origin!r})")
    verify_consistency(old.size, new.size, proof, old.root, new.root)
    return old, new


# -- command line -----------------------------------------------------------------------------------------
def _read_text(path: str) -> str:
    try:
        return Path(path).read_bytes().decode("utf-8")
    except OSError as e:
        raise BadInput(f"{path}: cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not UTF-8 text") from None


def _read_note(path: str) -> str:
    """A note file: the note text (CRLF read as LF), or the JSON of `convenant audit checkpoint --json`."""
    text = _read_text(path)
    if text.lstrip().startswith("{"):
        note = _get(_object(_read_json(path), path), "note", str, path)
        return str(note)
    return text.replace("\r\n", "\n")


def _no_constant(name: str) -> Any:
    raise BadInput(f"{name} is not a JSON value")


def _read_json(path: str) -> Any:
    try:
        return json.loads(_read_text(path), parse_constant=_no_constant)
    except BadInput as e:
        raise BadInput(f"{path}: not JSON ({e})") from None
    except json.JSONDecodeError as e:
        raise BadInput(f"{path}: not JSON ({e.msg}, line {e.lineno} column {e.colno})") from None
    except RecursionError:
        raise BadInput(f"{path}: nested too deeply") from None


def load_key(arg: str) -> VerifierKey:
    """--key: the verifier key text, or a file holding it (or `convenant keys show --json`)."""
    text = _read_text(arg) if Path(arg).is_file() else arg
    try:
        if text.lstrip().startswith("{"):
            shown = json.loads(text)
            text = shown.get("public_key", "") if isinstance(shown, dict) else ""
        return parse_vkey(text)
    except (BadInput, json.JSONDecodeError) as e:
        raise BadInput(f"--key: {e}") from None


def _hex(h: bytes) -> str:
    return h.hex()[:16] + "…"


def _tsa_roots(args: argparse.Namespace) -> list[bytes]:
    out = []
    for path in args.tsa_cert:
        try:
            out.append(Path(path).read_bytes())
        except OSError as e:
            raise BadInput(f"{path}: cannot read: {e.strerror or e}") from None
    return out


def _cmd_log(args: argparse.Namespace, key: VerifierKey) -> str:
    kept = [(path, _read_note(path)) for path in args.checkpoint]
    report = verify_log(_read_json(args.file), key, kept, where=args.file, tsa_roots=_tsa_roots(args))
    lines = [f"valid: {report.records} records, root {_hex(report.root)}; {report.checkpoints} checkpoints of the "
             f"export verify (latest: size {report.latest.size}, {report.latest.time or 'no time'}); "
             f"{report.kept} kept checkpoints are prefixes of this log"]
    if report.stamped:
        checked = "signature checked" if args.tsa_cert else "authority's signature not checked without --tsa-cert"
        lines.append(f"{len(report.stamped)} checkpoints carry an RFC 3161 time-stamp of their own text ({checked}); "
                     f"the latest: size {report.stamped[-1][0]} at {report.stamped[-1][1]}")
    if report.redacted:
        lines.append(f"not checked (redacted for this reader, bound only by their leaf hash): seq "
                     f"{', '.join(map(str, report.redacted))}")
    return "\n".join(lines)


def _cmd_receipt(args: argparse.Namespace, key: VerifierKey) -> str:
    record, cp = verify_receipt(_read_json(args.file), key, where=args.file, tsa_roots=_tsa_roots(args))
    return (f"valid: record seq {record.get('seq')} ({record.get('process')} {record.get('trigger')}) is in the log "
            f"{cp.origin} at size {cp.size} ({cp.time or 'no time'})")


def _cmd_consistency(args: argparse.Namespace, key: VerifierKey) -> str:
    old, new = verify_consistency_proof(_read_note(args.old), _read_note(args.new), _read_json(args.proof), key,
                                        (args.old, args.new, args.proof))
    return f"valid: the log at size {new.size} extends the log at size {old.size} ({old.origin})"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="convenant-verify", description="Check a convenant log offline against "
                                     "its published public key. Exit 0 valid, 3 not valid, 2 bad input.")
    sub = parser.add_subparsers(dest="command", required=True)
    log = sub.add_parser("log", help="an exported log (convenant audit export --format json)")
    log.add_argument("file")
    log.add_argument("--checkpoint", action="append", default=[], metavar="NOTE_FILE",
                     help="a checkpoint kept from earlier (e.g. a mail's checkpoint.txt); repeatable")
    log.set_defaults(run=_cmd_log)
    receipt = sub.add_parser("receipt", help="a receipt for one record (convenant audit receipt SEQ)")
    receipt.add_argument("file")
    receipt.set_defaults(run=_cmd_receipt)
    cons = sub.add_parser("consistency", help="a newer checkpoint extends an older one")
    cons.add_argument("old", metavar="OLD_NOTE")
    cons.add_argument("new", metavar="NEW_NOTE")
    cons.add_argument("--proof", required=True, metavar="FILE", help="convenant audit consistency --json output")
    cons.set_defaults(run=_cmd_consistency)
    for p in (log, receipt, cons):
        p.add_argument("--key", required=True, metavar="PUBKEY", help="the verifier key, or a file holding it")
    for p in (log, receipt):
        p.add_argument("--tsa-cert", action="append", default=[], metavar="PEM_FILE",
                       help="the RFC 3161 time-stamping authority's CA certificate: its tokens' signatures are "
                            "checked too (repeatable)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        print(args.run(args, load_key(args.key)))
    except BadInput as e:
        print(f"convenant-verify: bad input: {e}", file=sys.stderr)
        return 2
    except Invalid as e:
        print(f"convenant-verify: NOT VALID: {e}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
