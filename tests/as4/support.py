"""A deployment with an AS4 partner, and the independent peer (tests/as4/peer.py in .venv-as4peer)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from gateway.as4.wss import Credentials
from tests.helpers import ROOT, Deployment, PartnerSpec, make_deployment

PEER_PYTHON = ROOT / ".venv-as4peer" / "bin" / "python"
PEER_SCRIPT = ROOT / "tests" / "as4" / "peer.py"
UNREGISTERED = "urn:oasis:names:tc:ebcore:partyid-type:unregistered"
SERVICE = "urn:customs-gateway:service:exchange"
ACTION = "RiskAlert"


def as4_table(*, encryption_required: bool, encryption_certificate: str | None) -> str:
    lines = [
        "[as4]",
        'party_id = "PEER-AP"',
        f'party_type = "{UNREGISTERED}"',
        f"encryption_required = {'true' if encryption_required else 'false'}",
    ]
    if encryption_certificate:
        lines.append(f'encryption_certificate = "{encryption_certificate}"')
    lines += [
        "[as4.messages.risk-alert]",
        f'service = "{SERVICE}"',
        'service_type = "urn:customs-gateway:service-type"',
        f'action = "{ACTION}"',
    ]
    return "\n".join(lines)


def as4_deployment(
    folder: Path, *, receiver_url: str, peer_url: str | None = None, encryption_required: bool = True
) -> Deployment:
    """``peer-ap`` speaks AS4 (its certificate also encrypts); ``de-customs`` is a canonical HTTP partner."""
    peer_extra = as4_table(encryption_required=encryption_required, encryption_certificate="certs/peer-ap.crt")
    specs = [
        PartnerSpec("peer-ap", extra=peer_extra, receives=[]),
        PartnerSpec("de-customs", url=receiver_url),
    ]
    deployment = make_deployment(
        folder, specs, extra_toml=f'[as4]\nparty_id = "GW-AP"\nparty_type = "{UNREGISTERED}"\n'
    )
    if peer_url is not None:
        add_as4_delivery(deployment, peer_url)
    return deployment


def add_as4_delivery(deployment: Deployment, url: str, *, encryption_certificate: str | None = None) -> None:
    """The peer also receives risk alerts, over AS4 (its file gains receives and [delivery])."""
    path = deployment.folder / "partners" / "peer-ap.toml"
    text = path.read_text().replace("receives = []", 'receives = ["risk-alert"]')
    if encryption_certificate:
        text = text.replace(
            'encryption_certificate = "certs/peer-ap.crt"', f'encryption_certificate = "{encryption_certificate}"'
        )
    path.write_text(text + f'\n[delivery]\ntransport = "as4"\nurl = "{url}"\n')


def credentials(deployment: Deployment, partner: str) -> Credentials:
    identity = deployment.partners[partner]
    return Credentials(identity.key, identity.cert)  # type: ignore[arg-type]


def peer_config(deployment: Deployment, **extra: object) -> dict[str, object]:
    identity = deployment.partners["peer-ap"]
    return {
        "key": str(identity.key_path),
        "cert": str(identity.cert_path),
        "gateway_cert": str(deployment.gateway.cert_path),
        "party_id": "PEER-AP",
        "party_type": UNREGISTERED,
        "gateway_party_id": "GW-AP",
        "gateway_party_type": UNREGISTERED,
        "service": SERVICE,
        "service_type": "urn:customs-gateway:service-type",
        "action": ACTION,
        **extra,
    }


async def peer_send(folder: Path, config: dict[str, object]) -> dict[str, object]:
    path = folder / "peer-send.json"
    path.write_text(json.dumps(config))
    process = await asyncio.create_subprocess_exec(
        str(PEER_PYTHON),
        str(PEER_SCRIPT),
        "send",
        str(path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    result: dict[str, object] = json.loads(out.decode().strip().splitlines()[-1])
    return result


class PeerServer:
    """The peer as an AS4 receiver in its own process."""

    def __init__(self, folder: Path, config: dict[str, object]) -> None:
        self.folder = folder
        self.config = config
        self.process: asyncio.subprocess.Process | None = None
        self.url = ""

    async def start(self) -> None:
        path = self.folder / "peer-serve.json"
        path.write_text(json.dumps(self.config))
        self.process = await asyncio.create_subprocess_exec(
            str(PEER_PYTHON),
            str(PEER_SCRIPT),
            "serve",
            str(path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 30)
        assert line, (await self.process.stderr.read()).decode() if self.process.stderr else "peer did not start"
        self.url = f"http://127.0.0.1:{json.loads(line)['port']}/as4"

    async def next_message(self) -> dict[str, object]:
        assert self.process is not None
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 30)
        assert line, "the peer stopped"
        result: dict[str, object] = json.loads(line)
        return result

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()
