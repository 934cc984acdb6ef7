from __future__ import annotations

import hashlib
import os
import random
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


class _Entropy:
    """Random bits without a system call per id; reseeded after a fork so that processes
    never share a sequence."""

    def __init__(self) -> None:
        self._pid = -1
        self._random = random.Random()

    def bits(self, count: int) -> int:
        if self._pid != os.getpid():
            self._random.seed(os.urandom(32))
            self._pid = os.getpid()
        return self._random.getrandbits(count)


_entropy = _Entropy()


_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # 10 bits -> 2 characters


def _base32(value: int, pairs: int) -> str:
    return "".join([_PAIRS[(value >> (10 * n)) & 1023] for n in range(pairs - 1, -1, -1)])


def new_id(prefix: str) -> str:
    """A sortable unique id: the prefix, 10 chars of milliseconds, 16 random chars."""
    millis = time.time_ns() // 1_000_000
    return f"{prefix}_{_base32(millis, 5)}{_base32(_entropy.bits(80), 8)}"


def derived_id(source_id: str, purpose: str) -> str:
    """An id that every process derives alike from `source_id` (same prefix and time part):
    for a record that exists at most once per source, such as the result of a tool call."""
    prefix, _, rest = source_id.partition("_")
    digest = int.from_bytes(
        hashlib.blake2b(f"{source_id}:{purpose}".encode(), digest_size=10).digest()
    )
    if len(rest) < 10:
        return f"{prefix}_{_base32(digest, 8)}{_base32(digest >> 40, 5)}"
    return f"{prefix}_{rest[:10]}{_base32(digest, 8)}"
