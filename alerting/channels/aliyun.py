"""Alibaba Cloud SMS (Dysmsapi SendSms) and voice TTS calls (Dyvmsapi SingleCallByTts).

Both are RPC-style APIs signed as Alibaba Cloud documents (SignatureVersion 1.0): the
parameters sorted by name, each name and value percent-encoded (RFC 3986, `~` kept, space as
%20), joined with `&`; the string to sign is `POST&%2F&` + percent-encode(that); the signature
is base64(HMAC-SHA1(AccessKeySecret + "&", string to sign)).
Answers: `Code` "OK" (with BizId / CallId), `isv.BUSINESS_LIMIT_CONTROL` or `Throttling*`
(throttled: retried), `isv.MOBILE_NUMBER_ILLEGAL` (invalid number: not retried), `isp.*`
(the provider's own failure: retried), any other `isv.*` (our request is wrong: not retried).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime
from urllib.parse import quote

import httpx
import orjson

from alerting.channels.base import Outcome, accepted, failed

# A notification template's variable may hold at most 35 characters (Alibaba Cloud SMS rules).
MAX_PARAM_CHARS = 35


def percent_encode(value: str) -> str:
    return quote(value, safe="~")


def rpc_signature(params: dict[str, str], secret: str, method: str = "POST") -> str:
    """The `Signature` parameter of an RPC request with these parameters."""
    canonical = "&".join(
        f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items())
    )
    to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class Aliyun:
    """One Alibaba Cloud account: sends SMS and TTS calls through its RPC endpoints."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        access_key_id: str,
        access_key_secret: str,
        sms_endpoint: str,
        voice_endpoint: str,
        sign_name: str,
        show_number: str,
    ):
        self.http = http
        self.key_id = access_key_id
        self.secret = access_key_secret
        self.sms_endpoint = sms_endpoint
        self.voice_endpoint = voice_endpoint
        self.sign_name = sign_name
        self.show_number = show_number

    def send_sms(self, *, phone: str, template: str, params: dict, out_id: str) -> Outcome:
        """SendSms; accepted with the BizId its receipt will carry."""
        request = {
            "Action": "SendSms",
            "Version": "2017-05-25",
            "PhoneNumbers": phone,
            "SignName": self.sign_name,
            "TemplateCode": template,
            "TemplateParam": orjson.dumps(params).decode(),
            "OutId": out_id,
        }
        return self._call(self.sms_endpoint, request, "BizId")

    def call_tts(self, *, phone: str, template: str, params: dict, out_id: str) -> Outcome:
        """SingleCallByTts: a phone call reading the template aloud; accepted with its CallId."""
        request = {
            "Action": "SingleCallByTts",
            "Version": "2017-05-25",
            "CalledShowNumber": self.show_number,
            "CalledNumber": phone,
            "TtsCode": template,
            "TtsParam": orjson.dumps(params).decode(),
            "PlayTimes": "2",
            "OutId": out_id,
        }
        return self._call(self.voice_endpoint, request, "CallId")

    def _call(self, endpoint: str, request: dict[str, str], ref_field: str) -> Outcome:
        params = {
            **request,
            "Format": "JSON",
            "AccessKeyId": self.key_id,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0",
            "SignatureNonce": uuid.uuid4().hex,
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "RegionId": "cn-hangzhou",
        }
        params["Signature"] = rpc_signature(params, self.secret)
        try:
            response = self.http.post(endpoint, data=params)
        except httpx.HTTPError as exc:
            return failed(f"{type(exc).__name__}: {exc}", retry=True)
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return failed(f"HTTP {response.status_code}: not JSON", retry=True)
        code = str(answer.get("Code", ""))
        if code == "OK" and answer.get(ref_field):
            return accepted(str(answer[ref_field]))
        reason = f"{code}: {answer.get('Message', '')}"
        if code == "isv.MOBILE_NUMBER_ILLEGAL":
            return failed(f"invalid number ({reason})", retry=False)
        throttled = code == "isv.BUSINESS_LIMIT_CONTROL" or code.startswith("Throttling")
        if throttled:
            return failed(f"throttled ({reason})", retry=True)
        return failed(reason, retry=not code.startswith("isv."))
