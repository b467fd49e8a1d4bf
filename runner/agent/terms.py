"""Words for lexical ranking: identifiers split at camelCase and snake_case boundaries.

``getHTTPResponse_code`` yields ``gethttpresponse_code`` (the whole identifier, so an exact name in an
issue matches strongly) plus ``get``, ``http``, ``response`` and ``code`` (so prose such as "the
response code" matches too).
"""

from __future__ import annotations

import re

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Lower/upper boundaries, acronym ends (HTTPResponse -> HTTP Response), and digit runs.
_CAMEL_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")

# Words frequent in both issue prose and code that carry no signal about *which* file matters.
STOPWORDS = frozenset(
    """a an and are as at be been but by can could did do does doing for from had has have how i if in
    into is it its me my no not of on or our should so some than that the their them then there these
    they this those to too was we were what when where which while who why will with would you your
    also any just like only out up use used using get set self cls none true false return def class
    import py""".split()
)
_MIN_LENGTH = 2


def split_identifier(identifier: str) -> list[str]:
    """The lowercased parts of one identifier, without the whole (see ``tokenize``)."""
    parts: list[str] = []
    for chunk in identifier.split("_"):
        parts.extend(part.lower() for part in _CAMEL_PART.findall(chunk))
    return parts


def tokenize(text: str) -> list[str]:
    """Identifier-split, lowercased tokens of ``text`` with stopwords and 1-letter words removed."""
    tokens: list[str] = []
    for identifier in _IDENTIFIER.findall(text):
        whole = identifier.strip("_").lower()
        parts = split_identifier(identifier)
        if whole and (len(parts) != 1 or parts[0] != whole):
            tokens.append(whole)
        tokens.extend(parts)
    return [token for token in tokens if len(token) >= _MIN_LENGTH and token not in STOPWORDS]


def path_words(path: str) -> str:
    """A path as text for tokenizing: separators and the extension become spaces."""
    stem = path.rsplit(".", 1)[0] if "." in path.rsplit("/", 1)[-1] else path
    return re.sub(r"[/\\.\-]", " ", stem)


_SPLIT_MEMO: dict[str, tuple[str, ...]] = {}
_MEMO_LIMIT = 500_000


def tokenize_cached(text: str) -> list[str]:
    """``tokenize`` with the split of each distinct identifier memoized: a repository repeats the same
    few thousand names millions of times, which makes tokenizing it several times faster."""
    out: list[str] = []
    memo = _SPLIT_MEMO
    if len(memo) > _MEMO_LIMIT:  # bound the memory a long-running runner can spend on this
        memo.clear()
    for identifier in _IDENTIFIER.findall(text):
        tokens = memo.get(identifier)
        if tokens is None:
            tokens = memo[identifier] = tuple(tokenize(identifier))
        out.extend(tokens)
    return out
