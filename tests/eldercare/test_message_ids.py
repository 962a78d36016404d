"""Every message id the code and the pages use has a Chinese and an English text.

Ids used literally are found in the sources (`text("id"`, `t("id"`, `data-i18n="id"`); ids the
pages build from data (a rule's name, an error code, a timeline entry's kind) are checked for
every value the code can produce.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest

from alerting.engine import EVENT_RULES
from alerting.rules.bands import VITAL_RULES
from api import errors
from api.bookings import models as bookings
from api.family import service as family
from api.partners.models import OfferCreate, PartnerCreate
from eldercare import i18n

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("alerting", "api", "eldercare", "ingest", "simulators")
STATIC = [ROOT / "api" / "alerts" / "static", ROOT / "api" / "care" / "static"]
LITERAL_PY = re.compile(r"""\btext\(\s*["']([a-z0-9_]+(?:\.[a-z0-9_]+)+)["']""")
LITERAL_JS = re.compile(r"""\bt\(\s*["']([a-z0-9_]+(?:\.[a-z0-9_]+)+)["']""")
LITERAL_HTML = re.compile(r"""data-(?:i18n(?:-placeholder)?|text)=["']([a-z0-9_.]+)["']""")
RULE_LITERAL = re.compile(r"""rule="([a-z_0-9]+)\"""")
RULE_SPEC = re.compile(r"""\(\s*\n\s*"([a-z_]+)",\s*\n""")
RULE_EMIT = re.compile(r"""_emit\(\s*fleet,\s*"([a-z_]+)\"""")
KIND_LITERAL = re.compile(r"""kind="([a-z_]+)\"""")
KIND_TIMELINE = re.compile(r"""_timeline\(\s*conn,\s*alert_id,\s*\w+,\s*"([a-z_]+)\"""")


def _sources(suffixes: tuple[str, ...], roots: list[Path]) -> list[Path]:
    return [p for root in roots for p in root.rglob("*") if p.suffix in suffixes]


def _found(pattern: re.Pattern[str], paths: list[Path]) -> set[str]:
    return {m for p in paths for m in pattern.findall(p.read_text(encoding="utf-8"))}


def engine_rules() -> set[str]:
    """Every rule name the alerting package can open an alert under."""
    paths = _sources((".py",), [ROOT / "alerting"])
    rules = _found(RULE_LITERAL, paths) | _found(RULE_EMIT, paths) | set(EVENT_RULES)
    rules |= _found(RULE_SPEC, [ROOT / "alerting" / "rules" / "vitals.py"])
    return rules | {vital.rule for vital in VITAL_RULES}


def timeline_kinds() -> set[str]:
    """Every kind of entry the alerting package writes on an alert's timeline."""
    paths = _sources((".py",), [ROOT / "alerting" / "alerts"]) + [
        ROOT / "alerting" / "dispatcher.py"
    ]
    return _found(KIND_LITERAL, paths) | _found(KIND_TIMELINE, paths)


def error_codes() -> set[str]:
    codes = {
        cls.code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.ApiError)
    }
    app = (ROOT / "api" / "app.py").read_text(encoding="utf-8")
    return (
        codes
        | set(re.findall(r"""error_body\(\s*"([a-z_]+)\"""", app))
        | {"method_not_allowed", "http_error"}
        | set(re.findall(r"""_send_error\(\s*send,\s*\d+,\s*"([a-z_]+)\"""", app))
    )


def used_ids() -> set[str]:
    """Every id written literally in the code and the pages."""
    py = _sources((".py",), [ROOT / pkg for pkg in PACKAGES])
    js = _sources((".js",), STATIC)
    html = _sources((".html",), STATIC)
    js = [p for p in js if "vendor" not in p.parts]
    return _found(LITERAL_PY, py) | _found(LITERAL_JS, js) | _found(LITERAL_HTML, html)


def built_ids() -> set[str]:
    """Ids the pages build from data, for every value the system can produce."""
    ids = {f"rule.{r}.{part}" for r in engine_rules() for part in ("name", "title")}
    ids |= {f"timeline.{k}" for k in timeline_kinds()} | {"timeline.unassigned"}
    ids |= {f"error.{code}" for code in error_codes()}
    ids |= {f"severity.{n}" for n in range(1, 5)}
    ids |= {f"status.{s}" for s in ("open", "acknowledged", "resolved")}
    ids |= {f"console.conn.{s}" for s in ("live", "reconnecting", "offline")}
    ids |= {f"risk.{f}" for f in ("living_alone", "disabled", "low_income")}
    ids |= {f"sex.{s}" for s in ("female", "male", "other")}
    ids |= {f"fix_source.{s}" for s in ("gnss", "wifi", "cell")}
    ids |= {f"actor.{a}" for a in ("engine", "escalation", "dispatcher", "watchdog", "account")}
    ids |= {f"family.action.{kind}" for kind in family.SHOWN_KINDS}
    ids |= {f"booking_status.{s}" for s in get_args(bookings.Status)}
    ids |= {f"service.{code}" for code in service_codes()}
    ids |= {f"target.{target}" for target in escalation_targets()}
    ids |= care_page_ids()
    return ids


def care_page_ids() -> set[str]:
    """The care page's texts built from values: outcomes, groups, partner kinds, offers."""
    kinds = get_args(PartnerCreate.model_fields["kind"].annotation)
    categories = get_args(OfferCreate.model_fields["category"].annotation)
    return (
        {f"care.page.outcome.{o}" for o in ("reached", "not_reached", "needs_follow_up")}
        | {f"care.group.{g}" for g in ("living_alone", "disabled", "low_income")}
        | {f"care.page.partner.{k}" for k in kinds}
        | {f"care.page.offer.{c}" for c in categories}
    )


def escalation_targets() -> set[str]:
    """Every target an escalation policy in the migrations pages."""
    sql = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "migrations").glob("*.sql"))
    lists = re.findall(r'"targets":\s*\[([^\]]*)\]', sql)
    return {t for group in lists for t in re.findall(r'"([a-z_0-9]+)"', group)}


def service_codes() -> set[str]:
    """The service catalogue's codes, as the migrations insert them."""
    sql = (ROOT / "migrations" / "021_api_bookings_timebank.sql").read_text(encoding="utf-8")
    block = sql.split("INSERT INTO service_catalog", 1)[1].split(";", 1)[0]
    return set(re.findall(r"\('([a-z_]+)',", block))


def test_the_scan_finds_what_the_pages_use() -> None:
    """Guard against a scan that silently finds nothing."""
    assert {"console.login.failed", "care.page.tab.partners", "care.page.confirm"} <= used_ids()
    assert {"sos", "fall", "tachycardia", "geofence_exit", "hypertensive_crisis"} <= engine_rules()
    assert {"opened", "acknowledged", "note", "queued", "step_skipped"} <= timeline_kinds()
    assert {"not_found", "conflict", "payload_too_large"} <= error_codes()
    assert {"meal", "escort"} <= service_codes()
    assert {"duty_console", "gateway_120"} <= escalation_targets()


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_every_message_id_used_has_a_text_in_chinese_and_english(locale: str) -> None:
    missing = sorted((used_ids() | built_ids()) - set(i18n.catalogue(locale)))
    assert not missing, f"{locale} lacks: {missing}"


def test_a_chinese_text_is_not_the_english_one_left_untranslated() -> None:
    zh, en = i18n.catalogue("zh_CN"), i18n.catalogue("en")
    same = [k for k in built_ids() if zh.get(k) == en.get(k) and re.search("[a-z]{3}", en[k])]
    assert not same, f"not translated: {sorted(same)}"


def test_placeholders_are_the_same_in_both_languages() -> None:
    zh, en = i18n.catalogue("zh_CN"), i18n.catalogue("en")
    field = re.compile(r"\{(\w+)")
    differ = [k for k in zh if set(field.findall(zh[k])) != set(field.findall(en[k]))]
    assert not differ, differ
