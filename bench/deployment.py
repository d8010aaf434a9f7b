"""A throw-away gateway deployment: real keys, partner files and a ``gateway.toml`` in a temporary folder.

Senders only send risk alerts; receivers only receive them, at URLs served by the bench process. The broker
names carry a prefix of their own so a bench run never meets a test's exchanges or queues.
"""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

from gateway.security.certificates import new_key_and_certificate, write_key_and_certificate

GATEWAY_ID = "bench-gw"
RETRY_DELAYS = (0.5, 1.0, 2.0)


@dataclass(frozen=True)
class Identity:
    id: str
    key_path: Path
    cert_path: Path


@dataclass(frozen=True)
class BenchDeployment:
    folder: Path
    port: int
    prefix: str
    senders: tuple[Identity, ...]
    receivers: tuple[Identity, ...]

    @property
    def config_path(self) -> Path:
        return self.folder / "gateway.toml"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def inbox_url(self, sender: str) -> str:
        return f"{self.base_url}/v1/partners/{sender}/messages"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Load:
    """What the senders send (``--load``): their format, message type and key, and what the receivers take.

    The formats other than the canonical risk alert name no receiver in the message: a routing rule sends
    every message to the first receiver (the bench counts one delivery per message)."""

    name: str
    message_type: str
    sender_format: str = "canonical"
    sm2: bool = False  # the senders sign SM2-SM3 (a CEB signing device) and get SM2-signed receipts
    receive_format: str | None = None  # the receivers' receive_formats for the type
    routed: bool = False  # a [[routing.rules]] entry picks the receiver

    @property
    def sender_lines(self) -> list[str]:
        if self.sender_format == "ceb":
            return ['role = "single-window"', 'country = "CN"', 'format = "ceb"'] + (
                ['signature_algorithm = "sm2-sm3"'] if self.sm2 else []
            )
        return ['role = "customs"', 'country = "NL"', f'format = "{self.sender_format}"']


LOADS = {
    load.name: load
    for load in (
        Load("risk-alert", "risk-alert"),
        Load("ceb311-sm2", "order", sender_format="ceb", sm2=True, routed=True),
        Load("ceb621-sm2-dms", "inventory", sender_format="ceb", sm2=True, receive_format="wco-dms", routed=True),
        Load("dec-dms", "declaration", sender_format="wco-dms", routed=True),
    )
}


def _identity(folder: Path, name: str, *, sm2: bool = False) -> Identity:
    if sm2:
        sm2_key, cert = new_key_and_certificate(name, days=365, algorithm="sm2")
        key_path, cert_path = folder / f"{name}.key", folder / f"{name}.crt"
        write_key_and_certificate(sm2_key, cert, key_path, cert_path)
        return Identity(name, key_path, cert_path)
    key, cert = new_key_and_certificate(name, days=365)  # no expiry warnings in the gateway's log
    key_path, cert_path = folder / f"{name}.key", folder / f"{name}.crt"
    write_key_and_certificate(key, cert, key_path, cert_path)
    return Identity(name, key_path, cert_path)


def _partner_file(identity: Identity, *, sends: bool, delivery_url: str | None, load: Load) -> str:
    kind = load.message_type
    lines = [
        f'id = "{identity.id}"',
        f'name = "Bench partner {identity.id}"',
        *(load.sender_lines if sends else ['role = "customs"', 'country = "NL"', 'format = "canonical"']),
        f'certificates = ["certs/{identity.id}.crt"]',
        f'sends = ["{kind}"]' if sends else "sends = []",
        "receives = []" if sends else f'receives = ["{kind}"]',
    ]
    if not sends and load.receive_format:
        lines.append(f'receive_formats = {{ {kind} = "{load.receive_format}" }}')
    if delivery_url:
        lines += ["", "[delivery]", 'transport = "http"', f'url = "{delivery_url}"']
    return "\n".join(lines) + "\n"


def make_deployment(
    folder: Path,
    *,
    senders: int,
    receivers: int,
    delivery_base_url: str,
    amqp_url: str,
    store_url: str = "sqlite:///state/gateway.db",
    load: Load = LOADS["risk-alert"],
) -> BenchDeployment:
    """Write everything the gateway needs; ``delivery_base_url``/<receiver-id> is where deliveries go."""
    prefix = f"bench{uuid.uuid4().hex[:10]}"
    keys, certs = folder / "keys", folder / "partners" / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    _identity(keys, GATEWAY_ID)
    sender_ids = tuple(_identity(folder / "partner-keys", f"bench-tx-{n}", sm2=load.sm2) for n in range(1, senders + 1))
    receiver_ids = tuple(_identity(folder / "partner-keys", f"bench-rx-{n}") for n in range(1, receivers + 1))
    for identity in sender_ids + receiver_ids:
        (certs / f"{identity.id}.crt").write_bytes(identity.cert_path.read_bytes())
        url = None if identity in sender_ids else f"{delivery_base_url}/{identity.id}"
        (folder / "partners" / f"{identity.id}.toml").write_text(
            _partner_file(identity, sends=identity in sender_ids, delivery_url=url, load=load)
        )
    port = free_port()
    delays = ", ".join(str(d) for d in RETRY_DELAYS)
    sm2_keys = ""
    if load.sm2:  # receipts to an SM2 partner are signed SM2-SM3 with the gateway's SM2 key
        _identity(keys, f"{GATEWAY_ID}-sm2", sm2=True)
        sm2_keys = f'sm2_signing_key = "keys/{GATEWAY_ID}-sm2.key"\nsm2_signing_cert = "keys/{GATEWAY_ID}-sm2.crt"\n'
    rules = ""
    if load.routed:
        rules = f'\n[[routing.rules]]\ntypes = ["{load.message_type}"]\nreceivers = ["{receiver_ids[0].id}"]\n'

    (folder / "gateway.toml").write_text(
        f"""[gateway]
id = "{GATEWAY_ID}"
signing_key = "keys/{GATEWAY_ID}.key"
signing_cert = "keys/{GATEWAY_ID}.crt"
partners_dir = "partners"
{sm2_keys}
[http]
host = "127.0.0.1"
port = {port}

[amqp]
url = "{amqp_url}"
prefix = "{prefix}"

[store]
url = "{store_url}"

[admin]
token_file = "state/admin.token"

[delivery]
retry_delays = [{delays}]
max_attempts = 5
{rules}"""
    )
    return BenchDeployment(folder, port, prefix, sender_ids, receiver_ids)
