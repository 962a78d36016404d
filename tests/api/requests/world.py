"""Helpers of the requests tests: the fixed start time, a clock moved by hand, reads of a
request's timeline."""

from __future__ import annotations

from datetime import UTC, datetime

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in Asia/Shanghai


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def timeline(api, actor, request_id) -> list[dict]:
    r = api.get(f"/requests/{request_id}/timeline", headers=actor.headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def notified(api, actor, request_id) -> list[tuple[int, tuple[str, ...]]]:
    return [
        (e["data"]["step"], tuple(e["data"]["targets"]))
        for e in timeline(api, actor, request_id)
        if e["kind"] == "queued"
    ]


def open_as_family(api, w, text="3号楼2单元楼道灯坏了，晚上看不见", **more) -> dict:
    body = {"text": text, "resident_id": w["res_a"], **more}
    r = api.post("/requests", json=body, headers=w["fam_a"].headers)
    assert r.status_code == 201, r.text
    return r.json()
