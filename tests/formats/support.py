"""What the partner-format tests share: samples, mapping them, envelopes and message records."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from lxml import etree

from gateway.formats.base import FormatAdapter
from gateway.security.xml import parse_xml
from tests.helpers import ENV

E = f"{{{ENV}}}"


def load(path: Path) -> etree._Element:
    return parse_xml(path.read_bytes())


def to_canonical(adapter: FormatAdapter, root: etree._Element, sender: str) -> etree._Element:
    return adapter.to_canonical(root, adapter.identify(root), sender)


def payload(envelope: etree._Element) -> etree._Element:
    return envelope.find(f"{E}Body")[0]


def c14n(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n")


async def record_of(deployment: Any, client: Any, gateway_id: str, wanted: str) -> dict[str, Any]:
    """The admin API's record of a message, once it has the ``wanted`` status (or after about 5 s)."""
    token = deployment.settings().resolve(deployment.settings().admin.token_file).read_text().strip()
    record: dict[str, Any] = {}
    for _ in range(100):
        response = await client.get(f"/v1/admin/messages/{gateway_id}", headers={"Authorization": f"Bearer {token}"})
        record = await response.json()
        if record["status"] == wanted:
            break
        await asyncio.sleep(0.05)
    return record
