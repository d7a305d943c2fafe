"""Signing the log's checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes, with Ed25519.

Pure: keys come in as `cryptography` key objects or as text, and nothing is read or written here (where the key
file lives is the caller's business). The formats, the key ID and the verification are those of the independent
verifier, convenant/verify.py, so what is signed here is what an auditor checks there.

Key texts (the golang.org/x/mod/sumdb/note encodings, which C2SP signed-note tools share):
- verifier key, for publication: `<name>+<key ID as 8 hex digits>+base64(0x01 || 32-byte public key)`;
- signer key, for the private key file: `PRIVATE+KEY+<name>+<key ID>+base64(0x01 || 32-byte seed)`.
"""
from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from convenant.verify import (
    SIG_ED25519,
    TIME_PREFIX,
    BadInput,
    Checkpoint,
    VerifierKey,
    check_key_name,
    checkpoint_text,
    key_id,
    parse_checkpoint,
    parse_note,
)

SIGNER_PREFIX = "PRIVATE+KEY+"


def public_key_bytes(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes_raw()


def verifier_key(name: str, private_key: Ed25519PrivateKey) -> VerifierKey:
    check_key_name(name)
    raw = public_key_bytes(private_key)
    return VerifierKey(name, key_id(name, raw), raw)


def vkey(name: str, private_key: Ed25519PrivateKey) -> str:
    """The public key text to publish (`convenant keys show`, `convenant-verify --key`)."""
    return verifier_key(name, private_key).text()


def signer_key(name: str, private_key: Ed25519PrivateKey) -> str:
    """The private key as text, for the key file."""
    check_key_name(name)
    seed = private_key.private_bytes_raw()
    encoded = base64.b64encode(bytes([SIG_ED25519]) + seed).decode()
    return f"{SIGNER_PREFIX}{name}+{key_id(name, public_key_bytes(private_key)):08x}+{encoded}"


def parse_signer_key(text: str) -> tuple[str, Ed25519PrivateKey]:
    """(key name, private key) from a signer key text; BadInput (naming no secret) if it is not one."""
    text = text.strip()
    if not text.startswith(SIGNER_PREFIX):
        raise BadInput(f"not a signer key (it starts with {SIGNER_PREFIX!r})")
    parts = text[len(SIGNER_PREFIX):].split("+", 2)
    if len(parts) != 3:
        raise BadInput("not a signer key (PRIVATE+KEY+name+keyid+base64 key)")
    name, hex_id, encoded = parts
    check_key_name(name)
    try:
        raw = base64.b64decode(encoded, validate=True)
    except ValueError:
        raise BadInput("signer key: not base64") from None
    if len(raw) != 33 or raw[0] != SIG_ED25519:
        raise BadInput("signer key: not an Ed25519 key (0x01 and a 32-byte seed)")
    private_key = Ed25519PrivateKey.from_private_bytes(raw[1:])
    if hex_id != f"{key_id(name, public_key_bytes(private_key)):08x}":
        raise BadInput("signer key: its key ID does not belong to this name and key")
    return name, private_key


def checkpoint_body(origin: str, size: int, root: bytes, time: dt.datetime | None = None,
                    extensions: Sequence[str] = ()) -> str:
    """The note text of a checkpoint; `time` (timezone-aware) becomes the extension line `time <ISO 8601>`."""
    extra = list(extensions)
    if time is not None:
        if time.utcoffset() is None:
            raise ValueError("the checkpoint time needs a UTC offset")
        extra.insert(0, TIME_PREFIX + time.isoformat())
    if size < 0 or len(root) != 32 or not origin or "\n" in origin or any(not e or "\n" in e for e in extra):
        raise ValueError("a checkpoint needs an origin line, a size >= 0, a 32-byte root and one-line extensions")
    checkpoint = Checkpoint(origin, size, root, tuple(extra))
    text = checkpoint_text(checkpoint)
    try:
        if parse_checkpoint(text) == checkpoint:        # the verifier reads it back as written
            return text
    except BadInput:
        pass
    raise ValueError(f"the checkpoint would not read back as written: {text!r}")


def sign_note(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """A signed note: the text (ending in a newline), a blank line, one Ed25519 signature line."""
    key = verifier_key(name, private_key)
    if not text.endswith("\n") or any(ord(ch) < 0x20 and ch != "\n" for ch in text):
        raise ValueError("a note text ends in a newline and holds no control characters but newlines")
    signature = private_key.sign(text.encode("utf-8"))
    blob = base64.b64encode(key.key_id.to_bytes(4, "big") + signature).decode()
    note = f"{text}\n— {name} {blob}\n"
    if parse_note(note)[0] != text:     # a text ending in a blank line would be cut at the wrong place
        raise ValueError("the note text may not end in an empty line")
    return note


def sign_checkpoint(private_key: Ed25519PrivateKey, origin: str, size: int, root: bytes,
                    time: dt.datetime | None = None, name: str | None = None) -> str:
    """The signed checkpoint note; the key name is the origin unless given (C2SP: it SHOULD match)."""
    return sign_note(checkpoint_body(origin, size, root, time), name or origin, private_key)
