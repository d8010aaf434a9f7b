"""Who made a change through the admin API: ``gateway partners ... --api`` records ``cli:<user>`` (sent as
``X-Gateway-Actor``), not only ``admin-api`` (issue 10); a malformed or impersonating actor is refused."""

from __future__ import annotations

import asyncio
import getpass

import pytest

from gateway.app import build_app
from gateway.cli import main
from tests.admin.support import Gateway
from tests.conftest import remove_topology
from tests.helpers import PartnerSpec, make_deployment, make_identity


@pytest.fixture
async def gateway(tmp_path, inbox_factory, amqp, aiohttp_client):
    inbox = await inbox_factory()
    deployment = make_deployment(tmp_path, [PartnerSpec("nl-customs", url=inbox.url)])
    client = await aiohttp_client(build_app(deployment.settings()))
    gw = Gateway(deployment, client, {"nl-customs": inbox})
    yield gw
    await client.close()
    await remove_topology(amqp, deployment, ["nl-customs", "fr-customs"])


async def _events(gateway: Gateway) -> list[tuple[str, str, str | None]]:
    status, answer = await gateway.admin("GET", "/config-events")
    assert status == 200, answer
    return [(e["actor"], e["action"], e["partner"]) for e in reversed(answer["events"])]


async def test_cli_changes_through_the_api_are_recorded_as_the_cli_user(gateway: Gateway, tmp_path, capsys):
    base = str(gateway.client.make_url("/")).rstrip("/")
    cli = ["--api", base, "--config", str(gateway.deployment.config_path)]
    fr = make_identity(tmp_path / "fr-side", "fr-customs")
    add = ["partners", "add", "fr-customs", *cli, "--name", "Douane", "--role", "customs", "--country", "FR"]
    add += ["--cert", str(fr.cert_path), "--sends", "risk-alert", "--receives", "risk-alert"]
    add += ["--url", gateway.inboxes["nl-customs"].url]
    assert await asyncio.to_thread(main, add) == 0
    assert await asyncio.to_thread(main, ["partners", "update", "fr-customs", *cli, "--name", "DGDDI"]) == 0
    assert await asyncio.to_thread(main, ["partners", "suspend", "fr-customs", *cli]) == 0
    assert await asyncio.to_thread(main, ["partners", "resume", "fr-customs", *cli]) == 0
    assert "the gateway reloaded its partners" in capsys.readouterr().out

    user = f"cli:{getpass.getuser()}"
    assert await _events(gateway) == [
        (user, "create", "fr-customs"),
        (user, "update", "fr-customs"),
        (user, "suspend", "fr-customs"),
        (user, "resume", "fr-customs"),
    ]
    # The partner file written through the API names the user too.
    assert f"Written by {user} on" in (gateway.deployment.folder / "partners" / "fr-customs.toml").read_text()


async def test_an_actor_header_is_recorded_and_the_reload_metric_keeps_its_trigger(gateway: Gateway):
    path = gateway.deployment.folder / "partners" / "nl-customs.toml"
    path.write_text(path.read_text().replace("Test partner", "Renamed"))
    response = await gateway.client.post(
        "/v1/admin/partners/reload", headers={**gateway.headers, "X-Gateway-Actor": "cli:alice"}
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["changed"] == ["nl-customs"]
    assert await _events(gateway) == [("cli:alice", "reload", None)]
    metrics = await (await gateway.client.get("/metrics")).text()
    applied = [line for line in metrics.splitlines() if line.startswith("gateway_config_reloads_total{")]
    assert any('trigger="admin-api"' in line and line.endswith(" 1.0") for line in applied), applied
    assert not any("alice" in line for line in applied), applied

    # Without the header the API stays the actor.
    assert (await gateway.admin("POST", "/partners/nl-customs/suspend"))[0] == 200
    assert (await _events(gateway))[-1] == ("admin-api", "suspend", "nl-customs")


@pytest.mark.parametrize(
    "actor",
    ["admin-api", "signal", "file-watch", "announcement", "cli:two words", "cli:", "CLI:alice", "cli:" + "a" * 65],
)
async def test_a_malformed_or_impersonating_actor_is_refused_and_changes_nothing(gateway: Gateway, actor):
    response = await gateway.client.post(
        "/v1/admin/partners/nl-customs/suspend", headers={**gateway.headers, "X-Gateway-Actor": actor}
    )
    assert response.status == 400
    answer = await response.json()
    assert answer["error"] == "actor-invalid"
    assert "X-Gateway-Actor" in answer["message"]
    assert repr(actor) in answer["message"]
    assert await _events(gateway) == []
    assert "suspended = true" not in (gateway.deployment.folder / "partners" / "nl-customs.toml").read_text()


async def test_the_actor_header_does_not_replace_the_token(gateway: Gateway):
    response = await gateway.client.post(
        "/v1/admin/partners/nl-customs/suspend", headers={"X-Gateway-Actor": "cli:alice"}
    )
    assert response.status == 401
    assert await _events(gateway) == []
