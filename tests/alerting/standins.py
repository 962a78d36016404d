"""Local stand-ins for the cloud providers: they check each request's signature the way the
provider documents it (written here independently of alerting/channels) and answer as the
provider does. `answers` maps a phone number to ok / throttled / invalid / failure."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

import orjson

ALIYUN_ANSWERS = {
    "throttled": {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控Permits:1"},
    "invalid": {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号"},
    "failure": {"Code": "isp.SYSTEM_ERROR", "Message": "isp.SYSTEM_ERROR"},
}
TENCENT_ANSWERS = {
    "throttled": (
        "LimitExceeded.PhoneNumberThirtySecondLimit",
        "单个手机号30秒内下发短信条数超过设定的上限",
    ),
    "invalid": ("InvalidParameterValue.IncorrectPhoneNumber", "手机号格式错误"),
    "failure": ("FailedOperation.InsufficientBalanceInSmsPackage", "套餐包余量不足"),
}
_ids = itertools.count(1)


@dataclass
class StandIn:
    """A provider on loopback; `requests` holds what it accepted (after its checks)."""

    secret: str = "test-secret"  # noqa: S105
    key_id: str = "test-key-id"
    answers: dict[str, str] = field(default_factory=dict)
    requests: list[dict] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    def start(self) -> StandIn:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, answer = stand_in.handle(self.path, dict(self.headers), body)
                raw = orjson.dumps(answer)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, path: str, headers: dict, body: bytes) -> tuple[int, dict]:
        raise NotImplementedError


class AliyunStandIn(StandIn):
    """Dysmsapi / Dyvmsapi RPC: form-encoded POST, SignatureVersion 1.0 (HMAC-SHA1)."""

    nonces: set = set()

    def handle(self, path, headers, body):
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        signature = form.pop("Signature", "")

        def enc(s: str) -> str:  # RFC 3986: unreserved characters kept, the rest %XX
            return quote(s, safe="-_.~")

        query = "&".join(f"{enc(k)}={enc(form[k])}" for k in sorted(form))
        string_to_sign = "POST&%2F&" + enc(query)
        expected = base64.b64encode(
            hmac.new((self.secret + "&").encode(), string_to_sign.encode(), hashlib.sha1).digest()
        ).decode()
        sent_at = datetime.strptime(form.get("Timestamp", ""), "%Y-%m-%dT%H:%M:%SZ")
        fresh = abs(time.time() - sent_at.replace(tzinfo=UTC).timestamp()) < 900
        nonce = form.get("SignatureNonce")
        if (
            not hmac.compare_digest(signature, expected)
            or form.get("AccessKeyId") != self.key_id
            or form.get("SignatureMethod") != "HMAC-SHA1"
            or form.get("SignatureVersion") != "1.0"
            or not fresh
            or nonce in self.nonces
        ):
            self.rejected.append(form.get("Action", "?"))
            return 400, {
                "Code": "SignatureDoesNotMatch",
                "Message": "Specified signature is not matched",
            }
        self.nonces.add(nonce)
        action = form["Action"]
        phone = form["PhoneNumbers"] if action == "SendSms" else form["CalledNumber"]
        params = orjson.loads(form["TemplateParam"] if action == "SendSms" else form["TtsParam"])
        self.requests.append({"action": action, "phone": phone, "params": params, "form": form})
        kind = self.answers.get(phone, "ok")
        if kind != "ok":
            return 200, {**ALIYUN_ANSWERS[kind], "RequestId": "req"}
        ref = f"{next(_ids)}^0"
        key = "BizId" if action == "SendSms" else "CallId"
        return 200, {"Code": "OK", "Message": "OK", key: ref, "RequestId": "req"}


class TencentStandIn(StandIn):
    """sms.tencentcloudapi.com SendSms 2021-01-11, TC3-HMAC-SHA256."""

    def handle(self, path, headers, body):
        h = {k.lower(): v for k, v in headers.items()}
        timestamp = int(h.get("x-tc-timestamp", "0"))
        day = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
        host = h.get("host", "")
        canonical_request = (
            f"POST\n/\n\ncontent-type:{h.get('content-type')}\nhost:{host}\n\n"
            f"content-type;host\n{hashlib.sha256(body).hexdigest()}"
        )
        scope = f"{day}/sms/tc3_request"
        string_to_sign = (
            f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n"
            + hashlib.sha256(canonical_request.encode()).hexdigest()
        )

        def mac(key: bytes, msg: str) -> bytes:
            return hmac.new(key, msg.encode(), hashlib.sha256).digest()

        signing_key = mac(mac(mac(("TC3" + self.secret).encode(), day), "sms"), "tc3_request")
        signature = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        expected = (
            f"TC3-HMAC-SHA256 Credential={self.key_id}/{scope}, "
            f"SignedHeaders=content-type;host, Signature={signature}"
        )
        if (
            h.get("authorization") != expected
            or h.get("x-tc-action") != "SendSms"
            or h.get("x-tc-version") != "2021-01-11"
            or abs(time.time() - timestamp) > 300
        ):
            self.rejected.append("SendSms")
            error = {"Code": "AuthFailure.SignatureFailure", "Message": "签名验证失败"}
            return 200, {"Response": {"Error": error, "RequestId": "req"}}
        request = orjson.loads(body)
        phone = request["PhoneNumberSet"][0]
        self.requests.append(
            {"phone": phone, "params": request["TemplateParamSet"], "body": request}
        )
        kind = self.answers.get(phone.removeprefix("+86"), "ok")
        serial = f"2640:{next(_ids)}"
        code, message = ("Ok", "send success") if kind == "ok" else TENCENT_ANSWERS[kind]
        status = {
            "SerialNo": serial if kind == "ok" else "",
            "PhoneNumber": phone,
            "Fee": 1 if kind == "ok" else 0,
            "SessionContext": request.get("SessionContext", ""),
            "Code": code,
            "Message": message,
            "IsoCode": "CN",
        }
        return 200, {"Response": {"SendStatusSet": [status], "RequestId": "req"}}


class DingTalkStandIn(StandIn):
    """A DingTalk custom robot with 加签: timestamp (ms, within an hour) and sign in the URL."""

    def handle(self, path, headers, body):
        query = parse_qs(urlsplit(path).query)
        timestamp = query.get("timestamp", ["0"])[0]
        string_to_sign = f"{timestamp}\n{self.secret}"
        expected = base64.b64encode(
            hmac.new(self.secret.encode(), string_to_sign.encode(), hashlib.sha256).digest()
        ).decode()
        if (
            query.get("access_token") != ["robot-token"]
            or query.get("sign", [""])[0] != expected
            or abs(time.time() * 1000 - int(timestamp)) > 3600_000
        ):
            self.rejected.append(path)
            return 200, {"errcode": 310000, "errmsg": "sign not match"}
        message = orjson.loads(body)
        self.requests.append({"text": message["text"]["content"], "body": message})
        return 200, {"errcode": 0, "errmsg": "ok"}


class FeishuStandIn(StandIn):
    """A Feishu custom bot with a signing secret: timestamp (s) and sign in the body."""

    def handle(self, path, headers, body):
        message = orjson.loads(body)
        timestamp = message.get("timestamp", "0")
        key = f"{timestamp}\n{self.secret}".encode()
        expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
        if message.get("sign") != expected or abs(time.time() - int(timestamp)) > 3600:
            self.rejected.append(path)
            return 200, {
                "code": 19021,
                "msg": "sign match fail or timestamp is not within one hour from current time",
            }
        self.requests.append({"text": message["content"]["text"], "body": message})
        return 200, {"code": 0, "msg": "success", "data": {}}


class WeComStandIn(StandIn):
    """A WeCom group robot: the key in the URL; a text of at most 2048 bytes."""

    def handle(self, path, headers, body):
        query = parse_qs(urlsplit(path).query)
        message = orjson.loads(body)
        content = message["text"]["content"]
        if query.get("key") != ["robot-key"]:
            self.rejected.append(path)
            return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
        if len(content.encode()) > 2048:
            return 200, {"errcode": 40058, "errmsg": "content exceed max length"}
        self.requests.append({"text": content, "body": message})
        return 200, {"errcode": 0, "errmsg": "ok"}
