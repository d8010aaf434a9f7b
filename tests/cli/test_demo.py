"""`make run` = `gateway demo`: from an empty configuration folder, keys appear and alerts flow both ways."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid

from tests.helpers import AMQP_URL, ROOT


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def remove_demo_topology(prefix: str) -> None:
    import aio_pika

    from gateway.broker.topology import Topology
    from gateway.config import DeliverySection

    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        await Topology(prefix, 20, tuple(DeliverySection().retry_delays)).delete(
            channel, ["nl-customs", "cn-nsw", "de-customs"]
        )


async def test_demo_generates_keys_and_shows_messages_flowing_both_ways(tmp_path):
    shutil.copy(ROOT / "gateway.toml", tmp_path / "gateway.toml")
    shutil.copytree(ROOT / "partners", tmp_path / "partners", ignore=shutil.ignore_patterns("certs"))
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copytree(ROOT / "watchlist", tmp_path / "watchlist")
    for name in ("nl-customs", "cn-nsw", "de-customs"):  # the simulated partners' inboxes, on free ports
        path = tmp_path / "partners" / f"{name}.toml"
        text = path.read_text()
        for old in ("127.0.0.1:8091", "127.0.0.1:8092", "127.0.0.1:8093"):
            text = text.replace(old, f"127.0.0.1:{free_port()}")
        path.write_text(text)
    env = {
        **os.environ,
        "GATEWAY_HTTP__PORT": str(free_port()),
        "GATEWAY_AMQP__PREFIX": f"demo{uuid.uuid4().hex[:8]}",
    }
    try:
        result = await asyncio.to_thread(_run_demo, tmp_path, env)
    finally:
        await remove_demo_topology(env["GATEWAY_AMQP__PREFIX"])
    out = result.stdout
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in out + result.stderr
    assert (tmp_path / "keys" / "cn-customs.key").exists()
    assert (tmp_path / "partners" / "certs" / "nl-customs.crt").exists()
    assert out.count("answered HTTP 202 with a signed receipt: accepted") == 4
    assert "nl-customs received risk-alert" in out
    # cn-nsw gets nl-customs' alert and de-customs' (sent over AS4, routed to the single window)
    assert out.count("cn-nsw received risk-alert") == 2
    assert "gateway answered with a signed AS4 receipt acknowledging 3 digests (eb:Messaging, Body, payload)" in out
    assert "de-customs's access point received risk-alert" in out  # delivered over AS4
    assert out.count("signature of the gateway verified") == 5
    # cn-nsw's inspection result with its two scan images, delivered to de-customs over AS4 as attachments
    assert "POSTs it with 2 images as multipart/related" in out
    assert "de-customs's access point received inspection-result" in out, out
    attachments = "with 2 image attachments (xray-1: 1174 bytes, digest verified, photo-1: 3009 bytes, digest verified)"
    assert attachments in out, out


def _run_demo(tmp_path, env) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "demo",
            "--config",
            str(tmp_path / "gateway.toml"),
            "--count",
            "1",
            "--interval",
            "0.2",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=90,
        check=False,
        cwd=tmp_path,
    )
