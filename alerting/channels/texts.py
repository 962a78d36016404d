"""What a notice says, from the message catalogue: Chinese by default, English on request.

A text is a message id and its parameters (`{"msg_id": ..., "params": {...}}`): robots and the
120 webhook get the text itself; SMS and voice providers get the template registered for the
message id and the parameters, each cut to the provider's variable length.
Family texts never carry a position.
"""

from __future__ import annotations

from string import Formatter

from eldercare.i18n import DEFAULT_LOCALE, local_time, text

URGENT = ("sos", "fall")
STAFF = ("grid_worker", "community_director", "street", "duty_console")


def _kind(rule: str, title: str, locale: str) -> str:
    return text(f"notice.kind.{rule}", locale) if rule in URGENT else title


def position_text(location: dict | None, locale: str) -> str:
    """The position as a person reads it (GCJ-02, what Chinese map apps show)."""
    if not location:
        return text("notice.unknown", locale)
    gcj = location["gcj02"]
    acc = location.get("accuracy_m")
    return text(
        "notice.position",
        locale,
        lat=f"{gcj['lat']:.5f}",
        lon=f"{gcj['lon']:.5f}",
        acc=text("notice.unknown", locale) if acc is None else f"{acc:.0f}",
    )


def nearest_contact(contacts: list[dict], locale: str) -> str:
    if not contacts:
        return text("notice.unknown", locale)
    first = contacts[0]
    return text(
        "notice.contact",
        locale,
        name=first["name"],
        relation=first["relation"] or "",
        phone=first["phone"],
    )


def message(
    *,
    alert: dict,
    target: str,
    channel: str,
    case: dict | None,
    locale: str = DEFAULT_LOCALE,
) -> dict:
    """The message id and parameters of one notice (`case`: the 120 payload, for emergencies)."""
    style = "robot" if channel in ("dingtalk", "wecom", "feishu") else channel
    unknown = text("notice.unknown", locale)
    params = {
        "name": alert.get("full_name") or unknown,
        "time": local_time(alert["opened_at"]),
        "kind": _kind(alert["rule"], alert["title"], locale),
        "title": alert["title"],
        "address": alert.get("address") or unknown,
        "grid": alert.get("grid_name") or unknown,
    }
    if alert["rule"] == "emergency_unreached":
        emergencies = (alert.get("details") or {}).get("emergencies") or [{}]
        first = emergencies[0]
        resident = first.get("resident") or {}
        params.update(
            name=resident.get("name") or unknown,
            kind=_kind(first.get("kind", ""), alert["title"], locale),
            address=resident.get("address") or unknown,
            position=position_text(first.get("location"), locale),
            medical_notes=resident.get("medical_notes") or unknown,
            contact=nearest_contact(first.get("emergency_contacts") or [], locale),
        )
        msg_id = f"notice.unreached.{style}"
    elif target == "gateway_120" and case is not None:
        resident = case["resident"]
        params.update(
            sex=resident.get("sex") or unknown,
            age=resident.get("age") or unknown,
            position=position_text(case.get("location"), locale),
            medical_notes=resident.get("medical_notes") or unknown,
            contact=nearest_contact(case.get("emergency_contacts") or [], locale),
        )
        msg_id = "notice.120.text"
    elif target == "family":
        msg_id = f"notice.family.{'voice' if channel == 'voice' else 'sms'}"
    elif alert["rule"] in URGENT or channel == "voice":
        msg_id = f"notice.staff.{style}"
    else:
        msg_id = f"notice.alert.{'robot' if style == 'robot' else 'sms'}"
    names = placeholders(msg_id)
    return {"msg_id": msg_id, "locale": locale, "params": {k: str(params[k]) for k in names}}


def placeholders(msg_id: str) -> list[str]:
    """The template's variables in the order the Chinese text uses them (Tencent's {1}, {2}...)."""
    seen: list[str] = []
    for _, field, _, _ in Formatter().parse(text(msg_id)):
        if field and field not in seen:
            seen.append(field)
    return seen


def render(msg: dict) -> str:
    """The text of a message, as a robot or the 120 gateway shows it."""
    return text(msg["msg_id"], msg["locale"], **msg["params"])
