"""C2SP signed notes and tlog checkpoints: engine/signing.py signs, convenant/verify.py verifies.

The fixed vector is the example key and note of the Go reference implementation (golang.org/x/mod/sumdb/note):
Ed25519 is deterministic, so signing its text with its key must give its note byte for byte."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from convenant import verify
from convenant.engine import signing
from convenant.verify import BadInput, Checkpoint, Invalid

GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = GO_TEXT + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"

ORIGIN = "gemeente.example.org/convenant"
ROOT = hashlib.sha256(b"some root").digest()


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def test_the_go_reference_vector():
    vk = verify.parse_vkey(GO_VKEY)
    assert (vk.name, vk.key_id) == ("PeterNeumann", 0xC74F20A3)
    assert vk.text() == GO_VKEY
    assert verify.key_id("PeterNeumann", vk.public_key) == 0xC74F20A3
    assert verify.open_note(GO_NOTE, vk) == GO_TEXT
    name, private = signing.parse_signer_key(GO_SKEY)
    assert name == "PeterNeumann"
    assert signing.vkey(name, private) == GO_VKEY
    assert signing.signer_key(name, private) == GO_SKEY
    assert signing.sign_note(GO_TEXT, name, private) == GO_NOTE
    with pytest.raises(Invalid, match="was changed"):
        verify.open_note(GO_NOTE.replace("cryptography", "cryptographY"), vk)


def test_key_id_and_vkey_follow_the_spec(key):
    raw = key.public_key().public_bytes_raw()
    expected_id = int.from_bytes(hashlib.sha256(ORIGIN.encode() + b"\n\x01" + raw).digest()[:4], "big")
    assert verify.key_id(ORIGIN, raw) == expected_id
    text = signing.vkey(ORIGIN, key)
    name, hex_id, b64 = text.split("+", 2)
    assert (name, hex_id) == (ORIGIN, f"{expected_id:08x}")
    assert re.fullmatch(r"[0-9a-f]{8}", hex_id)
    assert base64.b64decode(b64) == b"\x01" + raw
    assert verify.parse_vkey(text) == signing.verifier_key(ORIGIN, key)
    assert verify.parse_vkey(text + "\n") == verify.parse_vkey(text)    # a key file's final newline


def test_checkpoint_round_trip(key):
    when = dt.datetime(2025, 3, 21, 9, 30, tzinfo=dt.UTC)
    note = signing.sign_checkpoint(key, ORIGIN, 12, ROOT, when)
    body, signatures = verify.parse_note(note)
    assert body == f"{ORIGIN}\n12\n{base64.b64encode(ROOT).decode()}\ntime 2025-03-21T09:30:00+00:00\n"
    assert note == body + f"\n— {ORIGIN} " + note.rsplit(" ", 1)[1]
    assert [(s.name, s.key_id, len(s.signature)) for s in signatures] == \
        [(ORIGIN, signing.verifier_key(ORIGIN, key).key_id, 64)]
    cp = verify.verify_checkpoint(note, verify.parse_vkey(signing.vkey(ORIGIN, key)))
    assert cp == Checkpoint(ORIGIN, 12, ROOT, ("time 2025-03-21T09:30:00+00:00",))
    assert cp.time == "2025-03-21T09:30:00+00:00"
    assert verify.checkpoint_text(cp) == body
    plain = verify.verify_checkpoint(signing.sign_checkpoint(key, ORIGIN, 0, verify.EMPTY_ROOT),
                                     signing.verifier_key(ORIGIN, key))
    assert (plain.size, plain.extensions, plain.time) == (0, (), None)


def test_a_note_signed_by_another_key_is_refused(key):
    published = signing.verifier_key(ORIGIN, key)
    other = Ed25519PrivateKey.generate()
    forged = signing.sign_checkpoint(other, ORIGIN, 12, ROOT)             # same name, another key: another id
    with pytest.raises(Invalid, match="not signed by the published key"):
        verify.verify_checkpoint(forged, published)
    # another key under the published key's name *and* id (a colliding id): the signature must verify
    text = verify.parse_note(forged)[0]
    blob = base64.b64encode(published.key_id.to_bytes(4, "big") + other.sign(text.encode())).decode()
    with pytest.raises(Invalid, match="does not verify"):
        verify.verify_checkpoint(f"{text}\n— {ORIGIN} {blob}\n", published)


def test_a_changed_body_or_signature_is_refused(key):
    published = signing.verifier_key(ORIGIN, key)
    note = signing.sign_checkpoint(key, ORIGIN, 12, ROOT)
    with pytest.raises(Invalid):
        verify.verify_checkpoint(note.replace("\n12\n", "\n13\n"), published)
    other_root = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    with pytest.raises(Invalid):
        verify.verify_checkpoint(note.replace(base64.b64encode(ROOT).decode(), other_root), published)
    with pytest.raises(Invalid):                                            # an extension line slipped in
        verify.verify_checkpoint(note.replace("\n\n", "\ntime 2030-01-01T00:00:00+00:00\n\n"), published)
    text, _ = verify.parse_note(note)
    raw = base64.b64decode(note.rsplit(" ", 1)[1])
    changed = raw[:10] + bytes([raw[10] ^ 0x40]) + raw[11:]
    with pytest.raises(Invalid, match="does not verify"):
        verify.verify_checkpoint(f"{text}\n— {ORIGIN} {base64.b64encode(changed).decode()}\n", published)


def test_other_signatures_are_ignored_but_a_bad_one_by_the_key_is_not(key):
    published = signing.verifier_key(ORIGIN, key)
    note = signing.sign_checkpoint(key, ORIGIN, 12, ROOT)
    witness = signing.sign_note(verify.parse_note(note)[0], "witness.example.org", Ed25519PrivateKey.generate())
    cosigned = note + witness.rsplit("\n\n", 1)[1]                          # a witness's cosignature appended
    assert len(verify.parse_note(cosigned)[1]) == 2
    assert verify.verify_checkpoint(cosigned, published).size == 12
    first_line = note.rsplit("\n\n", 1)[1]
    broken = first_line[:-6] + ("AAAA" if first_line[-6:-2] != "AAAA" else "BBBB") + first_line[-2:]
    with pytest.raises(Invalid):
        verify.verify_checkpoint(note + broken, published)                  # a second, failing line of the key


def test_the_spec_example_structure():
    example = ("example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
               "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9"
               "nTo+zyWE+xeMcTOAYQ8=\n")
    text, signatures = verify.parse_note(example)
    cp = verify.parse_checkpoint(text)
    assert (cp.origin, cp.size, cp.root.hex()[:8], cp.extensions) == \
        ("example.com/behind-the-sofa", 20852163, "0ac5186a", ())
    assert signatures[0].name == "example.com/behind-the-sofa" and len(signatures[0].signature) == 64
    # a note with an empty line inside its text: the last blank line separates the signatures
    text, signatures = verify.parse_note("line one\n\nline three\n\n— k AAAAAAA=\n")
    assert text == "line one\n\nline three\n" and signatures[0].name == "k"


def test_the_example_in_the_verifier_docstring_verifies():
    doc = verify.__doc__ or ""
    vkey_text = re.search(r"^ {4}(convenant\.example\.org/log\+\S+)$", doc, re.M)
    note = re.search(r"^ {4}(convenant\.example\.org/log\n(?: {4}.*\n)+?\n {4}— .*\n)", doc, re.M)
    assert vkey_text and note
    cp = verify.verify_checkpoint(note.group(1).replace("\n    ", "\n"), verify.parse_vkey(vkey_text.group(1)))
    leaves = [verify.leaf_hash(f"example record {i}".encode()) for i in (1, 2, 3)]
    assert (cp.size, cp.root, cp.time) == (3, verify.tree_head(leaves), "2025-03-21T09:00:00+00:00")


@pytest.mark.parametrize("note", [
    "",
    "no blank line\n— k AAAAAAA=\n",
    "text\n\n",                                      # no signature lines
    "text\n\n— k AAAAAAA=",                          # no final newline
    "text\n\n- k AAAAAAA=\n",                        # a hyphen, not an em dash
    "text\n\n— k\n",                                 # no signature
    "text\n\n— k not*base64\n",
    "text\n\n— k AAAA\n",                            # shorter than a key id and a signature
    "text\twith a tab\n\n— k AAAAAAA=\n",
    "text\n\n" + "— k AAAAAAA=\n" * 101,            # more signatures than any verifier need accept
])
def test_malformed_notes_are_bad_input(note):
    with pytest.raises(BadInput):
        verify.parse_note(note)


@pytest.mark.parametrize("text", [
    "origin\n12\n",                                  # no root line
    "origin\n012\n" + base64.b64encode(ROOT).decode() + "\n",
    "origin\n-1\n" + base64.b64encode(ROOT).decode() + "\n",
    "origin\n１２\n" + base64.b64encode(ROOT).decode() + "\n",    # fullwidth digits
    "origin\n12\n" + base64.b64encode(ROOT[:31]).decode() + "\n",
    "origin\n12\n" + base64.b64encode(ROOT).decode() + "\n\nextension after an empty line\n",
    "\n12\n" + base64.b64encode(ROOT).decode() + "\n",
    "origin\n12\n" + base64.b64encode(ROOT).decode(),           # no final newline
])
def test_malformed_checkpoints_are_bad_input(text):
    with pytest.raises(BadInput):
        verify.parse_checkpoint(text)


def test_malformed_verifier_keys_are_bad_input():
    for bad in ["", "PeterNeumann", "PeterNeumann+c74f20a3", GO_VKEY.replace("c74f20a3", "c74f20a4"),
                GO_VKEY.replace("c74f20a3", "C74F20A3"), GO_VKEY.replace("+AR", "+Ah"), GO_VKEY[:-4],
                "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", GO_SKEY]:
        with pytest.raises(BadInput):
            verify.parse_vkey(bad)
    for i in range(len(GO_VKEY)):                    # every single-character change is caught
        changed = GO_VKEY[:i] + ("x" if GO_VKEY[i] != "x" else "y") + GO_VKEY[i + 1:]
        with pytest.raises(BadInput):
            verify.parse_vkey(changed)


def test_signing_refuses_what_would_not_verify(key):
    for name in ("", "with space", "with+plus"):
        with pytest.raises(BadInput):
            signing.vkey(name, key)
    with pytest.raises(ValueError):
        signing.sign_note("no final newline", ORIGIN, key)
    with pytest.raises(ValueError):
        signing.sign_note("a\x07bell\n", ORIGIN, key)
    with pytest.raises(ValueError):
        signing.checkpoint_body(ORIGIN, 1, ROOT[:31])
    with pytest.raises(ValueError):
        signing.checkpoint_body("two\nlines", 1, ROOT)
    with pytest.raises(ValueError):
        signing.checkpoint_body(ORIGIN, -1, ROOT)
    with pytest.raises(ValueError):
        signing.checkpoint_body(ORIGIN, 1, ROOT, dt.datetime(2025, 1, 1))          # no UTC offset
    with pytest.raises(ValueError):
        signing.checkpoint_body(ORIGIN, 1, ROOT, extensions=[""])
    for bad in ("", GO_VKEY, "PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
                "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEK", "PRIVATE+KEY+PeterNeumann"):
        with pytest.raises(BadInput):
            signing.parse_signer_key(bad)
    name, private = signing.parse_signer_key(signing.signer_key(ORIGIN, key))
    assert name == ORIGIN and signing.vkey(name, private) == signing.vkey(ORIGIN, key)
