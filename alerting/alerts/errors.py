"""The alerting package's exceptions; they carry data for the API's error handler."""

from __future__ import annotations


class AlertError(Exception):
    """Base of the alerting package's errors."""


class AlertNotFound(AlertError):
    def __init__(self, alert_id: int):
        super().__init__(f"alert {alert_id} not found")
        self.alert_id = alert_id


class InvalidTransition(AlertError):
    def __init__(self, alert_id: int, status: str, action: str):
        super().__init__(f"alert {alert_id} is {status}; cannot {action}")
        self.alert_id, self.status, self.action = alert_id, status, action
