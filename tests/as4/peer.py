"""An independent AS4 access point for the interop tests: PyPI ``as4`` 0.2.0 (not the gateway's code), with the
small subclasses a generic eDelivery profile needs (no SBDH, the parties' own party types, Service and Action
from the caller). Runs in its own virtualenv (``make as4-peer``: .venv-as4peer), as a separate process.

    peer.py send CONFIG.json     build, sign, encrypt and POST one UserMessage; print the outcome as JSON
    peer.py serve CONFIG.json    an HTTP endpoint answering each UserMessage with the library's receipt;
                                 prints {"port": N} when ready, one JSON line per message received

CONFIG: key, cert (the peer's PEM files), gateway_cert, party_id, party_type, gateway_party_id,
gateway_party_type, service, service_type, action; for send also url and payload (a file).
"""

from __future__ import annotations

import gzip
import json
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from as4 import (
    AS4BaseCredentials,
    AS4ExternalParty,
    AS4InternalCredentials,
    AS4InternalParty,
    AS4LocalPrivateKey,
    AS4PartyIdentity,
    AS4ReceivingExchange,
    AS4References,
    AS4SendingExchange,
    SecurityPolicy,
)
from as4.core.message import AS4Message
from as4.models.common import NAMESPACES
from as4.models.ebms.message_info import MessageId, MessageInfo, Timestamp
from as4.models.ebms.user_message import (
    Action,
    CollaborationInfo,
    ConversationId,
    PartInfo,
    PartProperties,
    PartyInfo,
    PayloadInfo,
    Property,
    Service,
    UserMessage,
)
from as4.peppol import PeppolAS4Profile
from as4.profiles.peppol.message import PeppolAS4Message
from as4.utils.cipher_handler import CipherHandler
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from pydantic import BaseModel


class GenericArgs(BaseModel):
    namespace_map: dict[str, str] = NAMESPACES
    service: str
    service_type: str | None = None
    action: str


class GenericMessage(PeppolAS4Message):
    """eDelivery without Peppol: the payload as it is, no SBDH, no Peppol party type."""

    @classmethod
    def process(cls, fields, parse_context, soap_envelope_element, mime_attachments):
        return AS4Message.process.__func__(cls, fields, parse_context, soap_envelope_element, mime_attachments)

    @classmethod
    def get_user_message(cls, local_party, remote_party, builder_args, references):
        return UserMessage(
            message_info=MessageInfo(
                timestamp=Timestamp(value=datetime.now(UTC)), message_id=MessageId(value=references.message_id)
            ),
            party_info=PartyInfo(
                party_to=remote_party.identity.to_party_to(), party_from=local_party.identity.to_party_from()
            ),
            collaboration_info=CollaborationInfo(
                service=Service(value=builder_args.service, type_value=builder_args.service_type),
                action=Action(value=builder_args.action),
                conversation_id=ConversationId(value=references.conversation_id),
            ),
            payload_info=PayloadInfo(
                part_info=[
                    PartInfo(
                        part_properties=PartProperties(
                            properties=[
                                Property(name="MimeType", value="application/xml"),
                                Property(name="CompressionType", value="application/gzip"),
                            ]
                        ),
                        href=f"cid:{cid}",
                    )
                    for cid in references.attachment_id_encrypted_data_id_map
                ]
            ),
        )

    @classmethod
    def build_message(cls, payload, *, local_party, remote_party, builder_args, references):
        compressed = gzip.compress(payload)
        session_key, encrypted = CipherHandler.encrypt_payload(compressed)
        wrapped = remote_party.credentials.rsa_public_key.encrypt(
            session_key, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=b"")
        )
        attachment_id, _ = references.encrypted_data_attachment_mapping()
        envelope = cls.get_soap_envelope(
            local_party,
            remote_party,
            builder_args,
            references,
            wrapped,
            compressed_payloads={attachment_id: compressed},
        )
        return cls(
            soap_envelope=envelope,
            message_id=references.message_id,
            messaging_id=references.messaging_id,
            mime_attachments={attachment_id: encrypted},
            decrypted_data={attachment_id: payload},
        )


class GenericProfile(PeppolAS4Profile):
    @classmethod
    def get_profile_name(cls) -> str:
        return "generic-edelivery"

    @classmethod
    def message_class(cls):
        return GenericMessage

    @classmethod
    def build_message(cls, payload, *, local_party, remote_party, builder_args, references=None):
        return GenericMessage.build_message(
            payload,
            local_party=local_party,
            remote_party=remote_party,
            builder_args=builder_args,
            references=references or AS4References(),
        )


def _parties(config: dict[str, Any]) -> tuple[AS4InternalParty, AS4ExternalParty]:
    with open(config["key"], "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    with open(config["cert"], "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    with open(config["gateway_cert"], "rb") as f:
        gateway_cert = x509.load_pem_x509_certificate(f.read())
    local = AS4InternalParty(
        identity=AS4PartyIdentity(party_id=config["party_id"], party_type=config["party_type"]),
        credentials=AS4InternalCredentials(certificate=cert, private_key=AS4LocalPrivateKey(key)),
    )
    remote = AS4ExternalParty(
        identity=AS4PartyIdentity(party_id=config["gateway_party_id"], party_type=config["gateway_party_type"]),
        credentials=AS4BaseCredentials(certificate=gateway_cert),
    )
    return local, remote


def send(config: dict[str, Any]) -> dict[str, Any]:
    local, remote = _parties(config)
    exchange = AS4SendingExchange(profile=GenericProfile, local_party=local, remote_party=remote)
    with open(config["payload"], "rb") as f:
        payload = f.read()
    args = GenericArgs(service=config["service"], service_type=config.get("service_type"), action=config["action"])
    headers, body = exchange.build(payload, args)
    request = urllib.request.Request(config["url"], data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer, status = response.read(), response.status
    except urllib.error.HTTPError as error:
        answer, status = error.read(), error.code
    outcome: dict[str, Any] = {"message_id": exchange.message_id, "http_status": status}
    try:
        exchange.receive_signal(answer)
    except Exception as exc:  # the library's verdict on the receipt is what the test reads
        outcome["receipt_error"] = f"{type(exc).__name__}: {exc}"
    outcome["state"] = str(exchange.state)
    outcome["error_code"] = exchange.error.error_code if exchange.error else None
    outcome["acknowledged"] = [r.uri for r in (exchange.receipt.non_repudiated_references if exchange.receipt else [])]
    return outcome


def serve(config: dict[str, Any]) -> None:
    local, remote = _parties(config)
    gateway_cert = remote.credentials.certificate

    def resolver(party_from: Any, embedded: x509.Certificate | None) -> x509.Certificate:
        return gateway_cert

    policy = SecurityPolicy(signer_resolver=resolver, verify_participants=False)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            exchange = AS4ReceivingExchange(profile=GenericProfile, local_party=local)
            exchange.receive({"Content-Type": self.headers.get("Content-Type", "")}, body, security_policy=policy)
            message = exchange.message
            payloads = message.decrypted_data if message is not None else {}
            um = message.soap_envelope.header.messaging.user_message if message and message.soap_envelope else None
            line = {
                "state": str(exchange.state),
                "message_id": exchange.message_id,
                "error": str(message.parse_error) if message and message.parse_error else None,
                "service": um.collaboration_info.service.value if um else None,
                "action": um.collaboration_info.action.value if um else None,
                "from": um.party_info.party_from.party_id.value if um else None,
                "payloads": [p.decode("utf-8", "replace") for p in payloads.values()],
            }
            print(json.dumps(line), flush=True)
            headers, answer = exchange.build_signal()
            self.send_response(200)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    mode, path = sys.argv[1], sys.argv[2]
    with open(path) as f:
        cfg = json.load(f)
    if mode == "send":
        print(json.dumps(send(cfg)))
    else:
        serve(cfg)
