"""SMS, voice calls and staff robots: one notice to one phone number or group."""

from __future__ import annotations

import httpx

from alerting.channels import aliyun, robots, texts
from alerting.channels.aliyun import Aliyun
from alerting.channels.base import Outcome, failed, fit
from alerting.channels.tencent import TencentSms
from eldercare.settings import Settings


class Senders:
    """The configured providers; `send` never raises for delivery problems."""

    def __init__(self, settings: Settings, http: httpx.Client):
        s = settings
        self.settings = s
        self.http = http
        self.templates = s.alerting_templates
        self.aliyun = Aliyun(
            http,
            access_key_id=s.alerting_aliyun_access_key_id,
            access_key_secret=s.alerting_aliyun_access_key_secret.get_secret_value(),
            sms_endpoint=s.alerting_aliyun_sms_endpoint,
            voice_endpoint=s.alerting_aliyun_voice_endpoint,
            sign_name=s.alerting_aliyun_sign_name,
            show_number=s.alerting_aliyun_show_number,
        )
        self.tencent = TencentSms(
            http,
            secret_id=s.alerting_tencent_secret_id,
            secret_key=s.alerting_tencent_secret_key.get_secret_value(),
            endpoint=s.alerting_tencent_sms_endpoint,
            region=s.alerting_tencent_region,
            app_id=s.alerting_tencent_sms_app_id,
            sign_name=s.alerting_tencent_sign_name,
        )
        self.robots = {
            "dingtalk": (s.alerting_dingtalk_url, s.alerting_dingtalk_secret.get_secret_value()),
            "wecom": (s.alerting_wecom_url, ""),
            "feishu": (s.alerting_feishu_url, s.alerting_feishu_secret.get_secret_value()),
        }

    def send(self, channel: str, key: str, payload: dict) -> Outcome:
        """Send one notice on `channel` (sms, voice, dingtalk, wecom, feishu)."""
        if channel in robots.ROBOTS:
            url, secret = self.robots[channel]
            if not url:
                return failed(f"no {channel} robot configured", retry=True)
            body = payload.get("text") or _storm_text(payload)
            return robots.send(self.http, channel, url, secret, body)
        msg = payload.get("message")
        phone = payload.get("to")
        if msg is None or not phone:
            return failed("notice has no message or number", retry=False)
        template = self.templates.get(msg["msg_id"])
        if not template:
            # A person must register the template: keep it pending so the deadline alert fires.
            return failed(f"no provider template for {msg['msg_id']}", retry=True)
        limit = self.settings.alerting_sms_param_max_chars
        if channel == "voice":
            limit = min(limit, aliyun.MAX_PARAM_CHARS)
            params = {k: fit(v, limit) for k, v in msg["params"].items()}
            return self.aliyun.call_tts(phone=phone, template=template, params=params, out_id=key)
        if self.settings.alerting_sms_provider == "tencent":
            ordered = [fit(msg["params"][k], limit) for k in texts.placeholders(msg["msg_id"])]
            return self.tencent.send_sms(phone=phone, template=template, params=ordered, out_id=key)
        params = {k: fit(v, min(limit, aliyun.MAX_PARAM_CHARS)) for k, v in msg["params"].items()}
        return self.aliyun.send_sms(phone=phone, template=template, params=params, out_id=key)


def _storm_text(payload: dict) -> str:
    """A grouped storm message: the count and the first alert's title (no personal data)."""
    alerts = payload.get("alerts") or [{}]
    return texts.text(
        "notice.storm.robot",
        title=alerts[0].get("title", ""),
        grid=alerts[0].get("grid_name") or "",
        count=payload.get("count", len(alerts)),
    )
