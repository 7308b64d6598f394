"""The request key of a paid model call: what makes two calls the same call, as one hash.

The key covers the model id, the model resource's own settings, every argument of the call (the
prompt text, the scene and storyboard it describes, sizes, the seed) and the sha256 of every input
file (keyframes, reference images, the audio track, the clip being judged). Two calls with equal
keys would be sent the same request, so the stored answer of one is the answer to the other.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel

KEY_VERSION = 1
_HASH_CHUNK = 1024 * 1024


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as file:
        while chunk := file.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def canonical(value: Any) -> Any:
    """A JSON-ready form of an argument in which a file stands for its content, not its path (the
    same keyframe is in a new workspace on every run)."""
    if isinstance(value, Path):
        return {"sha256": file_digest(value)}
    if isinstance(value, BaseModel):
        return canonical(value.model_dump(mode="json"))
    if isinstance(value, Mapping):
        return {str(key): canonical(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(item) for item in value]
    if isinstance(value, Decimal):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"cannot make a request key of a {type(value).__name__} argument")


def request_key(*, model: str, method: str, settings: Mapping[str, Any], arguments: Mapping[str, Any]) -> str:
    payload = {
        "version": KEY_VERSION,
        "model": model,
        "method": method,
        "settings": canonical(settings),
        "arguments": canonical(arguments),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
