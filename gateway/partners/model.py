"""A partner file (``partners/<id>.toml``) and the loaded partner it becomes."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from cryptography import x509
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from gateway.config import PARTICIPANT_ID, MessageType
from gateway.security.certificates import TrustedCertificate, load_certificate
from gateway.security.chain import TrustChain
from gateway.security.signatures import LEGACY, SignatureVerifier


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HttpDelivery(_Frozen):
    transport: Literal["http"] = "http"
    url: AnyHttpUrl
    timeout: float | None = Field(None, gt=0, description="seconds; default [delivery] timeout")


class As4Collaboration(_Frozen):
    """The ebMS Service and Action that carry one message type between the gateway and this partner."""

    service: Annotated[str, Field(min_length=1)]
    action: Annotated[str, Field(min_length=1)]
    service_type: str | None = None


class As4Partner(_Frozen):
    """The partner's AS4 settings (a PMode in few keys; docs/AS4.md)."""

    party_id: Annotated[str, Field(min_length=1, max_length=255)]
    party_type: str | None = None
    messages: dict[MessageType, As4Collaboration] = Field(
        min_length=1, description="message type -> service/action, both ways"
    )
    encryption_required: bool = Field(
        False, description="the partner must encrypt what it sends, and the gateway encrypts what it sends to it"
    )
    encryption_certificate: Path | None = Field(None, description="the partner's certificate to encrypt for")
    agreement_ref: str | None = None

    @model_validator(mode="after")
    def _certificate_when_encrypting(self) -> As4Partner:
        if self.encryption_required and self.encryption_certificate is None:
            raise ValueError("encryption_required = true needs encryption_certificate (the partner's RSA certificate)")
        return self

    def message_type(self, service: str, action: str) -> str | None:
        found = (t for t, m in self.messages.items() if (m.service, m.action) == (service, action))
        return next(found, None)


class As4Delivery(_Frozen):
    transport: Literal["as4"]
    url: AnyHttpUrl
    timeout: float | None = Field(None, gt=0, description="seconds; default [delivery] timeout")


class ImageLimits(_Frozen):
    """``[images]`` of a partner file: lower limits for what this partner sends (docs/DESIGN.md 8)."""

    max_image_bytes: int | None = Field(None, gt=0, description="largest image; default [images] max_image_bytes")
    max_images: int | None = Field(None, ge=0, description="most images in one message; default [images] max_images")


class PartnerQuota(_Frozen):
    """The partner's own quota; a key left out takes ``[quotas]`` of gateway.toml (gateway.ingress.admission)."""

    rate: float | None = Field(None, ge=0, description="messages per second, sustained; 0: no limit")
    burst: int | None = Field(None, ge=1, description="messages at once above the rate")
    max_in_flight: int | None = Field(None, ge=0, description="requests handled at once per gateway process; 0: none")


def _transport(value: object) -> str:
    """``[delivery] transport``, "http" when absent (partner files from before AS4 name none)."""
    if isinstance(value, dict):
        return str(value.get("transport", "http"))
    return str(getattr(value, "transport", "http"))


class PartnerFile(_Frozen):
    """What an administrator writes. Unknown keys are refused so typos do not pass silently."""

    id: Annotated[str, Field(pattern=PARTICIPANT_ID)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    role: Literal["customs", "single-window"]
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]
    format: str = "canonical"
    certificates: Annotated[list[Path], Field(min_length=1)]
    ca_certificates: list[Path] = Field(
        default_factory=list, description="CAs whose directly issued certificates are trusted (gateway.security.chain)"
    )
    crls: list[Path] = Field(default_factory=list, description="CRL files of those CAs (PEM or DER)")
    sends: list[MessageType] = Field(default_factory=list)
    receives: list[MessageType] = Field(default_factory=list)
    receive_formats: dict[MessageType, str] = Field(
        default_factory=dict,
        description='the format of a received message type when it is not `format`, e.g. {"risk-alert" = '
        '"canonical"} for a single window whose own format has no risk alert; receipts stay in `format`',
    )
    delivery: (
        Annotated[Annotated[HttpDelivery, Tag("http")] | Annotated[As4Delivery, Tag("as4")], Discriminator(_transport)]
        | None
    ) = None
    legacy_algorithms: list[str] = Field(
        default_factory=list, description="explicitly allowed legacy signature algorithms, e.g. rsa-sha1"
    )
    signature_algorithm: Literal["sm2-sm3"] | None = Field(
        None,
        description="how the gateway signs what it sends to this partner: absent = with its own RSA or EC "
        'key; "sm2-sm3" = XML-DSig SM2-SM3 in the CEB profile (gateway.security.sm2)',
    )
    suspended: bool = False
    samples_dir: Path | None = None
    as4: As4Partner | None = None
    images: ImageLimits = ImageLimits()
    quota: PartnerQuota = Field(default_factory=PartnerQuota)

    @field_validator("legacy_algorithms")
    @classmethod
    def _known_legacy(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in LEGACY]
        if unknown:
            raise ValueError(f"unknown legacy algorithm {unknown[0]!r}; allowed: {', '.join(LEGACY)}")
        return value

    @model_validator(mode="after")
    def _formats_of_received_types(self) -> PartnerFile:
        for message_type in self.receive_formats:
            if message_type not in self.receives:
                raise ValueError(
                    f"receive_formats: {message_type!r} is not a type the partner receives "
                    f"(receives: {', '.join(self.receives) or 'none'})"
                )
        return self


@dataclass(frozen=True)
class Partner:
    """A loaded partner: its file, where it came from, and its certificates parsed once."""

    spec: PartnerFile
    path: Path
    certificates: tuple[TrustedCertificate, ...]
    chain: TrustChain | None = None  # ca_certificates and crls, when the file names any

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def format(self) -> str:
        return self.spec.format

    def format_for(self, message_type: str) -> str:
        """The format the partner receives ``message_type`` in (``receive_formats``, else ``format``)."""
        found = (name for kind, name in self.spec.receive_formats.items() if kind == message_type)
        return next(found, self.spec.format)

    def may_send(self, message_type: str) -> bool:
        return message_type in self.spec.sends

    def accepts(self, message_type: str) -> bool:
        return message_type in self.spec.receives

    @cached_property
    def as4_encryption_certificate(self) -> x509.Certificate | None:
        """The certificate the gateway encrypts AS4 payloads for (relative paths: the partner file's folder)."""
        if self.spec.as4 is None or self.spec.as4.encryption_certificate is None:
            return None
        path = self.spec.as4.encryption_certificate
        return load_certificate(path if path.is_absolute() else self.path.parent / path).certificate

    @cached_property
    def verifier(self) -> SignatureVerifier:
        return SignatureVerifier(self.id, self.certificates, self.spec.legacy_algorithms, chain=self.chain)
