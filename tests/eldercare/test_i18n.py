"""The message catalogue: every id has a Chinese and an English text, Chinese is the default."""

from datetime import UTC, datetime

import pytest

from eldercare import i18n


def test_every_message_has_chinese_and_english_text() -> None:
    zh, en = set(i18n.catalogue("zh_CN")), set(i18n.catalogue("en"))
    assert zh == en, f"only Chinese: {sorted(zh - en)}; only English: {sorted(en - zh)}"


def test_chinese_is_the_default_and_english_the_second() -> None:
    assert i18n.text("app.name") == "智慧养老平台"
    assert i18n.text("app.name", "en") == "Smart eldercare"
    assert i18n.negotiate(None) == "zh_CN"
    assert i18n.negotiate("en-US,en;q=0.9") == "en"
    assert i18n.negotiate("zh-TW,zh;q=0.8") == "zh_CN"
    assert i18n.negotiate("fr-FR") == "zh_CN"
    assert i18n.negotiate("en-US", preferred="zh_CN") == "zh_CN"


def test_unknown_message_id_is_an_error_not_a_blank() -> None:
    with pytest.raises(i18n.UnknownMessage):
        i18n.text("no.such.message")


def test_times_are_24_hour_in_the_residents_zone() -> None:
    moment = datetime(2026, 11, 30, 22, 28, tzinfo=UTC)
    assert i18n.local_time(moment) == "2026-12-01 06:28"
    assert i18n.local_time(moment, "Europe/Berlin") == "2026-11-30 23:28"
    assert i18n.local_time(moment, "Asia/Beijing") == "2026-12-01 06:28"
