"""Optional TLS on ingress, mutual when ``[http] tls_client_ca`` is set.

The server context accepts TLS 1.2 and later only. With ``tls_client_ca`` the TLS layer accepts client
certificates issued by those CAs (required unless ``tls_require_client_cert = false``); the inbox then checks
that the certificate belongs to the partner in the URL (:func:`check_client_certificate`): its sha256 is one of
the partner's pinned certificates, or it is issued by one of the partner's ``ca_certificates`` and not revoked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ssl
import stat
from typing import TYPE_CHECKING

from cryptography import x509

from gateway.errors import ConfigError, NotPermitted

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.partners.model import Partner


def server_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The ingress TLS context of ``[http]``, or None when TLS is not configured; problems name the key."""
    http = settings.http
    if http.tls_cert is None or http.tls_key is None:
        return None
    cert, key = settings.resolve(http.tls_cert), settings.resolve(http.tls_key)
    try:
        mode = key.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"http.tls_key: {key}: cannot read private key: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"http.tls_key: {key}: private key file is accessible to group or others (mode {stat.filemode(mode)}); "
            f"run: chmod 600 {key}"
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"http.tls_cert/tls_key: {cert}, {key}: cannot load the server certificate and key: {exc}"
        ) from None
    if http.tls_client_ca is not None:
        client_ca = settings.resolve(http.tls_client_ca)
        try:
            context.load_verify_locations(cafile=client_ca)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"http.tls_client_ca: {client_ca}: cannot load the client CA bundle: {exc}") from None
        required = http.tls_require_client_cert is not False
        context.verify_mode = ssl.CERT_REQUIRED if required else ssl.CERT_OPTIONAL
    return context


def check_client_certificate(partner: Partner | None, der: bytes | None, now: dt.datetime) -> None:
    """NotPermitted unless the client certificate (when one was presented) belongs to ``partner``.

    An unknown partner is left to the inbox (answered unknown-partner like any other request)."""
    if der is None or partner is None:
        return
    if hashlib.sha256(der).hexdigest() in {c.fingerprint for c in partner.certificates}:
        return
    if partner.chain and partner.chain.owns(der, now):
        return
    try:
        subject = x509.load_der_x509_certificate(der).subject.rfc4514_string()[:200]
    except ValueError:
        subject = f"sha256 {hashlib.sha256(der).hexdigest()[:16]}…"
    raise NotPermitted(
        f"TLS client certificate {subject} is not partner {partner.id}'s (neither pinned in its partner file nor "
        "issued by one of its ca_certificates)",
        pointer="/tls/client-certificate",
    )
