"""The log's Merkle tree (engine/merkle.py) against RFC 9162 §2.1, and the verifier's proof checks
(convenant/verify.py): roots, inclusion and consistency proofs for every small size, tampering refused.

The reference below is written straight from the RFC's recursive definitions (MTH §2.1.1, PATH §2.1.3.1,
SUBPROOF §2.1.4.1), over the entries themselves, without caches or shortcuts."""
from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convenant.engine import merkle
from convenant.engine.merkle import MerkleLog
from convenant.verify import EMPTY_ROOT, Invalid, TreeBuilder, tree_head, verify_consistency, verify_inclusion


# -- the reference: RFC 9162 as written -------------------------------------------------------------------
def ref_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


# -- a log of entries --------------------------------------------------------------------------------------
MAX_ALL = 300            # every size and index up to here
MAX_PAIRS = 100          # every consistency pair up to here
MAX_BIG = 3000           # hypothesis draws up to here

ENTRIES = [f"record {i}".encode() for i in range(MAX_BIG)]
LOG = MerkleLog()
for _entry in ENTRIES:
    LOG.append_data(_entry)
LEAVES = LOG.leaves
ROOTS = [tree_head(LEAVES[:n]) for n in range(MAX_ALL + 1)]


def flip(h: bytes) -> bytes:
    return bytes([h[0] ^ 1]) + h[1:]


def test_rfc_building_blocks():
    assert EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert LEAVES[0] == hashlib.sha256(b"\x00record 0").digest()
    assert merkle.root(LEAVES, 2) == hashlib.sha256(b"\x01" + LEAVES[0] + LEAVES[1]).digest()
    # the first RFC 6962 / 9162 test vector: the empty tree
    assert merkle.root([], 0).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_roots_agree_with_the_reference_for_every_size():
    builder = TreeBuilder()
    for n in range(MAX_ALL + 1):
        expected = ref_mth(ENTRIES[:n])
        assert builder.root() == expected, n                     # the verifier's incremental tree
        assert ROOTS[n] == expected, n                           # the verifier's tree_head
        assert merkle.root(LEAVES, n) == expected, n             # engine, no cache
        assert LOG.root(n) == expected, n                        # engine, cached as appended
        if n < MAX_ALL:
            builder.append(LEAVES[n])
    assert builder.size == MAX_ALL


def test_proofs_are_the_rfc_proofs():
    for n in range(1, 65):
        for m in range(n):
            assert LOG.inclusion_proof(m, n) == ref_path(m, ENTRIES[:n]), (m, n)
        for m in range(1, n):
            assert LOG.consistency_proof(m, n) == ref_proof(m, ENTRIES[:n]), (m, n)


def test_every_inclusion_proof_verifies():
    checked = 0
    for n in range(1, MAX_ALL + 1):
        for i in range(n):
            verify_inclusion(LEAVES[i], i, n, LOG.inclusion_proof(i, n), ROOTS[n])
            checked += 1
    assert checked == MAX_ALL * (MAX_ALL + 1) // 2


def test_every_consistency_proof_verifies():
    checked = 0
    for n in range(MAX_PAIRS + 1):
        for m in range(n + 1):
            verify_consistency(m, n, LOG.consistency_proof(m, n), ROOTS[m], ROOTS[n])
            checked += 1
    assert checked == (MAX_PAIRS + 1) * (MAX_PAIRS + 2) // 2


def test_a_source_callable_and_a_shared_cache_give_the_same_answers():
    cache: dict[tuple[int, int], bytes] = {}
    fetched: list[int] = []

    def fetch(i: int) -> bytes:
        fetched.append(i)
        return LEAVES[i]

    for n in (1, 2, 3, 7, 8, 9, 100, 257):
        assert merkle.root(fetch, n, cache) == ROOTS[n]
        assert merkle.inclusion_proof(fetch, n - 1, n, cache) == LOG.inclusion_proof(n - 1, n)
        assert merkle.consistency_proof(fetch, n // 2, n, cache) == LOG.consistency_proof(n // 2, n)
    # the cache holds only complete subtrees, keyed (level, index), each the root of its 2**level leaves
    for (level, index), h in cache.items():
        width = 1 << level
        assert h == ref_mth(ENTRIES[index * width:(index + 1) * width])
    before = len(fetched)
    assert merkle.root(fetch, 256, cache) == ROOTS[256]
    assert len(fetched) == before                                # a complete tree of 256 comes from the cache


def test_inclusion_tampering_is_refused():
    for n in (1, 2, 3, 5, 8, 13, 64, 100, 255, 256, 257, 300):
        for i in sorted({0, 1 % n, n // 2, n - 2 if n > 1 else 0, n - 1}):
            proof = LOG.inclusion_proof(i, n)
            for k in range(len(proof)):                          # any one hash of the path changed
                bad = proof[:k] + [flip(proof[k])] + proof[k + 1:]
                with pytest.raises(Invalid):
                    verify_inclusion(LEAVES[i], i, n, bad, ROOTS[n])
            with pytest.raises(Invalid):                         # another leaf at this place
                verify_inclusion(LEAVES[(i + 1) % MAX_BIG], i, n, proof, ROOTS[n])
            with pytest.raises(Invalid):                         # another root
                verify_inclusion(LEAVES[i], i, n, proof, flip(ROOTS[n]))
            for j in range(n):                                   # this leaf claimed at another index
                if j != i:
                    with pytest.raises(Invalid):
                        verify_inclusion(LEAVES[i], j, n, proof, ROOTS[n])
            for other in range(1, min(n + 20, MAX_ALL) + 1):     # the proof against another checkpoint
                if other != n and i < other:
                    with pytest.raises(Invalid):
                        verify_inclusion(LEAVES[i], i, other, proof, ROOTS[other])
            with pytest.raises(Invalid):                         # a step too many
                verify_inclusion(LEAVES[i], i, n, proof + [LEAVES[0]], ROOTS[n])
            if proof:
                with pytest.raises(Invalid):                     # a step too few
                    verify_inclusion(LEAVES[i], i, n, proof[:-1], ROOTS[n])
            with pytest.raises(Invalid, match="outside"):
                verify_inclusion(LEAVES[i], n, n, proof, ROOTS[n])


def test_consistency_tampering_is_refused():
    for n in (2, 3, 4, 5, 7, 8, 9, 16, 31, 33, 64, 100):
        for m in range(1, n):
            proof = LOG.consistency_proof(m, n)
            for k in range(len(proof)):
                bad = proof[:k] + [flip(proof[k])] + proof[k + 1:]
                with pytest.raises(Invalid):
                    verify_consistency(m, n, bad, ROOTS[m], ROOTS[n])
            with pytest.raises(Invalid):                         # a rewritten older tree
                verify_consistency(m, n, proof, flip(ROOTS[m]), ROOTS[n])
            with pytest.raises(Invalid):
                verify_consistency(m, n, proof, ROOTS[m], flip(ROOTS[n]))
            with pytest.raises(Invalid):                         # another older size
                verify_consistency(m - 1 if m > 1 else m + 1, n, proof,
                                   ROOTS[m - 1 if m > 1 else m + 1], ROOTS[n])
            with pytest.raises(Invalid):                         # another newer size
                verify_consistency(m, n + 1, proof, ROOTS[m], ROOTS[n + 1])
            with pytest.raises(Invalid):
                verify_consistency(m, n, proof + [LEAVES[0]], ROOTS[m], ROOTS[n])
            with pytest.raises(Invalid):
                verify_consistency(m, n, proof[:-1], ROOTS[m], ROOTS[n])
            with pytest.raises(Invalid, match="shrank"):
                verify_consistency(n, m, proof, ROOTS[n], ROOTS[m])


def test_consistency_edge_cases():
    verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    verify_consistency(0, 17, [], EMPTY_ROOT, ROOTS[17])
    verify_consistency(17, 17, [], ROOTS[17], ROOTS[17])
    with pytest.raises(Invalid, match="different root"):
        verify_consistency(17, 17, [], ROOTS[17], flip(ROOTS[17]))
    with pytest.raises(Invalid, match="must be empty"):
        verify_consistency(17, 17, [LEAVES[0]], ROOTS[17], ROOTS[17])
    with pytest.raises(Invalid):
        verify_consistency(0, 17, [], flip(EMPTY_ROOT), ROOTS[17])
    with pytest.raises(Invalid, match="empty"):
        verify_consistency(3, 17, [], ROOTS[3], ROOTS[17])


def test_engine_refuses_impossible_requests():
    with pytest.raises(ValueError):
        merkle.inclusion_proof(LEAVES, 5, 5)
    with pytest.raises(ValueError):
        merkle.inclusion_proof(LEAVES, -1, 5)
    with pytest.raises(ValueError):
        merkle.consistency_proof(LEAVES, 6, 5)
    with pytest.raises(ValueError):
        merkle.root(LEAVES[:4], 5)                               # more leaves than there are
    with pytest.raises(ValueError):
        merkle.consistency_proof(LEAVES[:4], 4, 5)
    with pytest.raises(ValueError):
        merkle.root(LEAVES, -1)
    with pytest.raises(ValueError):
        MerkleLog().append(b"short")
    log = MerkleLog(LEAVES[:10])
    assert (log.size, log.root()) == (10, ROOTS[10])
    assert log.append(LEAVES[10]) == 10 and log.root() == ROOTS[11]
    assert log.consistency_proof(4) == LOG.consistency_proof(4, 11)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_large_trees(data):
    n = data.draw(st.integers(1, MAX_BIG), label="size")
    i = data.draw(st.integers(0, n - 1), label="index")
    m = data.draw(st.integers(0, n), label="older size")
    root_n, root_m = LOG.root(n), LOG.root(m)
    assert root_n == merkle.root(LEAVES, n)                      # cached = uncached
    assert root_m == tree_head(LEAVES[:m])                       # engine = verifier
    proof = LOG.inclusion_proof(i, n)
    verify_inclusion(LEAVES[i], i, n, proof, root_n)
    consistency = LOG.consistency_proof(m, n)
    verify_consistency(m, n, consistency, root_m, root_n)
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1), label="changed step")
        with pytest.raises(Invalid):
            verify_inclusion(LEAVES[i], i, n, proof[:k] + [flip(proof[k])] + proof[k + 1:], root_n)
    if consistency:
        k = data.draw(st.integers(0, len(consistency) - 1), label="changed consistency step")
        with pytest.raises(Invalid):
            verify_consistency(m, n, consistency[:k] + [flip(consistency[k])] + consistency[k + 1:], root_m, root_n)
    if 0 < m < n:
        with pytest.raises(Invalid):                             # a log rewritten below m
            verify_consistency(m, n, consistency, flip(root_m), root_n)
