"""The pages' texts: the catalogue served to them, and each account's chosen language."""

from __future__ import annotations


def test_catalogue_is_chinese_unless_the_browser_asks_for_english(client) -> None:
    chinese = client.get("/i18n/auto.json").json()
    assert chinese["locale"] == "zh_CN"
    assert chinese["messages"]["console.title"] == "值班台"
    english = client.get("/i18n/auto.json", headers={"Accept-Language": "en-GB,en;q=0.8"}).json()
    assert english["locale"] == "en"
    assert english["messages"]["rule.tachycardia.name"] == "Sustained tachycardia"
    assert client.get("/i18n/zh_CN.json").json()["messages"]["error.not_found"].startswith("未找到")


def test_an_unknown_language_is_a_clear_error(client) -> None:
    response = client.get("/i18n/fr.json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid"


def test_an_account_keeps_its_chosen_language(client, make_actor) -> None:
    staff = make_actor("duty_staff")
    assert client.get("/accounts/me", headers=staff.headers).json()["locale"] is None
    chosen = client.put("/accounts/me/locale", json={"locale": "en"}, headers=staff.headers)
    assert chosen.status_code == 200
    assert client.get("/accounts/me", headers=staff.headers).json()["locale"] == "en"
    refused = client.put("/accounts/me/locale", json={"locale": "de"}, headers=staff.headers)
    assert refused.status_code == 422
    client.put("/accounts/me/locale", json={"locale": None}, headers=staff.headers)
    assert client.get("/accounts/me", headers=staff.headers).json()["locale"] is None


def test_page_files_are_served_and_nothing_outside_the_folder(client) -> None:
    page = client.get("/console")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/console/i18n.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/console/../page.py").status_code == 404
    assert client.get("/console/%2e%2e/page.py").status_code == 404
    assert client.get("/console/nothing.js").status_code == 404
