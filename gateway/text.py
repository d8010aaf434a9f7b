"""Text from messages and peers, shortened before it goes into an error message, a log line or a receipt.

Error messages are logged, stored and sent back to partners: a value quoted from a 10 MB document must not
come back whole. One pair of helpers for the whole gateway, so every cut looks the same.
"""

from __future__ import annotations

MARK = "…"


def shorten(text: str, limit: int, *, collapse: bool = False, mark: str = MARK) -> str:
    """``text`` if it fits in ``limit`` characters, else its start and ``mark`` (``limit`` characters in all).
    ``collapse`` first turns every run of whitespace into one space (answers of peers, free text)."""
    if collapse:
        text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(mark))] + mark


def quoted(value: object, limit: int = 120) -> str:
    """A value from a message in quotes (``repr``), cut at ``limit`` with its full length named."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"{MARK} ({len(text)} characters)"
