"""IMEIs: 15 decimal digits, the last a Luhn check digit."""

from __future__ import annotations


def luhn_check_digit(body: str) -> int:
    """The Luhn digit that completes `body` (a string of digits)."""
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:  # doubled: rightmost digit of the body sits next to the check digit
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def is_valid_imei(value: str) -> bool:
    """True for 15 ASCII digits whose last one is the Luhn digit of the first 14."""
    if len(value) != 15 or not value.isascii() or not value.isdigit():
        return False
    return luhn_check_digit(value[:14]) == int(value[14])


def make_imei(serial: int, tac: str = "86000000") -> str:
    """A valid IMEI from an 8-digit type allocation code and a 6-digit serial number."""
    body = f"{tac}{serial % 1_000_000:06d}"
    return body + str(luhn_check_digit(body))
