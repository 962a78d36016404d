"""Who is reached how: each recipient kind's chain of channels (settings over defaults)."""

from __future__ import annotations

from eldercare.settings import ChainLink, RecipientPlan, Settings

PHONE_CHANNELS = ("sms", "voice")
WEBHOOK_CHANNELS = ("gateway_120", "community_gateway", "family_gateway")
ROBOT_CHANNELS = ("dingtalk", "wecom", "feishu")
REDIS_CHANNELS = ("console", "changes")


def _one(channel: str) -> RecipientPlan:
    return RecipientPlan(chain=[ChainLink(channel=channel)])  # type: ignore[arg-type]


# Without configuration, as before channels were configurable: the console and signed webhooks.
DEFAULT_PLANS: dict[str, RecipientPlan] = {
    "duty_console": _one("console"),
    "grid_worker": _one("community_gateway"),
    "community_director": _one("community_gateway"),
    "street": _one("community_gateway"),
    "family": _one("family_gateway"),
    "gateway_120": _one("gateway_120"),
}


def plan_for(settings: Settings, target: str) -> RecipientPlan | None:
    """The chain that reaches `target`, or None for a target nobody configured."""
    return settings.alerting_recipients.get(target) or DEFAULT_PLANS.get(target)  # type: ignore[call-overload]
