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


def _identity(folder: Path, name: str) -> Identity:
    key, cert = new_key_and_certificate(name, days=365)  # no expiry warnings in the gateway's log
    key_path, cert_path = folder / f"{name}.key", folder / f"{name}.crt"
    write_key_and_certificate(key, cert, key_path, cert_path)
    return Identity(name, key_path, cert_path)


def _partner_file(identity: Identity, *, sends: bool, delivery_url: str | None) -> str:
    lines = [
        f'id = "{identity.id}"',
        f'name = "Bench partner {identity.id}"',
        'role = "customs"',
        'country = "NL"',
        'format = "canonical"',
        f'certificates = ["certs/{identity.id}.crt"]',
        'sends = ["risk-alert"]' if sends else "sends = []",
        "receives = []" if sends else 'receives = ["risk-alert"]',
    ]
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
) -> BenchDeployment:
    """Write everything the gateway needs; ``delivery_base_url``/<receiver-id> is where deliveries go."""
    prefix = f"bench{uuid.uuid4().hex[:10]}"
    keys, certs = folder / "keys", folder / "partners" / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    _identity(keys, GATEWAY_ID)
    sender_ids = tuple(_identity(folder / "partner-keys", f"bench-tx-{n}") for n in range(1, senders + 1))
    receiver_ids = tuple(_identity(folder / "partner-keys", f"bench-rx-{n}") for n in range(1, receivers + 1))
    for identity in sender_ids + receiver_ids:
        (certs / f"{identity.id}.crt").write_bytes(identity.cert_path.read_bytes())
        url = None if identity in sender_ids else f"{delivery_base_url}/{identity.id}"
        (folder / "partners" / f"{identity.id}.toml").write_text(
            _partner_file(identity, sends=identity in sender_ids, delivery_url=url)
        )
    port = free_port()
    delays = ", ".join(str(d) for d in RETRY_DELAYS)
    (folder / "gateway.toml").write_text(
        f"""[gateway]
id = "{GATEWAY_ID}"
signing_key = "keys/{GATEWAY_ID}.key"
signing_cert = "keys/{GATEWAY_ID}.crt"
partners_dir = "partners"

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
"""
    )
    return BenchDeployment(folder, port, prefix, sender_ids, receiver_ids)
