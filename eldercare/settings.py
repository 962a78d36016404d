"""One place for configuration: environment variables prefixed ELDERCARE_."""

from __future__ import annotations

from functools import cached_property
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_JWT_SECRET_BYTES = 32
PLACEHOLDER_MARK = "dev-"


class MqttTarget(BaseModel):
    """Host, port and credentials parsed from an mqtt:// URL."""

    host: str
    port: int
    username: str | None
    password: str | None


def parse_mqtt_url(url: str) -> MqttTarget:
    """Split `mqtt://user:pass@host:port` into its parts."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp"):
        raise ValueError(f"MQTT URL must start with mqtt://, got scheme {parts.scheme!r}")
    return MqttTarget(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 1883,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


Channel = Literal[
    "console",
    "gateway_120",
    "community_gateway",
    "family_gateway",
    "sms",
    "voice",
    "dingtalk",
    "wecom",
    "feishu",
]
Recipient = Literal[
    "duty_console", "grid_worker", "community_director", "street", "family", "gateway_120"
]


class ChainLink(BaseModel):
    """One channel of a recipient's chain; the next goes if this is not delivered in within_s."""

    channel: Channel
    within_s: float = 120.0


class RecipientPlan(BaseModel):
    """How one kind of recipient is reached: channels in order, and staff phone numbers."""

    chain: list[ChainLink]
    phones: list[str] = []  # sms/voice numbers of staff; family: their emergency contacts


class Settings(BaseSettings):
    """Every setting the services read; see README for what each one does."""

    model_config = SettingsConfigDict(env_prefix="ELDERCARE_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"

    database_url: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:5432/eldercare")
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    redis_prefix: str = "eldercare:"
    redis_cluster: bool = False  # redis_url names one node of a Redis Cluster
    # Ingest's account on the broker's AMQP side; several URLs (space-separated) for a
    # cluster: ingest connects to the first that answers and moves on when it fails.
    amqp_url: SecretStr = SecretStr("amqp://ingest:dev-ingest-secret@127.0.0.1:5673/%2F")
    simulator_mqtt_url: SecretStr = SecretStr(
        "mqtt://simulator:dev-simulator-secret@127.0.0.1:1884"
    )
    api_mqtt_url: SecretStr = SecretStr("mqtt://api:dev-api-secret@127.0.0.1:1884")
    gateway_mqtt_url: SecretStr = SecretStr("mqtt://gateway:dev-gateway-secret@127.0.0.1:1884")
    # The gateway hands bands' uplinks over on AMQP (publisher confirms); space-separated nodes.
    gateway_amqp_url: SecretStr = SecretStr("amqp://gateway:dev-gateway-secret@127.0.0.1:5673/%2F")
    # Where `eldercare broker-auth` answers the broker's questions about bands' logins;
    # the broker's rabbitmq.conf points auth_http.*_path at it.
    broker_auth_host: str = "127.0.0.1"
    broker_auth_port: int = 8090
    broker_auth_in_run: bool = True  # `eldercare run` starts one (off where it runs apart)
    # The broker's management API (service accounts, closing revoked bands' connections);
    # several nodes comma-separated.
    broker_admin_url: SecretStr = SecretStr(
        "http://eldercare-admin:dev-broker-admin-secret@127.0.0.1:15673"
    )

    ingest_client_id: str = "eldercare-ingest-1"
    ingest_queue: str = "ingest"  # quorum queue bound to every band's uplink topics
    ingest_queue_replicas: int = 3  # capped by the number of broker nodes
    ingest_receive_maximum: int = 2000
    ingest_batch_max_messages: int = 1000
    ingest_batch_max_age_ms: int = 50
    ingest_metrics_port: int = 9101
    ingest_metrics_host: str = "127.0.0.1"  # 0.0.0.0 lets another container scrape it
    ingest_max_sample_age_s: int = 7 * 24 * 3600
    ingest_max_clock_skew_s: int = 300

    def broker_service_passwords(self) -> dict[str, str]:
        """Each service account's broker password (from its URL), by account name.

        `eldercare run` and `broker-setup` give the broker's accounts the passwords the
        services log in with, so there is one place to set each.
        """
        ingest = unquote(urlsplit(self.amqp_urls[0]).password or "")
        return {
            "ingest": ingest,
            "api": self.api_mqtt.password or "",
            "simulator": self.simulator_mqtt.password or "",
            "gateway": self.gateway_mqtt.password or "",
        }

    @cached_property
    def amqp_urls(self) -> list[str]:
        return self.amqp_url.get_secret_value().split()

    @cached_property
    def simulator_mqtt(self) -> MqttTarget:
        return parse_mqtt_url(self.simulator_mqtt_url.get_secret_value())

    @cached_property
    def api_mqtt(self) -> MqttTarget:
        return parse_mqtt_url(self.api_mqtt_url.get_secret_value())

    @cached_property
    def gateway_amqp_urls(self) -> list[str]:
        return self.gateway_amqp_url.get_secret_value().split()

    @cached_property
    def gateway_mqtt(self) -> MqttTarget:
        return parse_mqtt_url(self.gateway_mqtt_url.get_secret_value())

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.environment != "production":
            return self
        for name in (
            "amqp_url",
            "broker_admin_url",
            "simulator_mqtt_url",
            "api_mqtt_url",
            "gateway_mqtt_url",
            "gateway_amqp_url",
            "database_url",
            "api_jwt_secret",
            "alerting_community_gateway_secret",
            "alerting_family_gateway_secret",
            "alerting_gateway_120_secret",
        ):
            if PLACEHOLDER_MARK in getattr(self, name).get_secret_value():
                raise ValueError(f"ELDERCARE_{name.upper()} still holds a development secret")
        if len(self.api_jwt_secret.get_secret_value().encode()) < MIN_JWT_SECRET_BYTES:
            # RFC 7518 3.2: an HS256 key shorter than the hash output weakens the signature.
            raise ValueError(
                f"ELDERCARE_API_JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes"
            )
        return self

    # --- alerting ---
    # Engines split bands by crc32(device_id) % shard_count (eldercare.shards). Ingest reads the
    # count too: it writes each shard's entries to that shard's stored stream, which only that
    # shard's consumer group reads (replicas of one shard share it). After a change of the
    # count, engines drain the streams of the old count before those are deleted (README).
    alerting_shard_index: int = 0
    alerting_shard_count: int = 1
    alerting_consumer_name: str = "alerting-1"
    alerting_tick_s: float = 5.0  # time-driven rules (offline, not worn, dwell, inactivity)
    alerting_sweep_s: float = 30.0  # re-read the hypertables past the watermark
    alerting_lookback_s: int = 3600  # telemetry and fixes the vitals/geofence rules look at
    # Keep each band's look-back in memory and read new rows only (False: re-read it each time)
    alerting_incremental: bool = True
    alerting_band_interval_s: int = 60  # expected reporting interval of a band
    alerting_escalation_grace_s: int = 120  # watchdog: a step this late raises its own alert
    alerting_storm_min: int = 5  # this many held notifications to one recipient become one
    alerting_webhook_timeout_s: float = 5.0
    alerting_retry_max_s: float = 60.0
    # An SOS/fall notice not delivered this long after it was queued raises emergency_unreached.
    alerting_emergency_deadline_s: float = 60.0
    # Channel chains per recipient kind (JSON); kinds not given keep their default (README).
    alerting_recipients: dict[Recipient, RecipientPlan] = {}
    alerting_notice_locale: Literal["zh_CN", "en"] = "zh_CN"
    # Message id (notice.family.sms, ...) -> template code registered with the SMS/voice
    # provider (SMS_..., TTS_..., or a Tencent template id).
    alerting_templates: dict[str, str] = {}
    alerting_sms_provider: Literal["aliyun", "tencent"] = "aliyun"
    alerting_sms_param_max_chars: int = 35  # per template variable (Aliyun 35; Tencent 12/none)
    alerting_aliyun_access_key_id: str = ""
    alerting_aliyun_access_key_secret: SecretStr = SecretStr("")
    alerting_aliyun_sms_endpoint: str = "https://dysmsapi.aliyuncs.com/"
    alerting_aliyun_voice_endpoint: str = "https://dyvmsapi.aliyuncs.com/"
    alerting_aliyun_sign_name: str = ""
    alerting_aliyun_show_number: str = ""  # the caller number shown for TTS calls
    alerting_tencent_secret_id: str = ""
    alerting_tencent_secret_key: SecretStr = SecretStr("")
    alerting_tencent_sms_endpoint: str = "https://sms.tencentcloudapi.com/"
    alerting_tencent_region: str = "ap-guangzhou"
    alerting_tencent_sms_app_id: str = ""
    alerting_tencent_sign_name: str = ""
    alerting_dingtalk_url: str = ""
    alerting_dingtalk_secret: SecretStr = SecretStr("")
    alerting_wecom_url: str = ""
    alerting_feishu_url: str = ""
    alerting_feishu_secret: SecretStr = SecretStr("")
    # Delivery receipts are accepted at /receipts/<provider>/<kind>/<token> on the alerting
    # HTTP server; the token keeps others from marking notices delivered (empty = refused).
    alerting_receipt_token: SecretStr = SecretStr("")
    alerting_http_host: str = "127.0.0.1"
    alerting_http_port: int = 9102  # /health, /metrics, receipts (0 = off)
    alerting_community_gateway_url: str = "http://127.0.0.1:18081/notify"
    alerting_community_gateway_secret: SecretStr = SecretStr("dev-community-gateway-secret")
    alerting_family_gateway_url: str = "http://127.0.0.1:18082/notify"
    alerting_family_gateway_secret: SecretStr = SecretStr("dev-family-gateway-secret")
    alerting_gateway_120_url: str = "http://127.0.0.1:18120/dispatch"
    alerting_gateway_120_secret: SecretStr = SecretStr("dev-gateway-120-secret")

    # --- storage: roll-ups and retention (run by `eldercare jobs`) ---
    storage_rollup_interval_s: float = 60.0
    # Rows are rolled up once this old: longer than any ingest transaction takes.
    storage_rollup_settle_s: float = 30.0
    storage_rollup_max_window_s: float = 600.0  # of stored_at per run: bounded work
    storage_telemetry_retention_days: int = 30  # raw samples (roll-ups keep the figures)
    storage_minute_rollup_retention_days: int = 90
    storage_hour_rollup_retention_days: int = 5 * 365
    storage_event_retention_days: int = 365  # SOS, falls, wear and power events
    storage_alert_retention_days: int = 3 * 365  # resolved alerts and their timelines
    storage_audit_retention_days: int = 3 * 365  # reads of residents' data (PIPL)

    # --- gateway (4G watch protocol over TCP) ---
    gateway_host: str = "127.0.0.1"  # 0.0.0.0 to accept watches from the mobile network
    gateway_port: int = 8001
    gateway_client_id: str = "eldercare-gateway-1"
    gateway_metrics_port: int = 9104
    gateway_utc_offset_min: int = 0  # default for watches whose clock is not UTC
    gateway_idle_timeout_s: float = 900.0
    gateway_max_frame_bytes: int = 16 * 1024
    gateway_max_frames_per_min: int = 120
    gateway_max_bad_frames: int = 10
    # Commands for a watch that is away wait in the database: at most this many per band
    # (the oldest dropped), for at most this long.
    gateway_max_pending_commands: int = 32
    gateway_pending_command_ttl_s: int = 7 * 24 * 3600
    gateway_revocation_check_s: float = 1.0  # how soon a revoked band's watch is cut off

    # --- api ---
    api_jwt_secret: SecretStr = SecretStr("dev-api-jwt-secret-change-me-0123456789")
    api_token_lifetime_s: int = 8 * 3600
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    api_metrics_host: str = "127.0.0.1"
    api_metrics_port: int = 9103  # /metrics and /health of the API process (0 = off)
    api_max_body_bytes: int = 64 * 1024
    api_location_retention_days: int = 30
    api_location_history_max_hours: int = 7 * 24
    api_login_rate_per_min: int = 10
    api_location_rate_per_min: int = 120
    api_db_pool_size: int = 10
    api_dev_admin_password: SecretStr = SecretStr("dev-admin-password")
    # The console's and family page's map tiles: a URL template ({s} {x} {y} {z}) and the
    # datum the tiles are drawn in (AutoNavi and Tianditu's Chinese maps: gcj02; OSM: wgs84).
    # Empty: no tiles, fences, positions and tracks on a blank background.
    api_map_tile_url: str = (
        "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
        "&x={x}&y={y}&z={z}"
    )
    api_map_tile_subdomains: str = "1234"
    api_map_tile_datum: Literal["wgs84", "gcj02"] = "gcj02"
    api_map_tile_attribution: str = "© AutoNavi"
    api_map_max_zoom: int = 18
    api_demo_password: SecretStr = SecretStr("dev-demo-password")  # every demo account's

    # --- jobs (`eldercare jobs`): care from the data, councils ---
    # The daily check list is as fresh as the last rollup: at most interval + lag old.
    care_rollup_interval_s: float = 300.0
    care_rollup_lag_s: float = 60.0  # rows stored later wait a run
    care_warnings_interval_s: float = 3600.0
    councils_escalation_interval_s: float = 3600.0


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, with explicit overrides for tests."""
    return Settings(**overrides)  # type: ignore[arg-type]
