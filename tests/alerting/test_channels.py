"""Channels per recipient: SMS, voice calls and robots against stand-ins that check signatures."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr

from alerting.alerts import service as alerts
from alerting.dispatcher import Dispatcher
from alerting.engine import Engine, apply_findings
from alerting.http import AlertingHttp
from alerting.metrics import AlertingMetrics
from eldercare.settings import RecipientPlan
from tests.alerting.factories import HOME, T0, add_contact, insert_event, make_resident
from tests.alerting.receivers import Receiver
from tests.alerting.standins import (
    AliyunStandIn,
    DingTalkStandIn,
    FeishuStandIn,
    TencentStandIn,
    WeComStandIn,
)
from tests.support.services import free_port

FAMILY_PHONE = "13900000001"
TEMPLATES = {
    "notice.family.sms": "SMS_900001",
    "notice.family.voice": "TTS_900002",
    "notice.staff.sms": "SMS_900003",
    "notice.unreached.sms": "SMS_900004",
    "notice.unreached.voice": "TTS_900005",
}


@pytest.fixture
def providers():
    started = {
        "aliyun": AliyunStandIn().start(),
        "tencent": TencentStandIn().start(),
        "dingtalk": DingTalkStandIn().start(),
        "feishu": FeishuStandIn().start(),
        "wecom": WeComStandIn().start(),
        "g120": Receiver().start(),
        "community": Receiver().start(),
    }
    yield started
    for stand_in in started.values():
        stand_in.stop()


def configure(settings, providers, recipients: dict, **more):
    """Settings whose providers are the stand-ins, with these recipient chains."""
    secret = SecretStr("test-secret")
    return settings.model_copy(
        update={
            "alerting_recipients": {
                kind: RecipientPlan(chain=chain, phones=phones)
                for kind, (chain, phones) in recipients.items()
            },
            "alerting_templates": TEMPLATES,
            "alerting_aliyun_access_key_id": "test-key-id",
            "alerting_aliyun_access_key_secret": secret,
            "alerting_aliyun_sms_endpoint": providers["aliyun"].url,
            "alerting_aliyun_voice_endpoint": providers["aliyun"].url,
            "alerting_aliyun_sign_name": "智慧养老",
            "alerting_tencent_secret_id": "test-key-id",
            "alerting_tencent_secret_key": secret,
            "alerting_tencent_sms_endpoint": providers["tencent"].url,
            "alerting_tencent_sms_app_id": "1400000001",
            "alerting_dingtalk_url": providers["dingtalk"].url
            + "robot/send?access_token=robot-token",
            "alerting_dingtalk_secret": secret,
            "alerting_feishu_url": providers["feishu"].url + "open-apis/bot/v2/hook/x",
            "alerting_feishu_secret": secret,
            "alerting_wecom_url": providers["wecom"].url + "cgi-bin/webhook/send?key=robot-key",
            "alerting_receipt_token": SecretStr("receipt-token-0123456789"),
            "alerting_gateway_120_url": providers["g120"].url,
            "alerting_community_gateway_url": providers["community"].url,
            **more,
        }
    )


def sos(db, settings, band, event_id="e-1", at=T0) -> int:
    engine = Engine(settings)
    engine.refresh(db, now=at)
    event = insert_event(db, band, event_id, "sos", at, *HOME, 8.0)
    (alert_id,) = apply_findings(db, engine.findings_from_events([event]), now=at)
    return alert_id


def kinds_for(db, alert_id, target) -> list[tuple[str, str | None]]:
    """(timeline kind, reason) of the notices to one target, oldest first."""
    return [
        (e["kind"], e["data"].get("reason"))
        for e in alerts.timeline(db, alert_id=alert_id)
        if e["data"].get("target") == target and e["kind"] != "queued"
    ]


@contextmanager
def receipt_server(settings):
    """The alerting HTTP server on a free port; yields its receipts URL prefix."""
    server = AlertingHttp(
        settings.model_copy(update={"alerting_http_port": free_port()}),
        AlertingMetrics().registry,
        clock=lambda: T0 + timedelta(seconds=20),
    )
    port = server.start()
    try:
        yield f"http://127.0.0.1:{port}/receipts"
    finally:
        server.stop()


def post_receipt(settings, path: str, body) -> httpx.Response:
    with receipt_server(settings) as url:
        token = settings.alerting_receipt_token.get_secret_value()
        return httpx.post(f"{url}/{path}/{token}", json=body)


def test_aliyun_sms_to_family_is_signed_carries_no_position_and_its_receipt_is_recorded(
    clean_alerts, new_band_ids, settings, redis_client, providers
):
    db = clean_alerts
    configured = configure(settings, providers, {"family": ([{"channel": "sms"}], [])})
    (band,) = new_band_ids(1)
    resident = make_resident(db, band, full_name="张桂兰")
    add_contact(db, resident, phone=FAMILY_PHONE)
    alert_id = sos(db, configured, band)
    Dispatcher(configured, redis_client).run_once(db, now=T0, channels=("sms",))
    assert providers["aliyun"].rejected == []
    (sms,) = providers["aliyun"].requests
    assert sms["action"] == "SendSms" and sms["phone"] == FAMILY_PHONE
    assert sms["form"]["TemplateCode"] == "SMS_900001"
    assert sms["form"]["SignName"] == "智慧养老"
    assert sms["params"] == {"name": "张桂兰", "time": "2026-11-23 08:00", "kind": "SOS紧急呼叫"}
    assert kinds_for(db, alert_id, "family") == [("sent", None)]

    biz_id = db.execute("SELECT provider_ref FROM outbox WHERE channel = 'sms'").fetchone()[0]
    receipt = {
        "phone_number": FAMILY_PHONE,
        "send_time": "2026-11-23 08:00:01",
        "report_time": "2026-11-23 08:00:05",
        "success": True,
        "err_code": "DELIVERED",
        "err_msg": "用户接收成功",
        "sms_size": "1",
        "biz_id": biz_id,
        "out_id": sms["form"]["OutId"],
    }
    answer = post_receipt(configured, "aliyun/sms", [receipt])
    assert answer.status_code == 200 and answer.json() == {"code": 0, "msg": "成功"}
    status, stored = db.execute(
        "SELECT status, receipt FROM outbox WHERE provider_ref = %s", (biz_id,)
    ).fetchone()
    assert status == "delivered" and stored["err_code"] == "DELIVERED"
    assert kinds_for(db, alert_id, "family") == [("sent", None), ("delivered", None)]


def test_receipts_with_a_wrong_token_or_a_bad_body_are_refused(clean_alerts, settings, providers):
    configured = configure(settings, providers, {})
    token = configured.alerting_receipt_token.get_secret_value()
    with receipt_server(configured) as url:
        guessed = httpx.post(f"{url}/aliyun/sms/guess", json=[])
        garbled = httpx.post(f"{url}/aliyun/sms/{token}", content=b"[{]")
        incomplete = httpx.post(f"{url}/tencent/sms/{token}", json=[{"sid": "1"}])
    assert guessed.status_code == 404
    unset = configured.model_copy(update={"alerting_receipt_token": SecretStr("")})
    with receipt_server(unset) as url:
        assert httpx.post(f"{url}/aliyun/sms/", json=[]).status_code == 404  # receipts off
    assert garbled.status_code == 400
    assert incomplete.status_code == 400 and "report_status" in incomplete.json()["detail"]


@pytest.mark.parametrize(
    ("provider", "answer", "expected", "retried"),
    [
        ("aliyun", "throttled", "throttled (isv.BUSINESS_LIMIT_CONTROL", True),
        ("aliyun", "invalid", "invalid number (isv.MOBILE_NUMBER_ILLEGAL", False),
        ("aliyun", "failure", "isp.SYSTEM_ERROR", True),
        ("tencent", "throttled", "throttled (LimitExceeded.PhoneNumberThirtySecondLimit", True),
        ("tencent", "invalid", "invalid number (InvalidParameterValue.IncorrectPhoneNumber", False),
        ("tencent", "failure", "FailedOperation.InsufficientBalanceInSmsPackage", False),
    ],
)
def test_each_provider_answer_is_handled(
    clean_alerts,
    new_band_ids,
    settings,
    redis_client,
    providers,
    provider,
    answer,
    expected,
    retried,
):
    db = clean_alerts
    configured = configure(
        settings,
        providers,
        {"family": ([{"channel": "sms"}], [])},
        alerting_sms_provider=provider,
    )
    providers[provider].answers[FAMILY_PHONE] = answer
    (band,) = new_band_ids(1)
    resident = make_resident(db, band)
    add_contact(db, resident, phone=FAMILY_PHONE)
    alert_id = sos(db, configured, band)
    Dispatcher(configured, redis_client).run_once(db, now=T0, channels=("sms",))
    assert providers[provider].rejected == []  # the signature was right
    assert len(providers[provider].requests) == 1
    ((kind, reason),) = kinds_for(db, alert_id, "family")
    assert kind == ("attempt_failed" if retried else "delivery_failed")
    assert reason.startswith(expected)
    status = db.execute("SELECT status FROM outbox WHERE channel = 'sms'").fetchone()[0]
    assert status == ("pending" if retried else "failed")


def test_tencent_sms_is_signed_with_tc3_and_its_receipt_is_recorded(
    clean_alerts, new_band_ids, settings, redis_client, providers
):
    db = clean_alerts
    configured = configure(
        settings, providers, {"family": ([{"channel": "sms"}], [])}, alerting_sms_provider="tencent"
    )
    (band,) = new_band_ids(1)
    resident = make_resident(db, band, full_name="张桂兰")
    add_contact(db, resident, phone=FAMILY_PHONE)
    alert_id = sos(db, configured, band)
    Dispatcher(configured, redis_client).run_once(db, now=T0, channels=("sms",))
    assert providers["tencent"].rejected == []
    (sms,) = providers["tencent"].requests
    assert sms["phone"] == "+86" + FAMILY_PHONE
    assert sms["body"]["TemplateId"] == "SMS_900001"
    # Tencent templates number their variables: {1} name, {2} time, {3} kind.
    assert sms["params"] == ["张桂兰", "2026-11-23 08:00", "SOS紧急呼叫"]
    serial = db.execute("SELECT provider_ref FROM outbox WHERE channel = 'sms'").fetchone()[0]
    receipt = {
        "user_receive_time": "2026-11-23 08:00:04",
        "nationcode": "86",
        "mobile": FAMILY_PHONE,
        "report_status": "FAIL",
        "errmsg": "MK:0005",
        "description": "用户关机",
        "sid": serial,
    }
    answer = post_receipt(configured, "tencent/sms", [receipt])
    assert answer.json() == {"result": 0, "errmsg": "OK"}
    assert kinds_for(db, alert_id, "family")[-1] == ("delivery_failed", "MK:0005: 用户关机")


def test_family_sms_not_delivered_within_two_minutes_falls_through_to_a_voice_call(
    clean_alerts, new_band_ids, settings, redis_client, providers
):
    db = clean_alerts
    chain = [{"channel": "sms", "within_s": 120}, {"channel": "voice"}]
    configured = configure(settings, providers, {"family": (chain, [])})
    (band,) = new_band_ids(1)
    resident = make_resident(db, band, full_name="张桂兰")
    add_contact(db, resident, phone=FAMILY_PHONE)
    alert_id = sos(db, configured, band)
    dispatcher = Dispatcher(configured, redis_client)
    for s in (0, 60, 119):
        dispatcher.run_once(db, now=T0 + timedelta(seconds=s), channels=("sms", "voice"))
    assert [r["action"] for r in providers["aliyun"].requests] == ["SendSms"]
    dispatcher.run_once(db, now=T0 + timedelta(seconds=121), channels=("sms", "voice"))
    actions = [r["action"] for r in providers["aliyun"].requests]
    assert actions == ["SendSms", "SingleCallByTts"]
    call = providers["aliyun"].requests[1]
    assert call["phone"] == FAMILY_PHONE and call["form"]["TtsCode"] == "TTS_900002"
    assert call["params"]["name"] == "张桂兰"
    assert [k for k, _ in kinds_for(db, alert_id, "family")] == ["sent", "sent"]


def test_a_delivered_sms_cancels_the_voice_call_and_an_invalid_number_calls_at_once(
    clean_alerts, new_band_ids, settings, redis_client, providers
):
    db = clean_alerts
    chain = [{"channel": "sms", "within_s": 120}, {"channel": "voice"}]
    configured = configure(settings, providers, {"family": (chain, [])})
    bands = new_band_ids(2)
    first = make_resident(db, bands[0])
    add_contact(db, first, phone=FAMILY_PHONE)
    second = make_resident(db, bands[1])
    add_contact(db, second, phone="13900000404")
    providers["aliyun"].answers["13900000404"] = "invalid"
    sos(db, configured, bands[0], "e-1")
    sos(db, configured, bands[1], "e-2")
    dispatcher = Dispatcher(configured, redis_client)
    dispatcher.run_once(db, now=T0, channels=("sms", "voice"))
    sent = [(r["action"], r["phone"]) for r in providers["aliyun"].requests]
    # The refused number is called at once, without waiting two minutes.
    assert ("SingleCallByTts", "13900000404") in sent
    biz_id = next(
        r[0]
        for r in db.execute("SELECT provider_ref FROM outbox WHERE status = 'sent'").fetchall()
        if r[0]
    )
    post_receipt(
        configured, "aliyun/sms", [{"biz_id": biz_id, "success": True, "err_code": "DELIVERED"}]
    )
    dispatcher.run_once(db, now=T0 + timedelta(seconds=200), channels=("sms", "voice"))
    calls = [r["phone"] for r in providers["aliyun"].requests if r["action"] == "SingleCallByTts"]
    assert FAMILY_PHONE not in calls


def test_family_phone_dingtalk_group_and_120_receive_the_right_chinese_texts(
    clean_alerts, new_band_ids, settings, redis_client, providers
):
    db = clean_alerts
    configured = configure(
        settings,
        providers,
        {
            "family": ([{"channel": "sms"}], []),
            "grid_worker": ([{"channel": "dingtalk"}, {"channel": "wecom"}], []),
            "duty_console": ([{"channel": "console"}, {"channel": "feishu"}], []),
        },
    )
    (band,) = new_band_ids(1)
    resident = make_resident(
        db, band, full_name="张桂兰", address="和谐路3号楼2单元501", medical_notes="华法林；房颤"
    )
    add_contact(db, resident, name="李伟", relation="儿子", phone=FAMILY_PHONE)
    sos(db, configured, band)
    Dispatcher(configured, redis_client).run_once(db, now=T0)
    (family,) = providers["aliyun"].requests
    assert family["phone"] == FAMILY_PHONE
    assert not any("北纬" in v or "和谐路" in v for v in family["params"].values())
    assert providers["dingtalk"].rejected == []
    (group,) = providers["dingtalk"].requests
    assert group["text"].startswith("【SOS紧急呼叫】张桂兰，2026-11-23 08:00")
    assert "地址：和谐路3号楼2单元501" in group["text"]
    assert providers["wecom"].requests == []  # DingTalk delivered: the next link is not needed
    (call_120,) = providers["g120"].received
    text_120 = call_120.json["text"]
    assert text_120.startswith("【SOS紧急呼叫】张桂兰，female，85岁。地址：和谐路3号楼2单元501。")
    assert "位置：北纬41.10" in text_120 and "病史：华法林；房颤" in text_120
    assert "紧急联系人：李伟（儿子）13900000001" in text_120


def test_unreached_emergency_pages_the_director_on_every_channel_at_once(
    clean_alerts, new_band_ids, settings, redis_client, providers
):
    from alerting.alerts import unreached

    db = clean_alerts
    director = [{"channel": "dingtalk"}, {"channel": "sms"}, {"channel": "voice"}]
    configured = configure(settings, providers, {"community_director": (director, ["13700000001"])})
    providers["g120"].status = 503
    (band,) = new_band_ids(1)
    resident = make_resident(db, band, full_name="张桂兰", address="和谐路3号楼2单元501")
    add_contact(db, resident)
    sos(db, configured, band)
    dispatcher = Dispatcher(configured, redis_client)
    dispatcher.run_once(db, now=T0)
    assert unreached.check(db, now=T0 + timedelta(seconds=61), deadline_s=60) is not None
    dispatcher.run_once(db, now=T0 + timedelta(seconds=61), channels=("dingtalk", "sms", "voice"))
    (group,) = providers["dingtalk"].requests
    assert group["text"].startswith("【请立即拨打120】120未收到张桂兰的SOS紧急呼叫通知")
    sent = sorted((r["action"], r["phone"]) for r in providers["aliyun"].requests)
    assert sent == [("SendSms", "13700000001"), ("SingleCallByTts", "13700000001")]
    assert providers["aliyun"].requests[0]["params"]["address"] == "和谐路3号楼2单元501"


def test_an_offline_storm_goes_to_the_staff_group_once_and_rings_no_phone(
    clean_alerts, new_band_ids, settings, redis_client, providers
):
    from tests.alerting.test_escalation_and_delivery import offline

    db = clean_alerts
    chain = [{"channel": "dingtalk"}, {"channel": "sms"}]
    configured = configure(settings, providers, {"grid_worker": (chain, ["13800000001"])})
    bands = new_band_ids(6)
    for band in bands:
        make_resident(db, band)
    offline(db, bands, T0)
    dispatcher = Dispatcher(configured, redis_client)
    dispatcher.run_once(db, now=T0 + timedelta(seconds=31), channels=("dingtalk", "sms"))
    (group,) = providers["dingtalk"].requests
    assert "6" in group["text"]  # one message naming how many
    dispatcher.run_once(db, now=T0 + timedelta(minutes=10), channels=("dingtalk", "sms"))
    assert providers["aliyun"].requests == []


def test_an_sms_without_a_registered_template_stays_pending_and_says_why(
    clean_alerts, new_band_ids, settings, redis_client, providers
):
    db = clean_alerts
    configured = configure(
        settings, providers, {"family": ([{"channel": "sms"}], [])}, alerting_templates={}
    )
    (band,) = new_band_ids(1)
    add_contact(db, make_resident(db, band), phone=FAMILY_PHONE)
    alert_id = sos(db, configured, band)
    Dispatcher(configured, redis_client).run_once(db, now=T0, channels=("sms",))
    assert providers["aliyun"].requests == []
    assert kinds_for(db, alert_id, "family") == [
        ("attempt_failed", "no provider template for notice.family.sms")
    ]
    status = db.execute("SELECT status FROM outbox WHERE channel = 'sms'").fetchone()[0]
    assert status == "pending"  # so the emergency's deadline alert still fires
