"""Staff group robots: DingTalk, WeCom (企业微信) and Feishu custom bots, signed as each documents.

- DingTalk: `?timestamp=<ms>&sign=<urlencoded base64 HMAC-SHA256(key=secret,
  msg="<ms>\\n<secret>")>` added to the webhook URL; answer `errcode` 0 (130101: too fast).
- Feishu: body fields `timestamp` (s) and `sign` = base64 HMAC-SHA256(key="<s>\\n<secret>",
  msg=""); answer `code` 0 (11232: frequency limited).
- WeCom: no signature; the webhook key in the URL is the secret; answer `errcode` 0
  (45009: frequency limited); a text may hold 2048 bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import quote_plus

import httpx
import orjson

from alerting.channels.base import Outcome, failed, fit_bytes

ROBOTS = ("dingtalk", "wecom", "feishu")
THROTTLED = {"dingtalk": 130101, "wecom": 45009, "feishu": 11232}
MAX_TEXT_BYTES = {"dingtalk": 20000, "wecom": 2048, "feishu": 30000}


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return quote_plus(base64.b64encode(mac.digest()).decode())


def feishu_sign(secret: str, timestamp_s: int) -> str:
    mac = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def send(http: httpx.Client, robot: str, url: str, secret: str, text: str) -> Outcome:
    """Post `text` to a group through its robot; delivered when the robot answers 0."""
    text = fit_bytes(text, MAX_TEXT_BYTES[robot])
    body: dict
    if robot == "feishu":
        body = {"msg_type": "text", "content": {"text": text}}
        if secret:
            now_s = int(time.time())
            body.update(timestamp=str(now_s), sign=feishu_sign(secret, now_s))
    else:
        body = {"msgtype": "text", "text": {"content": text}}
        if robot == "dingtalk" and secret:
            now_ms = int(time.time() * 1000)
            joiner = "&" if "?" in url else "?"
            url = f"{url}{joiner}timestamp={now_ms}&sign={dingtalk_sign(secret, now_ms)}"
    try:
        response = http.post(url, content=orjson.dumps(body), headers=_JSON)
    except httpx.HTTPError as exc:
        return Outcome(False, True, f"{type(exc).__name__}: {exc}")
    if response.status_code != 200:
        return failed(f"HTTP {response.status_code}", retry=True)
    try:
        answer = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return failed("answer not JSON", retry=True)
    code = answer.get("code" if robot == "feishu" else "errcode", -1)
    if code == 0:
        return Outcome(True, False)
    reason = f"{code}: {answer.get('msg' if robot == 'feishu' else 'errmsg', '')}"
    if code == THROTTLED[robot]:
        return failed(f"throttled ({reason})", retry=True)
    # A wrong signature, keyword or token needs a person to fix the configuration; retrying
    # keeps the notice pending, so the deadline alert still fires for an emergency.
    return failed(reason, retry=True)


_JSON = {"Content-Type": "application/json"}
