"""Counting prompt tokens with cl100k, offline.

tiktoken normally downloads its encodings on first use; the runner may have no internet. LiteLLM ships
the cl100k BPE file inside its package (``litellm_core_utils/tokenizers``), so the encoding is built
from that file. If neither is available the count falls back to a characters/4 estimate: a prompt
budget that is a little off is better than a task that crashes.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

# tiktoken's published checksum of cl100k_base.tiktoken, and the name its cache gives that file
# (the SHA-1 of the download URL).
_CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
_CL100K_CACHE_NAME = "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"
_ENCODER_LOCK = threading.Lock()
_BYTES_PER_TOKEN = 4.0


def count_tokens(text: str) -> int:
    """cl100k tokens in ``text``; an estimate (len/4) when the encoding cannot be loaded."""
    if not text:
        return 0
    encoder = _encoder()
    if encoder is None:
        return estimate_tokens(text)
    return len(encoder.encode_ordinary(text))


def estimate_tokens(text: str) -> int:
    """A cheap estimate for ranking-time decisions where an exact count is not worth its cost."""
    return max(1, round(len(text) / _BYTES_PER_TOKEN)) if text else 0


def exact_counts_available() -> bool:
    """True when ``count_tokens`` returns real cl100k counts rather than estimates."""
    return _encoder() is not None


@lru_cache(maxsize=1)
def _encoder() -> Any | None:
    with _ENCODER_LOCK:
        try:
            return _build_cl100k()
        except Exception:  # noqa: BLE001 - any failure means "estimate instead", never a crash
            return None


def _build_cl100k() -> Any | None:
    import tiktoken
    import tiktoken_ext.openai_public as public

    ranks = _local_ranks()
    if ranks is None:
        return None
    # The constructor holds the pattern and special tokens; only its download is replaced.
    original = public.load_tiktoken_bpe
    public.load_tiktoken_bpe = lambda *_args, **_kwargs: ranks
    try:
        spec = public.cl100k_base()
    finally:
        public.load_tiktoken_bpe = original
    return tiktoken.Encoding(**spec)


def _local_ranks() -> dict[bytes, int] | None:
    path = _litellm_bpe_file()
    if path is None:
        return None
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != _CL100K_SHA256:
        return None
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def _litellm_bpe_file() -> Path | None:
    # find_spec locates the package without importing it (importing LiteLLM takes seconds).
    spec = importlib.util.find_spec("litellm")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "litellm_core_utils" / "tokenizers" / _CL100K_CACHE_NAME
        if candidate.is_file():
            return candidate
    return None
