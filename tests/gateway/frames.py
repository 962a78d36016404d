"""Frames written out as watches send them, for the gateway tests."""

from __future__ import annotations

WATCH_ID = "8800000015"


def frame(content: str | bytes, watch_id: str = WATCH_ID, index: str | None = None) -> bytes:
    """`[3G*ID*LLLL*CONTENT]` with the length computed, as a watch would write it."""
    body = content.encode() if isinstance(content, str) else content
    middle = f"*{index}" if index else ""
    return b"[3G*%s%s*%04X*%s]" % (watch_id.encode(), middle.encode(), len(body), body)


# A GNSS fix in Panjin, 2026-11-30 23:59:50 on the watch's clock, 4 cells, 2 Wi-Fi APs.
UD = (
    "UD,301126,235950,A,41.108000,N,122.994000,E,3.50,152.0,12.0,9,80,64,3410,12,00000000,"
    "2,1,460,0,9360,4082,131,9360,4092,148,2,home,8c:a6:df:11:22:33,-61,lobby,"
    "8c:a6:df:44:55:66,-70,24.5"
)
UD_NO_FIX = (
    "UD,301126,235950,V,0.000000,N,0.000000,E,0.00,0.0,0.0,0,60,55,100,0,00000000,"
    "2,1,460,0,9360,4082,131,9360,4092,148,1,home,8c:a6:df:11:22:33,-61"
)


def alarm(status: str, command: str = "AL", valid: str = "A") -> str:
    return (
        f"{command},301126,235950,{valid},41.108000,N,122.994000,E,0.00,0.0,12.0,9,80,64,"
        f"3410,12,{status},0,0"
    )
