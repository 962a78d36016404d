"""The one message catalogue: every text a person reads, Simplified Chinese first, English second.

Texts live in gettext catalogues, `eldercare/locale/{locale}/LC_MESSAGES/*.po`, one file per
area (console, notices, errors, ...), all merged into one catalogue per locale. Message ids
are stable symbolic names (`rule.tachycardia.title`), never English sentences, so a text
can change without touching the code. Placeholders are `str.format` fields: `{bpm}`.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, negotiate_locale
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DEFAULT_LOCALE = "zh_CN"
LOCALES = ("zh_CN", "en")
DEFAULT_TIME_ZONE = "Asia/Shanghai"


class UnknownMessage(KeyError):
    """A message id that the catalogue does not have."""


@cache
def catalogue(locale: str) -> dict[str, str]:
    """Every message of one locale, id -> text (merged from all .po files of that locale)."""
    if locale not in LOCALES:
        raise ValueError(f"unsupported locale {locale!r}; supported: {', '.join(LOCALES)}")
    texts: dict[str, str] = {}
    for po_path in sorted((LOCALE_DIR / locale / "LC_MESSAGES").glob("*.po")):
        with po_path.open("rb") as po_file:
            for message in read_po(po_file, locale=Locale.parse(locale)):
                if not message.id or not message.string:
                    continue
                if message.id in texts:
                    raise ValueError(f"message id {message.id!r} is defined twice ({po_path})")
                texts[str(message.id)] = str(message.string)
    return texts


def message_ids() -> set[str]:
    """Ids that have a text in every supported locale."""
    return set.intersection(*(set(catalogue(loc)) for loc in LOCALES))


def text(msg_id: str, locale: str = DEFAULT_LOCALE, /, **params: object) -> str:
    """The text of `msg_id` in `locale`, with its placeholders filled from `params`."""
    try:
        template = catalogue(locale)[msg_id]
    except KeyError:
        raise UnknownMessage(msg_id) from None
    return template.format(**params) if params else template


def negotiate(accept_language: str | None, preferred: str | None = None) -> str:
    """The locale to use: the account's choice, else the browser's, else Chinese."""
    if preferred in LOCALES:
        return preferred
    if accept_language:
        parts = accept_language.split(",")
        wanted = [part.split(";")[0].strip().replace("-", "_") for part in parts]
        found = negotiate_locale([w for w in wanted if w], list(LOCALES) + ["zh"], sep="_")
        if found:
            return DEFAULT_LOCALE if found.startswith("zh") else found
    return DEFAULT_LOCALE


def local_time(moment: datetime, time_zone: str | None = None) -> str:
    """`YYYY-MM-DD HH:MM`, 24-hour, in the resident's zone (Asia/Shanghai by default)."""
    try:
        zone = ZoneInfo(time_zone or DEFAULT_TIME_ZONE)
    except (KeyError, ValueError):
        zone = ZoneInfo(DEFAULT_TIME_ZONE)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")
