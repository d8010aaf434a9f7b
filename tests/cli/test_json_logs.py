"""``gateway run --log-format json`` as a real process on the shared broker: every line it writes is one JSON
object with time, level and event, and the records about a message carry its facts (gateway message id,
partner, type, status). Nothing secret shows: not the admin token, not a key."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import aiohttp

from gateway.config import load_settings
from tests.conftest import remove_topology
from tests.helpers import ROOT, PartnerSpec, envelope, make_deployment, signed
from tests.multiworker import free_port

SENDER, RECEIVER = "nl-customs", "de-customs"


def records(text: str) -> list[dict[str, object]]:
    lines = [line for line in text.splitlines() if line.strip()]
    parsed = []
    for line in lines:
        entry = json.loads(line)  # a line that is not JSON fails the test here
        assert isinstance(entry, dict), line
        assert {"time", "level", "logger", "event"} <= entry.keys(), line
        parsed.append(entry)
    return parsed


async def test_run_with_json_logs(tmp_path, inbox_factory, amqp):
    inbox = await inbox_factory()
    deployment = make_deployment(
        tmp_path, [PartnerSpec(SENDER, url="http://127.0.0.1:9/never"), PartnerSpec(RECEIVER, url=inbox.url)]
    )
    port = free_port()
    out = tmp_path / "gateway.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "GATEWAY_HTTP__PORT": str(port)}
    with out.open("wb") as sink:
        process = subprocess.Popen(  # noqa: ASYNC220 - the gateway runs beside the test's loop
            [sys.executable, "-m", "gateway", "run", "--log-format", "json", "--config", str(deployment.config_path)],
            env=env,
            cwd=ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 60
        while "listening on" not in out.read_text():
            assert process.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            await asyncio.sleep(0.1)
        url = f"http://127.0.0.1:{port}/v1/partners/{SENDER}/messages"
        async with aiohttp.ClientSession() as session:
            good = signed(deployment.partners[SENDER], envelope(SENDER, RECEIVER))
            async with session.post(url, data=good) as response:
                assert response.status == 202
                accepted = response.headers["X-Gateway-Message-Id"]
            bad = signed(deployment.partners[SENDER], envelope(SENDER, "zz-nobody"))
            async with session.post(url, data=bad) as response:
                assert (response.status, response.headers["X-Gateway-Outcome"]) == (422, "no-route")
                rejected = response.headers["X-Gateway-Message-Id"]
        await inbox.wait_for(1)
        while '"status": "delivered"' not in out.read_text():
            assert time.monotonic() < deadline + 30, out.read_text()
            await asyncio.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
        await remove_topology(amqp, deployment, [SENDER, RECEIVER])

    text = out.read_text()
    entries = records(text)
    assert len(entries) >= 4

    def about(message_id: str, status: str) -> dict[str, object]:
        found = [e for e in entries if e.get("message_id") == message_id and e.get("status") == status]
        assert found, f"no {status} record for {message_id}:\n{text}"
        return found[0]

    record = about(accepted, "accepted")
    assert (record["partner"], record["type"], record["level"]) == (SENDER, "risk-alert", "info")
    record = about(accepted, "delivered")
    assert (record["partner"], record["receiver"], record["sender"], record["type"]) == (
        RECEIVER,
        RECEIVER,
        SENDER,
        "risk-alert",
    )
    record = about(rejected, "rejected")
    assert (record["partner"], record["code"]) == (SENDER, "no-route")
    assert any("listening on" in str(e["event"]) for e in entries)

    settings = deployment.settings()
    token = settings.resolve(settings.admin.token_file).read_text().strip()
    assert token not in text
    assert "PRIVATE KEY" not in text


def test_log_format_is_a_config_key(tmp_path):
    deployment = make_deployment(tmp_path, [PartnerSpec(SENDER)], extra_toml='[log]\nformat = "json"\n')
    assert load_settings(deployment.config_path).log.format == "json"
    assert deployment.settings().log.format == "json"
