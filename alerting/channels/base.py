"""What every channel returns, and the length rules texts must keep."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Outcome:
    """One attempt: delivered, or accepted and awaiting a receipt (sent), or failed.

    `retry`: the failure may pass (5xx, throttled, no answer); otherwise the message itself
    was refused (an invalid number) and sending it again cannot help.
    """

    delivered: bool
    retry: bool
    error: str | None = None
    sent: bool = False
    ref: str | None = None  # the provider's id of the message, to match its receipt


def accepted(ref: str) -> Outcome:
    """The provider took the message; its delivery receipt will say whether it arrived."""
    return Outcome(False, False, None, sent=True, ref=ref)


def failed(error: str, *, retry: bool) -> Outcome:
    return Outcome(False, retry, error)


def fit(value: object, max_chars: int) -> str:
    """`value` as text of at most `max_chars` characters (cut with an ellipsis)."""
    s = "" if value is None else str(value)
    return s if len(s) <= max_chars else s[: max_chars - 1] + "…"


def fit_bytes(value: str, max_bytes: int) -> str:
    """`value` cut to at most `max_bytes` of UTF-8 without splitting a character."""
    raw = value.encode()
    if len(raw) <= max_bytes:
        return value
    return raw[: max_bytes - 3].decode(errors="ignore") + "…"
