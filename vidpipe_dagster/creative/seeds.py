"""Seeds from text that are the same in every process."""

from __future__ import annotations

import hashlib


def stable_seed(*parts: object) -> int:
    """A seed from text that is the same in every process (Python's hash() is salted)."""
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")
