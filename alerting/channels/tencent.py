"""Tencent Cloud SMS (SendSms, API 2021-01-11), signed with TC3-HMAC-SHA256 as documented.

Canonical request: `POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:<host>\n\n`
`content-type;host\n` + hex SHA-256 of the body. String to sign: `TC3-HMAC-SHA256\n<timestamp>\n`
`<date>/sms/tc3_request\n` + hex SHA-256 of the canonical request. Key: HMAC-SHA256 chained
over "TC3"+SecretKey, the UTC date, "sms", "tc3_request".
Answers: `SendStatusSet[0].Code` "Ok" (with SerialNo, which receipts name as `sid`),
`LimitExceeded.*` (throttled: retried), `InvalidParameterValue.IncorrectPhoneNumber`
(invalid number: not retried); `Response.Error` (signature, auth, internal errors).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import orjson

from alerting.channels.base import Outcome, accepted, failed

SERVICE = "sms"
VERSION = "2021-01-11"
CONTENT_TYPE = "application/json; charset=utf-8"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def tc3_authorization(
    *, secret_id: str, secret_key: str, host: str, body: bytes, timestamp: int
) -> str:
    """The Authorization header of a POST of `body` (JSON) to `host` at `timestamp`."""
    day = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:{CONTENT_TYPE}\nhost:{host}\n",
            "content-type;host",
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{day}/{SERVICE}/tc3_request"
    to_sign = "\n".join(
        [
            "TC3-HMAC-SHA256",
            str(timestamp),
            scope,
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), day), SERVICE), "tc3_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, "
        f"SignedHeaders=content-type;host, Signature={signature}"
    )


class TencentSms:
    """One Tencent Cloud SMS application."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        secret_id: str,
        secret_key: str,
        endpoint: str,
        region: str,
        app_id: str,
        sign_name: str,
    ):
        self.http = http
        self.secret_id = secret_id
        self.secret_key = secret_key
        self.endpoint = endpoint
        self.host = urlsplit(endpoint).netloc
        self.region = region
        self.app_id = app_id
        self.sign_name = sign_name

    def send_sms(self, *, phone: str, template: str, params: list[str], out_id: str) -> Outcome:
        """SendSms to one number (E.164, +86 added to mainland numbers); accepted with SerialNo."""
        body = orjson.dumps(
            {
                "PhoneNumberSet": [phone if phone.startswith("+") else f"+86{phone}"],
                "SmsSdkAppId": self.app_id,
                "SignName": self.sign_name,
                "TemplateId": template,
                "TemplateParamSet": params,
                "SessionContext": out_id,
            }
        )
        timestamp = int(time.time())
        headers = {
            "Authorization": tc3_authorization(
                secret_id=self.secret_id,
                secret_key=self.secret_key,
                host=self.host,
                body=body,
                timestamp=timestamp,
            ),
            "Content-Type": CONTENT_TYPE,
            "Host": self.host,
            "X-TC-Action": "SendSms",
            "X-TC-Version": VERSION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": self.region,
        }
        try:
            response = self.http.post(self.endpoint, content=body, headers=headers)
            answer = orjson.loads(response.content).get("Response", {})
        except httpx.HTTPError as exc:
            return failed(f"{type(exc).__name__}: {exc}", retry=True)
        except (orjson.JSONDecodeError, AttributeError):
            return failed(f"HTTP {response.status_code}: not JSON", retry=True)
        if "Error" in answer:
            error = answer["Error"]
            code = str(error.get("Code", ""))
            return failed(f"{code}: {error.get('Message', '')}", retry=_retryable(code))
        status = (answer.get("SendStatusSet") or [{}])[0]
        code = str(status.get("Code", ""))
        if code == "Ok" and status.get("SerialNo"):
            return accepted(str(status["SerialNo"]))
        reason = f"{code}: {status.get('Message', '')}"
        if code == "InvalidParameterValue.IncorrectPhoneNumber":
            return failed(f"invalid number ({reason})", retry=False)
        if code.startswith("LimitExceeded"):
            return failed(f"throttled ({reason})", retry=True)
        return failed(reason, retry=_retryable(code))


def _retryable(code: str) -> bool:
    """Tencent's own or passing troubles are retried; a request it refuses is not."""
    return code.startswith(("InternalError", "LimitExceeded", "RequestLimitExceeded")) or (
        code in ("FailedOperation.ServiceSuspend", "")
    )
