"""Connectivity check: a signed test message POSTed to a partner's inbox; nothing is recorded or retried."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from lxml import etree

from gateway.delivery.http import is_retryable
from gateway.delivery.probe import ANSWERED, probe
from gateway.errors import ConfigError
from gateway.formats.base import FormatAdapter, Receipt, sign_for
from gateway.partners.model import Partner
from gateway.security.keyring import Keyring
from gateway.security.xml import to_bytes

PING_REFERENCE = "CONNECTIVITY-TEST"  # the test receipt's ReferencedMessageID: what marks it as a test
PING_HEADER = "X-Gateway-Test"  # ... and this header, with the value "connectivity"


@dataclass(frozen=True)
class PingResult:
    """What a connectivity check sent and saw; ``ok`` when the partner answered 2xx."""

    partner: str
    url: str
    ok: bool
    outcome: str  # gateway.delivery.probe: answered, dns, connect, tls, timeout, disconnected, url, ...
    status: int | None
    seconds: float
    answer: str  # the first bytes of the partner's answer
    message: str  # what happened, in one line
    test_id: str
    sent: str  # what was sent: document, size, signature

    def as_json(self) -> dict[str, Any]:
        return {**self.__dict__, "seconds": round(self.seconds, 4)}

    def render(self) -> str:
        lines = [
            f"ping {self.partner}: POST {self.url}",
            f"  sent:   {self.sent}, test id {self.test_id}",
            f"  result: {'ok' if self.ok else 'FAILED'}: {self.message}",
        ]
        if self.outcome == "answered":
            lines.append(f"  answer: {self.answer!r}" if self.answer else "  answer: (empty body)")
        return "\n".join(lines)


def _answered(status: int, milliseconds: str) -> str:
    said = f"the partner answered HTTP {status} in {milliseconds}"
    if 200 <= status < 300:
        return said
    if 300 <= status < 400:
        return f"{said}: redirects are not followed; configure the final URL in the partner file"
    if is_retryable(status):
        return f"{said}: a delivery would be retried with backoff"
    return f"{said}: a delivery would be dead-lettered at once"


async def ping_partner(
    partner: Partner, *, adapter: FormatAdapter, keyring: Keyring, participant_id: str, default_timeout: float
) -> PingResult:
    """POST a signed test message to the partner's inbox: an acceptance receipt in the partner's own format
    (the lightest document every format has, and one every receiver takes) answering the message id
    ``CONNECTIVITY-TEST``, signed as deliveries to it are. Nothing is recorded or retried."""
    if partner.spec.delivery is None:
        raise ConfigError(f"{partner.path}: delivery: partner {partner.id} has no [delivery] url to ping")
    url = str(partner.spec.delivery.url)
    test_id = str(uuid.uuid4())
    receipt = Receipt(
        accepted=True,
        issued=dt.datetime.now(dt.UTC),
        gateway_message_id=test_id,
        sender=participant_id,
        receiver=partner.id,
        referenced_message_id=PING_REFERENCE,
        referenced_message_type="receipt",
    )
    signer = keyring.for_partner(partner)
    rendered = adapter.render_receipt(receipt)
    name = etree.QName(rendered).localname  # read before signing: CEB signs a receipt in a DxpMsg around it
    document = sign_for(adapter, signer, rendered, partner.id)
    if etree.QName(document).localname != name:
        name += f" in {etree.QName(document).localname}"
    body = to_bytes(document)
    headers = {
        "X-Gateway-Message-Id": test_id,
        "X-Sender": participant_id,
        "X-Sender-Message-Id": test_id,
        "X-Message-Type": "receipt",
        PING_HEADER: "connectivity",
    }
    seen = await probe(url, body, headers, seconds=partner.spec.delivery.timeout or default_timeout)
    milliseconds = f"{seen.seconds * 1000:.0f} ms"
    if seen.outcome == ANSWERED and seen.status is not None:
        ok, message = 200 <= seen.status < 300, _answered(seen.status, milliseconds)
    else:
        ok, message = False, f"{seen.outcome}: {seen.detail} (after {milliseconds})"
    algorithm = signer.algorithm.rsplit("#", 1)[-1]
    sent = (
        f"{name} ({partner.format} receipt), {len(body)} bytes, "
        f"signed {algorithm} by {signer.certificate.subject.rfc4514_string()}"
    )
    answer = seen.answer.decode("utf-8", "replace")
    return PingResult(partner.id, url, ok, seen.outcome, seen.status, seen.seconds, answer, message, test_id, sent)
