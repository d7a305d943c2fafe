"""The verifiable log, service side: the sequencer, the signing key, checkpoints, proofs, receipts, the export the
independent verifier reads (convenant/verify.py), the engine's own check of it (`audit verify`) and the parties as
witnesses (the latest checkpoint on every email, a receipt on a confirmation, the periodic checkpoint mail).

Every record a command writes is chained to its agreement's previous record in that command's transaction. Apart
from any command, the sequencer (`LogService.step`, run by the scheduler's runs and by `clock advance`) appends
the records committed since its last run, in seq order, as leaves of one append-only Merkle tree (RFC 9162) and,
when the tree grew, signs a checkpoint of it (C2SP tlog-checkpoint in a C2SP signed note, Ed25519) with the
installation's key. The key is a file outside the database (`[log] key_file`, by default beside config.toml),
created by `convenant keys create` or by the first checkpoint. With `[log] tsa_url` each checkpoint is also
stamped by an RFC 3161 time-stamping authority (engine/tsa.py).

Built on the ports alone (engine/ports.py: the unit of work's log methods and `Store.log_horizon`)."""
from __future__ import annotations

import base64
import bisect
import datetime as dt
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convenant.engine import merkle
from convenant.engine.clock import iso_moment, local_date
from convenant.engine.errors import BadInput, ConvenantError, NotAllowed, NotFound
from convenant.engine.model import Notification
from convenant.engine.signing import parse_signer_key, sign_checkpoint, signer_key, verifier_key
from convenant.verify import (
    LOG_FORMAT,
    RECEIPT_FORMAT,
    Invalid,
    TreeBuilder,
    VerifierKey,
    node_hash,
    record_leaf_hash,
    verify_checkpoint,
)
from convenant.verify import (
    BadInput as VerifyBadInput,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from convenant.engine.config import Settings
    from convenant.engine.ports import Store, SubjectRenderer, UnitOfWork

log = logging.getLogger(__name__)

PAGE = 1000
DEFAULT_ORIGIN = "convenant.local/log"
NEXT_MAIL = "log_checkpoint_mail_next"       # meta key: when the periodic checkpoint mail is due next
MAIL_REUSE = 50                              # mails that may share one reading of the latest checkpoint
LAST_RUN = "log_last_run"                    # meta key: when the scheduler or `clock advance` last ran (replay)


# The fields of a record as its leaf of the log commits to them (convenant/verify.py: the canonical JSON of the
# record as exported, less the annotations). Fixed here, not taken from the history's view, so that a field the
# view gains later does not change the leaves already in the log.
LEAF_FIELDS: tuple[str, ...] = ("seq", "process", "trigger", "source", "dest", "actor", "role", "party",
                                "effective", "recorded_at", "article", "ref", "reason", "hash")


def leaf_record(row: Any) -> dict[str, Any]:
    """A stored record row (its `data` the stored JSON text) as its leaf commits to it, and as `audit export` and
    receipts show it before the annotations (convenant/verify.py NOT_COMMITTED) are added: the fields of
    `history`, its data, the link of its agreement's chain (`prev_hash`) and the record it corrects."""
    out = {k: row[k] for k in LEAF_FIELDS}
    out["data"] = json.loads(row["data"]) if row["data"] else {}
    out["prev_hash"] = row["prev_hash"]
    out["corrects"] = row.get("corrects")
    return out


class NoLog:
    """The log of a scratch store (a fork, a replay, a rebuild): it keeps none - no key is read or made, nothing is
    signed, no checkpoint mail is queued."""

    def step(self, now: dt.datetime | None = None) -> dict[str, Any]:
        return {}

    def witness(self, payload: dict[str, Any]) -> None:
        return None


# -- the tree over a unit of work's leaves and complete subtrees ---------------------------------------------
class StoredTree:
    """The log's Merkle tree as stored: leaf hashes and the cache of complete subtrees, read through a unit of
    work, and extended by `append` (each complete subtree hashed once, when its last leaf arrives)."""

    def __init__(self, tx: UnitOfWork, size: int) -> None:
        self.tx = tx
        self.size = size
        self.start = size
        self._leaves: dict[int, bytes] = {}
        self._nodes: dict[tuple[int, int], bytes] = {}
        self._new_leaves: list[tuple[int, str]] = []
        self._new_nodes: dict[tuple[int, int], str] = {}

    def leaf(self, index: int) -> bytes:
        if index not in self._leaves:
            for i, _seq, h in self.tx.leaves(index, 256):
                self._leaves[i] = bytes.fromhex(h)
            if index not in self._leaves:
                raise ConvenantError(f"the log's leaf {index} is missing from the database")
        return self._leaves[index]

    def node(self, level: int, index: int) -> bytes | None:
        if level == 0:
            return self.leaf(index)
        key = (level, index)
        if key not in self._nodes:
            found = self.tx.subtrees([key]).get(key)
            if found is None:
                return None
            self._nodes[key] = bytes.fromhex(found)
        return self._nodes[key]

    def append(self, seq: int, leaf: bytes) -> int:
        index = self.size
        self._leaves[index] = leaf
        self._new_leaves.append((seq, leaf.hex()))
        self.size += 1
        level, position, current = 0, index, leaf
        while position & 1:
            sibling = self.node(level, position - 1)
            if sibling is None:
                raise ConvenantError(f"the log's subtree {(level, position - 1)} is missing from the database")
            current = node_hash(sibling, current)
            level, position = level + 1, position >> 1
            self._nodes[(level, position)] = current
            self._new_nodes[(level, position)] = current.hex()
        return index

    def flush(self) -> None:
        self.tx.add_leaves(self.start, self._new_leaves)
        self.tx.put_subtrees(self._new_nodes)
        self.start, self._new_leaves, self._new_nodes = self.size, [], {}

    @property
    def cache(self) -> MutableMapping[tuple[int, int], bytes]:
        return _Cache(self)

    def root(self, size: int | None = None) -> bytes:
        return merkle.root(self.leaf, self.size if size is None else size, self.cache)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return merkle.inclusion_proof(self.leaf, index, size, self.cache)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        return merkle.consistency_proof(self.leaf, size1, size2, self.cache)


class _Cache(MutableMapping[tuple[int, int], bytes]):
    """The stored subtrees as engine/merkle.py's cache: reads go to the table; what the functions compute anew is
    kept for this computation only (the sequencer alone writes the table)."""

    def __init__(self, tree: StoredTree) -> None:
        self.tree = tree
        self.extra: dict[tuple[int, int], bytes] = {}

    def __contains__(self, key: object) -> bool:
        return key in self.extra or (isinstance(key, tuple) and self.tree.node(*key) is not None)

    def __getitem__(self, key: tuple[int, int]) -> bytes:
        if key in self.extra:
            return self.extra[key]
        found = self.tree.node(*key)
        if found is None:
            raise KeyError(key)
        return found

    def __setitem__(self, key: tuple[int, int], value: bytes) -> None:
        self.extra[key] = value

    def __delitem__(self, key: tuple[int, int]) -> None:
        self.extra.pop(key, None)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(self.extra)

    def __len__(self) -> int:
        return len(self.extra)


# -- the key --------------------------------------------------------------------------------------------
@dataclass
class Key:
    name: str
    private: Ed25519PrivateKey
    path: Path

    @property
    def verifier(self) -> VerifierKey:
        return verifier_key(self.name, self.private)

    def shown(self) -> dict[str, Any]:
        v = self.verifier
        return {"public_key": v.text(), "key_id": f"{v.key_id:08x}", "origin": self.name, "key_file": str(self.path)}


class LogService:
    """The log's commands and queries on the ports. `now` is the service's clock (a simulation's virtual time:
    checkpoints carry the engine's time, as the mail's Date header does)."""

    def __init__(self, store: Store, settings: Settings, now: Callable[[UnitOfWork | None], dt.datetime],
                 subject: SubjectRenderer) -> None:
        self.store = store
        self.settings = settings
        self._now = now
        self.subject = subject
        self._key: Key | None = None
        self._mail_cache: tuple[int, dict[str, Any]] | None = None

    # -- the key ----------------------------------------------------------------------------------------
    @property
    def key_path(self) -> Path:
        return self.settings.log.key_path(self.settings.base_dir)

    @property
    def origin(self) -> str:
        return self.settings.log.origin or DEFAULT_ORIGIN

    def _read_key(self) -> Key | None:
        path = self.key_path
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConvenantError(f"[log] key_file {path}: cannot read: {exc.strerror or exc}",
                                 field="log.key_file") from None
        try:
            name, private = parse_signer_key(text)
        except VerifyBadInput as exc:
            raise BadInput(f"[log] key_file {path}: {exc}", field="log.key_file") from None
        if self.settings.log.origin and self.settings.log.origin != name:
            raise BadInput(f"[log] origin {self.settings.log.origin!r} differs from the name of the key in {path} "
                           f"({name!r}); the origin is the key's name: remove the setting or make it {name!r}",
                           field="log.origin")
        return Key(name, private, path)

    def key(self, *, create: bool = False) -> Key:
        """The signing key; with `create`, made if there is none (the first checkpoint)."""
        if self._key is None or not self._key.path.exists():
            self._key = self._read_key()
            if self._key is None:
                if not create:
                    raise NotFound(f"the log has no signing key yet ({self.key_path}): create one with "
                                   f"'convenant keys create'", field="log.key_file")
                self._key = self._make_key(exclusive=False)
        return self._key

    def create_key(self) -> dict[str, Any]:
        """`convenant keys create`: a new Ed25519 key in the key file; refused if there is one."""
        if self._read_key() is not None:
            raise NotAllowed(f"the log has a signing key already ({self.key_path}); its checkpoints are signed with "
                             f"it, so it is never replaced here", field="log.key_file")
        self._key = self._make_key(exclusive=True)
        return {**self._key.shown(), "created": True}

    def _make_key(self, *, exclusive: bool) -> Key:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        path = self.key_path
        private = Ed25519PrivateKey.generate()
        text = signer_key(self.origin, private) + "\n"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            if exclusive:
                raise NotAllowed(f"the log has a signing key already ({path})", field="log.key_file") from None
            found = self._read_key()             # another process made it a moment ago
            assert found is not None
            return found
        except OSError as exc:
            raise ConvenantError(f"[log] key_file {path}: cannot create: {exc.strerror or exc}",
                                 field="log.key_file") from None
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        log.info("created the log's signing key %s", path)
        return Key(self.origin, private, path)

    def public_key(self) -> dict[str, Any]:
        """`convenant keys show`: the verifier key to publish (`public_key`) and its `key_id`."""
        return self.key().shown()

    # -- the sequencer ----------------------------------------------------------------------------------
    def step(self, now: dt.datetime | None = None) -> dict[str, Any]:
        """The scheduler's and `clock advance`'s step: sequence, then the periodic checkpoint mail when due. A
        failure is logged, never raised: the due work and the mail of the run go on without it."""
        try:
            with self.store.transaction() as tx:    # where `audit replay` stops: the due work up to here has run
                tx.set_meta(LAST_RUN, (now or self._now(tx)).isoformat())
            done = self.sequence(now)
            done["mails"] = self.checkpoint_mail(now)
            return done
        except Exception as exc:          # the run's other work must not depend on the log's key or TSA
            log.warning("the log's sequencer failed: %s", exc)
            return {"error": str(exc)}

    def sequence(self, now: dt.datetime | None = None) -> dict[str, Any]:
        """Append every record committed since the last run, in seq order, as leaves; sign a checkpoint when the
        tree grew (or when there is none yet). Returns the tree size and whether a checkpoint was made."""
        horizon = self.store.log_horizon()
        with self.store.transaction() as tx:
            size, last_seq = tx.log_state(lock=True)
            tree = StoredTree(tx, size)
            added = 0
            while True:
                rows = tx.records_after(last_seq, horizon, PAGE)
                if not rows:
                    break
                for row in rows:
                    tree.append(row["seq"], record_leaf_hash(leaf_record(row)))
                last_seq, added = rows[-1]["seq"], added + len(rows)
            tree.flush()
            tx.set_log_state(tree.size, last_seq)
            latest = tx.checkpoints(latest=True)
            needed = not latest or latest[0]["size"] < tree.size
            root = tree.root() if needed else None
            when = now or self._now(tx)
        made = None
        if needed and root is not None:
            made = self._checkpoint(tree.size, root, when)
            self._mail_cache = None
        return {"appended": added, "size": tree.size, "checkpoint": made}

    def _checkpoint(self, size: int, root: bytes, when: dt.datetime) -> dict[str, Any]:
        """Sign (and stamp) outside any transaction - a time-stamping authority may be slow - then store it. Two
        sequencers may each sign the size they reached; a size signed twice keeps the first."""
        key = self.key(create=True)
        note = sign_checkpoint(key.private, key.name, size, root,
                               when.astimezone(self.settings.tz).replace(microsecond=0))
        token = None
        if self.settings.log.tsa_url:
            from convenant.engine import tsa
            try:
                token = tsa.stamp(note, self.settings.log.tsa_url, timeout=self.settings.log.tsa_timeout_seconds)
            except tsa.TsaError as exc:      # the log goes on; this checkpoint has no trusted time
                log.warning("checkpoint %s without a time-stamp: %s", size, exc)
        with self.store.transaction() as tx:
            if not tx.checkpoints(size):
                tx.add_checkpoint(size, root.hex(), note, when, token)
        return {"size": size, "root": root.hex()}

    def ensure(self, seq: int | None = None) -> None:
        """Sequence first when there is no checkpoint yet, or when record `seq` (or any record, without one) is in
        none: what `audit` commands, receipts and the mail do before they answer."""
        with self.store.transaction() as tx:
            latest = tx.checkpoints(latest=True)
            size, last_seq = tx.log_state()
            if seq is not None:
                leaf = tx.leaf_of(seq)
                covered = bool(latest) and leaf is not None and leaf[0] < latest[0]["size"]
            else:
                covered = bool(latest) and not tx.records_after(last_seq, None, 1) and latest[0]["size"] == size
        if not covered:
            self.sequence()

    # -- queries ----------------------------------------------------------------------------------------
    def checkpoint(self, size: int | None = None, *, fresh: bool = True) -> dict[str, Any]:
        """`audit checkpoint`: the latest signed checkpoint (or the one of `size`)."""
        if fresh and size is None:
            self.ensure()
        with self.store.transaction() as tx:
            found = tx.checkpoints(size, latest=size is None)
        if not found:
            raise NotFound(f"no checkpoint of size {size}" if size is not None else "the log has no checkpoint yet",
                           field="checkpoint")
        return _checkpoint_view(found[0], self.settings)

    def checkpoints(self) -> list[dict[str, Any]]:
        with self.store.transaction() as tx:
            return [_checkpoint_view(c, self.settings) for c in tx.checkpoints()]

    def prove(self, seq: int, size: int | None = None) -> dict[str, Any]:
        """`audit prove --seq N [--checkpoint SIZE]`: the record's leaf and its inclusion proof in a checkpoint."""
        self.ensure(seq)
        with self.store.transaction() as tx:
            leaf = tx.leaf_of(seq)
            if leaf is None:
                if not tx.record_rows([seq]):
                    raise NotFound(f"no record with seq {seq}", field="seq")
                raise NotFound(f"record {seq} is not in the log yet", field="seq")
            cp = self._checkpoint_for(tx, leaf[0], size)
            proof = StoredTree(tx, cp["size"]).inclusion_proof(leaf[0], cp["size"])
        out = {"seq": seq, "leaf_index": leaf[0], "leaf_hash": leaf[1], "tree_size": cp["size"],
               "root": cp["root"], "inclusion_proof": [p.hex() for p in proof], "checkpoint": cp["note"]}
        if cp.get("tsa_token"):
            out["tsa_token"] = cp["tsa_token"]
        return out

    def _checkpoint_for(self, tx: UnitOfWork, index: int, size: int | None) -> dict[str, Any]:
        if size is not None:
            found = tx.checkpoints(size)
            if not found:
                raise NotFound(f"no checkpoint of size {size}; sizes: "
                               f"{', '.join(str(c['size']) for c in tx.checkpoints()) or 'none'}", field="checkpoint")
            if index >= size:
                raise BadInput(f"the checkpoint of size {size} does not cover leaf {index} yet", field="checkpoint")
            return found[0]
        latest = tx.checkpoints(latest=True)
        if not latest or latest[0]["size"] <= index:
            raise NotFound(f"leaf {index} is in no checkpoint yet", field="seq")
        return latest[0]

    def consistency(self, size1: int, size2: int) -> dict[str, Any]:
        """`audit consistency --from SIZE --to SIZE`: the proof that checkpoint `size2` extends `size1`."""
        with self.store.transaction() as tx:
            cps = {c["size"]: c for c in tx.checkpoints()}
            for field, size in (("from", size1), ("to", size2)):
                if size not in cps:
                    raise NotFound(f"--{field} {size}: no checkpoint of that size; sizes: "
                                   f"{', '.join(map(str, sorted(cps))) or 'none'}", field=field)
            if size1 > size2:
                raise BadInput(f"--from {size1} is larger than --to {size2}", field="from")
            proof = StoredTree(tx, size2).consistency_proof(size1, size2)
        return {"from": size1, "to": size2, "proof": [p.hex() for p in proof],
                "old": cps[size1]["note"], "new": cps[size2]["note"]}

    def receipt(self, seq: int, *, readable: Callable[[dict[str, Any]], dict[str, Any]] | None = None
                ) -> dict[str, Any]:
        """`audit receipt SEQ`: the record, its leaf index, its inclusion proof and the signed checkpoint - what
        `convenant-verify receipt` checks with no database. `readable` gives the record as the reader sees it: a
        receipt for a record the reader may not read whole is refused (it could not be checked)."""
        proof = self.prove(seq)
        with self.store.transaction() as tx:
            row = tx.record_rows([seq]).get(seq)
        if row is None:
            raise NotFound(f"no record with seq {seq}", field="seq")
        record = leaf_record(row)
        if readable is not None and any(readable(dict(record)).get(k) != v for k, v in record.items()):
            raise NotAllowed(f"record {seq} is confidential (Art. 5.9) and was not entered for this reader: no "
                             f"receipt", forbidden=True)
        return {"format": RECEIPT_FORMAT, "record": record, "leaf_index": proof["leaf_index"],
                "leaf_hash": proof["leaf_hash"], "tree_size": proof["tree_size"],
                "inclusion_proof": proof["inclusion_proof"], "checkpoint": proof["checkpoint"],
                **({"tsa_token": proof["tsa_token"]} if "tsa_token" in proof else {})}

    # -- the export -------------------------------------------------------------------------------------
    def export(self, readable: Callable[[Iterable[dict[str, Any]]], Iterable[dict[str, Any]]]) -> dict[str, Any]:
        """`audit export --format json`: every leaf's record (as `readable` lets the reader see it: notifications,
        `confidential`, and `redacted` where the content is hidden), with its leaf index and hash, and every
        checkpoint - convenant/verify.py's export format."""
        self.ensure()
        with self.store.transaction() as tx:
            cps = tx.checkpoints()
        size = cps[-1]["size"] if cps else 0
        leaves = list(self._leaves(size))
        rows: dict[int, dict[str, Any]] = {}
        for i in range(0, len(leaves), PAGE):
            with self.store.transaction() as tx:
                rows.update(tx.record_rows([seq for _, seq, _ in leaves[i:i + PAGE]]))
        plain = [(index, h, leaf_record(rows[seq])) for index, seq, h in leaves if seq in rows]
        corrected_by = {r["corrects"]: r["seq"] for _, _, r in plain if r.get("corrects") is not None}
        shown = list(readable([dict(r) for _, _, r in plain]))
        records = []
        for (index, h, original), view in zip(plain, shown, strict=True):
            entry = {**view, "leaf_index": index, "leaf_hash": h, "corrected_by": corrected_by.get(original["seq"])}
            if {k: view.get(k) for k in original} != original:
                entry["redacted"] = True
            records.append(entry)
        return {"format": LOG_FORMAT, "origin": self._origin_of(cps), "records": records,
                "checkpoints": [{"size": c["size"], "root": c["root"], "note": c["note"],
                                 **({"tsa_token": c["tsa_token"]} if c.get("tsa_token") else {})} for c in cps]}

    def _origin_of(self, cps: list[dict[str, Any]]) -> str:
        return cps[-1]["note"].split("\n", 1)[0] if cps else self.origin

    def _leaf_pages(self, size: int) -> Iterator[list[tuple[int, int, str]]]:
        start = 0
        while start < size:
            with self.store.transaction() as tx:
                page = tx.leaves(start, min(PAGE, size - start))
            if not page:
                return
            yield page
            start = page[-1][0] + 1

    def _leaves(self, size: int) -> Iterator[tuple[int, int, str]]:
        start = 0
        while start < size:
            with self.store.transaction() as tx:
                page = tx.leaves(start, min(PAGE, size - start))
            if not page:
                return
            yield from page
            start = page[-1][0] + 1

    # -- the engine's own check (`audit verify`) --------------------------------------------------------
    def verify(self) -> dict[str, Any]:
        """Every leaf against its record (recomputed), the leaves in seq order with no record slipped between
        them, the tree against every stored checkpoint, and each checkpoint's signature with the key file's key
        (and its RFC 3161 token). The first problem found, naming its record (`first_bad`: a seq)."""
        with self.store.transaction() as tx:
            cps = tx.checkpoints()
            size, last_seq = tx.log_state()
            leaf_total = tx.leaf_count()
            pending = len(tx.records_after(last_seq, None, PAGE))
        report: dict[str, Any] = {"size": size, "checkpoints": len(cps), "pending": pending}
        try:
            key: VerifierKey | None = self.key().verifier
        except NotFound as exc:      # no key file here: the signatures are the independent verifier's to check
            key, report["signatures"] = None, f"not checked: {exc}"
        problem = self._check_signatures(cps, key) if key is not None else None
        if problem:
            return {**report, "intact": False, "first_bad": None, "problem": problem}
        marks = sorted(cps, key=lambda c: c["size"])
        tree, prev_seq, expected = TreeBuilder(), 0, 0
        matched = 0

        def reach() -> str | None:
            nonlocal matched
            while marks and marks[0]["size"] == tree.size:
                cp = marks.pop(0)
                if cp["root"] != tree.root().hex():
                    return (f"the checkpoint of size {cp['size']} does not match the log's first {tree.size} leaves "
                            f"(a leaf was changed, removed, inserted or moved after it was signed)")
                matched = cp["size"]
            return None

        if (bad := reach()) is not None:
            return {**report, "intact": False, "first_bad": None, "problem": bad}
        for page in self._leaf_pages(max(size, leaf_total) + 1):
            with self.store.transaction() as tx:      # the records of this page's seqs and any slipped between
                found = {r["seq"]: r for r in tx.records_between(prev_seq, page[-1][1] + 1)}
            seqs = sorted(found)
            for index, seq, h in page:
                bad_seq, bad = _leaf_problem(index, seq, h, expected, prev_seq, found, seqs)
                if bad is None:
                    tree.append(bytes.fromhex(h))
                    bad = reach()
                    bad_seq = seq if bad else None
                if bad is not None:
                    return {**report, "intact": False, "first_bad": bad_seq, "problem": bad}
                prev_seq, expected = seq, expected + 1
        if tree.size != size:
            return {**report, "intact": False, "first_bad": last_seq,
                    "problem": f"the log says {size} leaves but {tree.size} were found (leaves removed at the end)"}
        if marks:
            return {**report, "intact": False, "first_bad": None,
                    "problem": f"the checkpoint of size {marks[0]['size']} covers more leaves than the log holds "
                               f"({tree.size}): leaves were removed"}
        return {**report, "intact": True, "root": tree.root().hex(), "matched": matched}

    def _tsa_roots(self) -> list[bytes]:
        path = self.settings.log.tsa_certificate_path(self.settings.base_dir)
        if path is None:
            return []
        try:
            return [path.read_bytes()]
        except OSError as exc:
            raise ConvenantError(f"[log] tsa_certificate {path}: cannot read: {exc.strerror or exc}",
                                 field="log.tsa_certificate") from None

    def audit(self, chain: dict[str, Any]) -> dict[str, Any]:
        """The chains' verdict (storage.store.check_chain) joined with the log's (`verify`): intact only if both
        are; the first bad record is the lower of the two."""
        checked = self.verify()
        out = {**chain, "log": checked}
        if checked["intact"]:
            return out
        if chain["intact"] or (checked.get("first_bad") is not None and chain.get("first_bad") is not None
                               and checked["first_bad"] < chain["first_bad"]):
            out.update({"intact": False, "first_bad": checked.get("first_bad"), "problem": checked["problem"]})
            out.pop("head", None)
        return out

    def _check_signatures(self, cps: list[dict[str, Any]], key: VerifierKey) -> str | None:
        for cp in cps:
            try:
                checked = verify_checkpoint(cp["note"], key)
            except (Invalid, VerifyBadInput) as exc:
                return f"the checkpoint of size {cp['size']} does not verify: {exc}"
            if checked.size != cp["size"] or checked.root.hex() != cp["root"]:
                return f"the checkpoint of size {cp['size']}: its size or root differs from its signed note"
            if cp.get("tsa_token"):
                from convenant.engine import tsa
                try:
                    tsa.check(cp["tsa_token"], cp["note"], self._tsa_roots())
                except (Invalid, VerifyBadInput) as exc:
                    return f"the checkpoint of size {cp['size']}: its time-stamp token does not verify: {exc}"
        return None

    # -- parties as witnesses ---------------------------------------------------------------------------
    def witness(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """What an email carries of the log (the dispatcher asks just before rendering): the latest checkpoint,
        and for a confirmation a receipt for its record. A record not yet in a checkpoint is sequenced first, so
        the receipt goes with the confirmation; only a confidential record's receipt is left out (its content may
        not travel by mail, Art. 5.9) - the mail then says how to ask for it."""
        try:
            seq = payload.get("record_seq") if payload.get("template") == "confirmation" else None
            latest = self._latest_for_mail(seq if isinstance(seq, int) else None)
        except Exception as exc:       # no key, no database: the mail goes without, it must not fail for this
            log.warning("no checkpoint for the mail: %s", exc)
            return None
        out: dict[str, Any] = {"checkpoint": latest["note"], "size": latest["size"], "root": latest["root"],
                               "origin": latest["origin"]}
        if isinstance(seq, int):
            out["seq"] = seq
            try:
                receipt = self.receipt(seq)
            except ConvenantError as exc:
                log.warning("no receipt for record %s: %s", seq, exc)
                receipt = None
            from convenant.engine.confirmations import is_confidential
            if receipt is not None and not is_confidential((receipt["record"].get("data") or {}).get("params")):
                out["receipt"] = receipt
            else:
                out["receipt_on_request"] = True
        return out

    def _latest_for_mail(self, seq: int | None) -> dict[str, Any]:
        """The latest checkpoint, sequenced first where needed; mail without a receipt reuses the one read for
        the mail before it (up to MAIL_REUSE messages: a sweep's reminders do not each read the log)."""
        cached = self._mail_cache
        if seq is None and cached is not None and cached[0] < MAIL_REUSE:
            self._mail_cache = (cached[0] + 1, cached[1])
            return cached[1]
        self.ensure(seq)
        latest = self.checkpoint(fresh=False)
        self._mail_cache = (0, latest)
        return latest

    def checkpoint_mail(self, now: dt.datetime | None = None) -> int:
        """The periodic checkpoint mail: every `[log] checkpoint_mail_days` days the latest checkpoint goes to
        every current party of every agreement in force or on its way (idempotent per checkpoint and address)."""
        days = self.settings.log.checkpoint_mail_days
        if not days:
            return 0
        with self.store.transaction() as tx:
            at = now or self._now(tx)
            due = tx.meta(NEXT_MAIL)
            if due is None or dt.datetime.fromisoformat(due) > at:
                if due is None:
                    tx.set_meta(NEXT_MAIL, (at + dt.timedelta(days=days)).isoformat())
                return 0
            latest = tx.checkpoints(latest=True)
            notes = self._checkpoint_notes(tx, latest[0], at) if latest else []
            queued = tx.enqueue(notes, at)
            tx.set_meta(NEXT_MAIL, (at + dt.timedelta(days=days)).isoformat())
        return queued

    def _checkpoint_notes(self, tx: UnitOfWork, cp: dict[str, Any], at: dt.datetime) -> list[Notification]:
        from convenant.engine.notify import party_contacts
        from convenant.engine.rules import is_current
        today = local_date(at, self.settings.tz)
        notes: list[Notification] = []
        for rid in tx.root_ids():
            root = tx.get_process(rid)
            if root is None or root.final:
                continue
            seen: set[str] = set()
            for pid in root.parties:
                if not is_current(root, pid, today):
                    continue
                for contact in party_contacts(root, pid):
                    addr = contact["email"].lower()
                    if addr in seen:
                        continue
                    seen.add(addr)
                    key = f"{root.id}|checkpoint|{cp['size']}|{addr}"
                    payload = {"template": "checkpoint", "lang": contact.get("language", "nl"), "key": key,
                               "to_name": contact["name"], "to_addr": contact["email"], "agreement_id": root.id,
                               "agreement_title": root.title or root.id, "process_id": root.id,
                               "checkpoint_size": cp["size"], "checkpoint_root": cp["root"],
                               "checkpoint_time": iso_moment(cp["created_at"], self.settings.tz)}
                    notes.append(Notification(key=key, process_id=root.id, root_id=root.id, to_addr=contact["email"],
                                              to_name=contact["name"], subject=self.subject(payload),
                                              payload=payload, kind="checkpoint"))
        return notes


def _leaf_problem(index: int, seq: int, leaf: str, expected: int, prev_seq: int, found: dict[int, Any],
                  seqs: list[int]) -> tuple[int | None, str | None]:
    """What is wrong with one leaf of the log, given the records read around it (`found`, by seq; `seqs`, its
    keys in order, searched rather than scanned: a page of leaves is checked in O(n log n), not O(n²))."""
    first_after = bisect.bisect_right(seqs, prev_seq)
    slipped = [seqs[first_after]] if first_after < len(seqs) and seqs[first_after] < seq else []
    row = found.get(seq)
    if index != expected:
        return seq, f"leaf {expected} is missing from the log (leaves removed)"
    if seq <= prev_seq:
        return seq, f"leaf {index} (seq {seq}) is out of seq order (leaves reordered)"
    if slipped:
        return min(slipped), (f"record {min(slipped)} is in no leaf of the log, though record {seq} after it is "
                              f"(inserted after the log took in the records around it)")
    if row is None:
        return seq, f"record {seq} (leaf {index}) is missing from the history (removed)"
    if record_leaf_hash(leaf_record(row)).hex() != leaf:
        return seq, f"record {seq} no longer matches its leaf {index} of the log (edited after it was logged)"
    return None, None


def _checkpoint_view(cp: dict[str, Any], settings: Settings) -> dict[str, Any]:
    origin, _, rest = cp["note"].partition("\n")
    out = {"size": cp["size"], "root": cp["root"], "root_base64": base64.b64encode(bytes.fromhex(cp["root"])).decode(),
           "origin": origin, "time": iso_moment(cp["created_at"], settings.tz), "note": cp["note"]}
    if cp.get("tsa_token"):
        out["tsa_token"] = cp["tsa_token"]
    return out
