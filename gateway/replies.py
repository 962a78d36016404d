"""What the gateway says to a watch: replies to its messages and our commands (pure)."""

from __future__ import annotations

from gateway.messages import Binary, Init, Link, Message, Position, Query

PHONE_MAX = 20


def reply_to(message: Message) -> bytes | None:
    """The reply content a watch waits for after `message`, or None if it waits for none."""
    if isinstance(message, Link):
        return b"LK"
    if isinstance(message, Init):
        return b"INIT,1"
    if isinstance(message, Query):
        return message.command.encode()
    if isinstance(message, Position) and message.alarm:
        return b"AL"  # otherwise the watch re-sends the alarm
    if isinstance(message, Binary) and message.command == "TK":
        return b"TK,1"
    return None


def locate_now() -> bytes:
    """`CR`: report a position at once."""
    return b"CR"


def upload_interval(seconds: int) -> bytes:
    """`UPLOAD,<s>`: the position reporting interval."""
    return b"UPLOAD,%d" % seconds


def sos_numbers(numbers: list[str]) -> list[bytes]:
    """`SOS1..3,<number>`: the numbers the SOS button calls, in order."""
    return [b"SOS%d,%s" % (i, _phone(n)) for i, n in enumerate(numbers[:3], start=1)]


def centre_number(number: str) -> bytes:
    """`CENTER,<number>`: the number allowed to command the watch by SMS."""
    return b"CENTER," + _phone(number)


def show_message(text: str) -> bytes:
    """`MESSAGE,<hex>`: text shown on the watch, UTF-16BE in hex."""
    return b"MESSAGE," + text.encode("utf-16-be").hex().upper().encode()


def _phone(number: str) -> bytes:
    if not (number.lstrip("+").isdigit() and len(number) <= PHONE_MAX):
        raise ValueError(f"not a phone number: {number!r}")
    return number.encode()
