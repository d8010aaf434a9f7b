"""Settings: ``gateway.toml`` overridden by ``GATEWAY_<SECTION>__<KEY>`` environment variables, loaded once.

Relative paths in the file are relative to the file's folder; :func:`load_settings` resolves them so the rest
of the gateway sees absolute paths only.
"""

from __future__ import annotations

import os
import re
import socket
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gateway.errors import ConfigError

PARTICIPANT_ID = r"^[a-z0-9-]{2,64}$"
MessageType = Literal[
    "order",
    "payment",
    "logistics",
    "inventory",
    "declaration",
    "risk-alert",
    "receipt",
    "tax-payment",
    "tax-assessment",
    "inventory-cancellation",
    "inventory-return",
    "logistics-status",
    "warehouse-entry",
    "cargo-report",
    "summary-application",
    "summary-result",
    "inspection-result",
    "notification",
]
MESSAGE_TYPES: tuple[str, ...] = get_args(MessageType)
URGENT_TYPES: tuple[MessageType, ...] = ("risk-alert", "receipt")  # the fast lane's default (issue 17)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GatewaySection(_Section):
    id: Annotated[str, Field(pattern=PARTICIPANT_ID)]
    signing_key: Path
    signing_cert: Path
    partners_dir: Path = Path("partners")
    workers: int = Field(1, ge=1, le=64, description="processes, each running ingress and delivery")
    instance: Annotated[str, Field(min_length=1, max_length=128)] | None = Field(
        None, description="this gateway instance's name in metrics and logs (default: host name:HTTP port)"
    )
    # The gateway's own key rollover and SM2 identity (gateway.security.keyring).
    next_signing_key: Path | None = Field(None, description="signs from signing_switch_at on")
    next_signing_cert: Path | None = None
    signing_switch_at: AwareDatetime | None = Field(None, description="RFC 3339 time the next key takes over")
    sm2_signing_key: Path | None = Field(None, description='signs for "sm2-sm3" partners (partner file)')
    sm2_signing_cert: Path | None = None

    @model_validator(mode="after")
    def _pairs(self) -> GatewaySection:
        if (self.next_signing_key is None) != (self.next_signing_cert is None):
            raise ValueError("next_signing_key and next_signing_cert go together: set both or neither")
        if (self.next_signing_key is None) != (self.signing_switch_at is None):
            raise ValueError(
                "signing_switch_at (an RFC 3339 time, e.g. 2027-01-01T00:00:00Z) is required with "
                "next_signing_key, and only with it"
            )
        if (self.sm2_signing_key is None) != (self.sm2_signing_cert is None):
            raise ValueError("sm2_signing_key and sm2_signing_cert go together: set both or neither")
        return self


class HttpSection(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_bytes: int = Field(10 * 1024 * 1024, gt=0)
    body_timeout: float = Field(10.0, gt=0, description="seconds to receive a whole request body")
    # Optional TLS on ingress, mutual when tls_client_ca is set (gateway.security.tls).
    tls_cert: Path | None = Field(None, description="server certificate (PEM, chain after it)")
    tls_key: Path | None = Field(None, description="server private key (PEM, mode 600)")
    tls_client_ca: Path | None = Field(None, description="PEM bundle of the CAs whose client certificates are accepted")
    tls_require_client_cert: bool | None = Field(None, description="default: true when tls_client_ca is set")

    @model_validator(mode="after")
    def _tls(self) -> HttpSection:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: set both or neither")
        if self.tls_cert is None and (self.tls_client_ca is not None or self.tls_require_client_cert):
            raise ValueError("tls_client_ca and tls_require_client_cert need tls_cert and tls_key (TLS on ingress)")
        if self.tls_require_client_cert and self.tls_client_ca is None:
            raise ValueError("tls_require_client_cert = true needs tls_client_ca (the CAs of the client certificates)")
        return self


class AmqpSection(_Section):
    url: str = "amqp://guest:guest@127.0.0.1:5672/"
    urls: list[str] = Field(
        default_factory=list, description="the nodes of a RabbitMQ cluster, tried in turn (failover); else url"
    )
    prefetch: int = Field(64, ge=1)
    publish_timeout: float = Field(10.0, gt=0)
    delivery_limit: int = Field(20, ge=1, description="x-delivery-limit of the delivery queues")
    heartbeat: int = Field(15, ge=0)
    prefix: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")] = "gw"

    @property
    def nodes(self) -> list[str]:
        return self.urls or [self.url]


class StoreSection(_Section):
    url: str = "sqlite:///gateway.db"


class ImagesSection(_Section):
    """Images of inspection results (docs/DESIGN.md 8): where they are kept, how large, how long."""

    dir: Path = Field(Path("images"), description="the default store: files under this folder")
    url: str | None = Field(
        None, description="postgresql://...: keep images in PostgreSQL instead (instances sharing them)"
    )
    max_image_bytes: int = Field(64 * 1024 * 1024, gt=0, description="largest image accepted (partners may lower)")
    max_images: int = Field(20, ge=0, le=1000, description="most images in one message (partners may lower)")
    retention_days: float = Field(90.0, gt=0, description="days a message's images are kept after acceptance")
    part_timeout: float = Field(120.0, gt=0, description="seconds to receive one image part")

    @field_validator("url")
    @classmethod
    def _postgres(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL (or absent: files under dir)")
        return value


class AdminSection(_Section):
    token_file: Path = Path("admin.token")
    certificate_warning_days: int = Field(30, ge=0, description="warn when a certificate expires within this")
    watch_interval: float = Field(5.0, ge=0, description="seconds between checks of partners_dir; 0: off")


class DeliverySection(_Section):
    retry_delays: list[float] = Field(
        default_factory=lambda: [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0],
        description="backoff before each retry, seconds; one delay queue per step",
    )
    max_attempts: int = Field(8, ge=1, description="delivery attempts before a message is dead-lettered")
    timeout: float = Field(10.0, gt=0, description="seconds for one HTTP delivery")
    concurrency: int = Field(32, ge=1, description="deliveries in flight per receiver")

    @field_validator("retry_delays")
    @classmethod
    def _positive(cls, value: list[float]) -> list[float]:
        if not value or any(v <= 0 for v in value):
            raise ValueError("retry_delays must be a non-empty list of positive numbers of seconds")
        return value


class QuotaSection(_Section):
    """Every partner's quota unless its partner file's ``[quota]`` says otherwise (gateway.ingress.admission)."""

    rate: float = Field(100.0, ge=0, description="messages per second a partner may send, sustained; 0: no limit")
    burst: int = Field(200, ge=1, description="messages a partner may send at once above the rate (bucket size)")
    max_in_flight: int = Field(
        32, ge=0, description="requests of one partner handled at once by one gateway process; 0: no cap"
    )


class FairnessSection(_Section):
    """Load shedding, ingress admission and the fast lane (gateway.ingress.admission, broker.topology)."""

    urgent_types: list[MessageType] = Field(
        default_factory=lambda: list(URGENT_TYPES),
        description="message types that overtake the others: admitted first, own delivery queue per receiver",
    )
    admission_slots: int = Field(
        4, ge=1, description="messages one gateway process checks and accepts at once; others wait, urgent first"
    )
    shed_in_flight: int = Field(
        256, ge=0, description="requests in flight in one process past which the heaviest senders get 503; 0: off"
    )
    refusal_delay: float = Field(
        1.0, ge=0, le=30, description="seconds (at most Retry-After) before a 429/503 refusal is answered; 0: at once"
    )
    shed_wait: float = Field(
        2.0, ge=0, description="seconds the oldest message may wait for admission before the heaviest get 503; 0: off"
    )


class SecuritySection(_Section):
    max_age_seconds: int = Field(86400, gt=0, description="oldest CreationDateTime accepted")
    max_future_seconds: int = Field(300, ge=0, description="clock skew tolerated for CreationDateTime")
    max_depth: int = Field(64, ge=8, description="deepest element nesting accepted")


class RouteRule(_Section):
    """Where a message without an explicit Receiver goes. First matching rule wins."""

    types: list[str] = Field(default_factory=lambda: ["*"])
    senders: list[str] = Field(default_factory=lambda: ["*"])
    receivers: list[Annotated[str, Field(pattern=PARTICIPANT_ID)]]

    def matches(self, sender: str, message_type: str) -> bool:
        return ("*" in self.types or message_type in self.types) and ("*" in self.senders or sender in self.senders)


class RoutingSection(_Section):
    rules: list[RouteRule] = Field(default_factory=list)


class ControlsSection(_Section):
    """Cross-border e-commerce controls (gateway.controls): three-list matching, monitoring, risk rules, the
    watch list of non-compliant products."""

    matching: bool = Field(False, description="hold inventories until their order, payment and waybill match")
    matching_window: float = Field(
        86400.0, gt=0, description="seconds an inventory waits for a missing list (and lists are kept)"
    )
    monitoring: bool = Field(False, description="record inventories and declarations as consignments")
    history_days: float = Field(180.0, gt=0, description="days consignments are kept (monitoring, rules)")
    rules_dir: Path | None = Field(None, description="risk rule files (*.toml); needs monitoring and country")
    rules_reload_interval: float = Field(
        5.0, ge=0, description="seconds between checks of rules_dir and watchlist_dir; 0: off"
    )
    watchlist_dir: Path | None = Field(
        None, description="watch list of non-compliant products (regulators' *.csv, *.json): hold or alert"
    )
    sweep_interval: float = Field(30.0, gt=0, description="seconds between expiry/prune/resend sweeps")
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    authority_name: Annotated[str, Field(min_length=1, max_length=70)] | None = None
    sender_channels: dict[str, Literal["post", "express", "cbec", "cargo"]] = Field(
        default_factory=dict, description="partner id -> clearance channel of the declarations it sends"
    )

    @model_validator(mode="after")
    def _rules_need(self) -> ControlsSection:
        if self.rules_dir is not None and not (self.monitoring and self.country):
            raise ValueError("rules_dir needs monitoring = true and country (the issuing administration's)")
        return self

    @property
    def enabled(self) -> bool:
        """Some control is on (the controls and their store are opened)."""
        return self.matching or self.monitoring or self.watchlist_dir is not None


class LogSection(_Section):
    format: Literal["text", "json"] = Field(
        "text", description='"json": one JSON object a line (gateway.logs), for Loki, ELK and the like'
    )


class As4Section(_Section):
    """The gateway as an AS4 access point (gateway.as4, docs/AS4.md): its ebMS party and its RSA keys."""

    party_id: Annotated[str, Field(min_length=1, max_length=255)]
    party_type: str | None = Field(None, description="e.g. urn:oasis:names:tc:ebcore:partyid-type:unregistered")
    signing_key: Path | None = Field(None, description="RSA key signing UserMessages and receipts; default [gateway]")
    signing_cert: Path | None = None
    decryption_key: Path | None = Field(None, description="RSA key partners encrypt for; default the signing key")
    max_payload_bytes: int = Field(10 * 1024 * 1024, gt=0, description="per payload after decompression")

    @model_validator(mode="after")
    def _pairs(self) -> As4Section:
        if (self.signing_key is None) != (self.signing_cert is None):
            raise ValueError("signing_key and signing_cert go together: set both or neither")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_nested_delimiter="__", extra="forbid", frozen=True)

    gateway: GatewaySection
    http: HttpSection = HttpSection()
    amqp: AmqpSection = AmqpSection()
    store: StoreSection = StoreSection()
    images: ImagesSection = ImagesSection()
    admin: AdminSection = AdminSection()
    delivery: DeliverySection = DeliverySection()
    security: SecuritySection = SecuritySection()
    quotas: QuotaSection = QuotaSection()
    fairness: FairnessSection = FairnessSection()
    routing: RoutingSection = RoutingSection()
    controls: ControlsSection = ControlsSection()
    log: LogSection = LogSection()
    as4: As4Section | None = None
    config_path: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file (whose content arrives as init arguments).
        return (env_settings, init_settings)

    @property
    def base_dir(self) -> Path:
        return self.config_path.parent if self.config_path else Path.cwd()

    @property
    def sqlite_path(self) -> Path | None:
        if not self.store.url.startswith("sqlite:///"):
            return None
        return self.resolve(Path(self.store.url.removeprefix("sqlite:///")))

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else (self.base_dir / path)

    @property
    def instance(self) -> str:
        return self.gateway.instance or f"{socket.gethostname()}:{self.http.port}"

    @property
    def partners_dir(self) -> Path:
        return self.resolve(self.gateway.partners_dir)


def config_path_from(arg: str | os.PathLike[str] | None) -> Path:
    """``--config``, else ``$GATEWAY_CONFIG``, else ``./gateway.toml``."""
    return Path(arg or os.environ.get("GATEWAY_CONFIG") or "gateway.toml").absolute()


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read the file, apply the environment, resolve relative paths; a bad value raises ConfigError."""
    path = path or config_path_from(None)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found (use --config or $GATEWAY_CONFIG)") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc}") from exc
    data.update(overrides)
    data["config_path"] = path
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_validation_error(exc)}") from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem: ``key.path: message (got value)``."""
    lines = []
    for err in exc.errors():
        loc = list(err["loc"])
        if loc[:1] == ["delivery"] and loc[1:2] in (["http"], ["as4"]):  # the union's tag (transport) is not a key
            del loc[1]
        where = ".".join(str(p) for p in loc) or "(file)"
        got = err.get("input")
        shown = "" if isinstance(got, dict) or err["type"] == "missing" else f" (got {got!r})"
        lines.append(f"{where}: {err['msg']}{shown}")
    return "; ".join(lines)


_SAFE_NAME = re.compile(PARTICIPANT_ID)


def is_participant_id(value: str) -> bool:
    return bool(_SAFE_NAME.match(value))
