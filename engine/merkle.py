"""The log's Merkle tree, engine side (RFC 9162 §2.1): root hashes, inclusion proofs and consistency proofs over
the sequence of leaf hashes, with the hashing of the independent verifier (convenant/verify.py).

The functions are pure. `leaves` is a sequence of leaf hashes or a callable giving the leaf hash at an index (so
storage can serve leaves from its table); `cache` is an optional mapping of complete subtrees, (level, index) ->
hash of the 2**level leaves from index * 2**level on. A complete subtree of an append-only log never changes, so
the cache may be kept for good (storage can back it with a table); with it, roots and proofs cost O(log n) look-ups
instead of O(n) hashes. `MerkleLog` keeps leaves and cache in memory and fills the cache as leaves are appended.
"""
from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence

from convenant.verify import EMPTY_ROOT, leaf_hash, node_hash

Leaves = Sequence[bytes] | Callable[[int], bytes]
Cache = MutableMapping[tuple[int, int], bytes]


def _largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


class _Tree:
    """One computation over a leaf source: MTH of any range D[start:end] that the RFC's recursion reaches."""

    def __init__(self, leaves: Leaves, size: int, cache: Cache | None) -> None:
        if isinstance(leaves, Sequence):
            if size > len(leaves):
                raise ValueError(f"a tree of size {size} needs {size} leaves; there are {len(leaves)}")
            self.leaf: Callable[[int], bytes] = leaves.__getitem__
        else:
            self.leaf = leaves
        self.cache = cache

    def hash(self, start: int, end: int) -> bytes:
        n = end - start
        if n == 0:
            return EMPTY_ROOT
        if n == 1:
            return self.leaf(start)
        complete = n & (n - 1) == 0          # such a range always starts at a multiple of its length
        key = (n.bit_length() - 1, start // n)
        if complete and self.cache is not None and key in self.cache:
            return self.cache[key]
        k = _largest_power_of_two_below(n)
        result = node_hash(self.hash(start, start + k), self.hash(start + k, end))
        if complete and self.cache is not None:
            self.cache[key] = result
        return result

    def path(self, m: int, start: int, end: int) -> list[bytes]:
        """RFC 9162 §2.1.3.1 PATH(m, D[start:end])."""
        n = end - start
        if n == 1:
            return []
        k = _largest_power_of_two_below(n)
        if m < k:
            return self.path(m, start, start + k) + [self.hash(start + k, end)]
        return self.path(m - k, start + k, end) + [self.hash(start, start + k)]

    def subproof(self, m: int, start: int, end: int, whole: bool) -> list[bytes]:
        """RFC 9162 §2.1.4.1 SUBPROOF(m, D[start:end], b)."""
        n = end - start
        if m == n:
            return [] if whole else [self.hash(start, end)]
        k = _largest_power_of_two_below(n)
        if m <= k:
            return self.subproof(m, start, start + k, whole) + [self.hash(start + k, end)]
        return self.subproof(m - k, start + k, end, False) + [self.hash(start, start + k)]


def root(leaves: Leaves, size: int, cache: Cache | None = None) -> bytes:
    """The root hash of the tree of the first `size` leaves (RFC 9162 MTH)."""
    if size < 0:
        raise ValueError(f"tree size {size} is negative")
    return _Tree(leaves, size, cache).hash(0, size)


def inclusion_proof(leaves: Leaves, index: int, size: int, cache: Cache | None = None) -> list[bytes]:
    """The audit path of leaf `index` in the tree of the first `size` leaves."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of {size} leaves")
    return _Tree(leaves, size, cache).path(index, 0, size)


def consistency_proof(leaves: Leaves, size1: int, size2: int, cache: Cache | None = None) -> list[bytes]:
    """The proof that the tree of size1 leaves is a prefix of the tree of size2 leaves (empty when size1 is 0 or
    equal to size2)."""
    if not 0 <= size1 <= size2:
        raise ValueError(f"no consistency proof from size {size1} to size {size2}")
    if size1 == 0 or size1 == size2:
        _Tree(leaves, size2, cache)        # still refuse a size beyond the leaves
        return []
    return _Tree(leaves, size2, cache).subproof(size1, 0, size2, True)


class MerkleLog:
    """An append-only tree in memory: the leaf hashes, and every complete subtree hashed once as it completes."""

    def __init__(self, leaf_hashes: Sequence[bytes] = ()) -> None:
        self.leaves: list[bytes] = []
        self.cache: dict[tuple[int, int], bytes] = {}
        for h in leaf_hashes:
            self.append(h)

    @property
    def size(self) -> int:
        return len(self.leaves)

    def append(self, leaf: bytes) -> int:
        """Add a leaf hash; return its index."""
        if len(leaf) != 32:
            raise ValueError("a leaf hash is 32 bytes (SHA-256)")
        index = len(self.leaves)
        self.leaves.append(leaf)
        level, position, current = 0, index, leaf
        while position & 1:                 # this leaf completes a subtree at each level where it is a right child
            sibling = self.leaves[position - 1] if level == 0 else self.cache[(level, position - 1)]
            current = node_hash(sibling, current)
            level, position = level + 1, position >> 1
            self.cache[(level, position)] = current
        return index

    def append_data(self, data: bytes) -> int:
        """Add a leaf by its input (hashed as RFC 9162 leaf)."""
        return self.append(leaf_hash(data))

    def root(self, size: int | None = None) -> bytes:
        return root(self.leaves, self.size if size is None else size, self.cache)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_proof(self.leaves, index, self.size if size is None else size, self.cache)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        return consistency_proof(self.leaves, size1, self.size if size2 is None else size2, self.cache)
