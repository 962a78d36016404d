"""Delivery receipts (status reports) pushed by the providers, recorded on the notice.

- Alibaba Cloud SMS (SmsReport): a JSON array of `{biz_id, out_id, success, err_code, err_msg,
  phone_number, report_time, ...}`; answer `{"code": 0, "msg": "成功"}`.
- Alibaba Cloud voice (VoiceReport): `{call_id, out_id, status_code, status_msg, ...}`;
  status_code 200000 = the call was answered and played.
- Tencent Cloud SMS: a JSON array of `{sid, report_status: SUCCESS|FAIL, errmsg, description,
  mobile, user_receive_time, ...}`; answer `{"result": 0, "errmsg": "OK"}`.
A receipt names the provider's id (BizId / CallId / SerialNo) stored as `outbox.provider_ref`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.types.json import Jsonb

from alerting.alerts.changes import record
from alerting.channels import routing

log = logging.getLogger(__name__)

ANSWERS = {
    "aliyun": {"code": 0, "msg": "成功"},
    "tencent": {"result": 0, "errmsg": "OK"},
}


@dataclass
class Receipt:
    ref: str
    delivered: bool
    reason: str
    raw: dict


class BadReceipt(ValueError):
    """A receipt body that is not what the provider documents."""


def parse(provider: str, kind: str, body: object) -> list[Receipt]:
    """The receipts in one pushed body (aliyun/sms, aliyun/voice or tencent/sms)."""
    items = body if isinstance(body, list) else [body]
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise BadReceipt("a receipt must be a JSON object")
        try:
            if (provider, kind) == ("aliyun", "sms"):
                ok = item["success"] in (True, "true")
                out.append(Receipt(str(item["biz_id"]), ok, _reason(item, "err_code"), item))
            elif (provider, kind) == ("aliyun", "voice"):
                ok = str(item["status_code"]) == "200000"
                out.append(Receipt(str(item["call_id"]), ok, _reason(item, "status_code"), item))
            elif (provider, kind) == ("tencent", "sms"):
                ok = item["report_status"] == "SUCCESS"
                out.append(Receipt(str(item["sid"]), ok, _reason(item, "errmsg"), item))
            else:
                raise BadReceipt(f"no receipts from {provider}/{kind}")
        except KeyError as exc:
            raise BadReceipt(f"receipt field {exc} missing") from None
    return out


def _reason(item: dict, field: str) -> str:
    detail = item.get("err_msg") or item.get("status_msg") or item.get("description") or ""
    return f"{item.get(field)}: {detail}".strip()


def apply(conn: psycopg.Connection, receipts: list[Receipt], *, now: datetime) -> int:
    """Record receipts on their notices and timelines; return how many matched a notice."""
    matched = 0
    with conn.transaction():
        for receipt in receipts:
            row = conn.execute(
                """UPDATE outbox SET receipt = %s,
                       status = CASE WHEN status IN ('sent', 'pending', 'failed')
                                     THEN %s ELSE status END,
                       delivered_at = CASE WHEN %s THEN %s ELSE delivered_at END,
                       last_error = CASE WHEN %s THEN last_error ELSE %s END
                   WHERE provider_ref = %s
                   RETURNING outbox_id, alert_id, channel, idempotency_key, target, chain_key,
                             chain_pos""",
                (
                    Jsonb(receipt.raw),
                    "delivered" if receipt.delivered else "failed",
                    receipt.delivered,
                    now,
                    receipt.delivered,
                    receipt.reason,
                    receipt.ref,
                ),
            ).fetchone()
            if row is None:
                log.warning("receipt for unknown message %s ignored", receipt.ref)
                continue
            matched += 1
            _, alert_id, channel, key, target, chain_key, pos = row
            if receipt.delivered:
                routing.after_delivery(conn, chain_key=chain_key, pos=pos)
            else:
                log.warning("notice %s to %s (%s) not delivered: %s", key, channel, target,
                            receipt.reason)  # fmt: skip
                routing.after_failure(conn, chain_key=chain_key, pos=pos, now=now)
            if alert_id is not None:
                data = {"target": target, "channel": channel, "idempotency_key": key,
                        "receipt": True}  # fmt: skip
                if not receipt.delivered:
                    data["reason"] = receipt.reason
                kind = "delivered" if receipt.delivered else "delivery_failed"
                record(conn, alert_id=alert_id, at=now, actor="dispatcher", kind=kind, data=data)
    return matched
