"""The [controls] section, the rules commands, the admin API's answers to bad queries, and a gateway whose
controls are off."""

from __future__ import annotations

import asyncio
import contextlib
import io

import pytest

from gateway import cli
from gateway.app import build_app
from gateway.controls.rule_files import fingerprint
from gateway.errors import ConfigError
from gateway.runtime import Runtime
from tests.admin.support import Gateway
from tests.conftest import remove_topology
from tests.controls.cbec import CbecSet
from tests.helpers import PartnerSpec, make_deployment, signed

LISTS = ["order", "payment", "logistics", "inventory"]
NOWHERE = "http://127.0.0.1:9/inbox"


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_rules_dir_needs_monitoring_and_country(tmp_path):
    deployment = make_deployment(
        tmp_path, [PartnerSpec("nl-customs", url=NOWHERE)], extra_toml='[controls]\nrules_dir = "rules"\n'
    )
    with pytest.raises(ConfigError, match="controls: Value error, rules_dir needs monitoring = true and country"):
        deployment.settings()


def test_a_bad_rule_file_stops_the_gateway_before_it_serves(tmp_path):
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "x.toml").write_text("[[rule]]\nid = 'x'\ntype = 'destination-concentration'\n")
    deployment = make_deployment(
        tmp_path,
        [PartnerSpec("nl-customs", url=NOWHERE)],
        extra_toml='[controls]\nmonitoring = true\ncountry = "CN"\nrules_dir = "rules"\n',
    )
    with pytest.raises(ConfigError, match=r"x\.toml: rule\[0\] \(id 'x'\)\.threshold: Field required"):
        Runtime(deployment.settings())


def test_rules_check_command(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text("[[rule]]\nid = 'c'\ntype = 'channel-preference'\n")
    code, out, _ = run_cli("rules", "check", str(good))
    assert code == 0
    assert "ok: 1 rule(s) valid: c (channel-preference)" in out
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rule]]\nid = 'c'\ntype = 'channel-preference'\nfactor = 0.5\n")
    code, _, err = run_cli("rules", "check", str(bad))
    assert code == 2
    assert "bad.toml: rule[0] (id 'c').factor: Input should be greater than 1 (got 0.5)" in err


def test_consignments_command_without_a_store(tmp_path):
    deployment = make_deployment(tmp_path, [PartnerSpec("nl-customs", url=NOWHERE)])
    code, _, err = run_cli("consignments", "--config", str(deployment.config_path))
    assert code == 2
    assert "does not exist yet" in err
    code, _, err = run_cli("consignments", "--config", str(deployment.config_path), "--channel", "pigeon")
    assert code == 2
    assert "channel 'pigeon' unknown; allowed: post, express, cbec, cargo" in err


@pytest.fixture
async def plain_gateway(tmp_path, inbox_factory, amqp, aiohttp_client):
    """No [controls]: inventories are routed like any message, the controls API says it is off."""
    inbox = await inbox_factory()
    deployment = make_deployment(
        tmp_path,
        [
            PartnerSpec("cn-nsw", role="single-window", country="CN", sends=LISTS, receives=[]),
            PartnerSpec("cn-clearance", url=inbox.url, country="CN", sends=[], receives=LISTS),
        ],
        rules='[[routing.rules]]\ntypes = ["inventory"]\nreceivers = ["cn-clearance"]\n',
    )
    client = await aiohttp_client(build_app(deployment.settings()))
    yield Gateway(deployment, client), inbox
    await client.close()
    await remove_topology(amqp, deployment, ["cn-nsw", "cn-clearance"])


async def test_with_controls_off_an_inventory_is_routed_at_once(plain_gateway):
    gateway, inbox = plain_gateway
    body = signed(gateway.deployment.partners["cn-nsw"], CbecSet().envelope("inventory"))
    response = await gateway.client.post("/v1/partners/cn-nsw/messages", data=body)
    assert (response.status, response.headers["X-Gateway-Outcome"]) == (202, "accepted")
    await inbox.wait_for(1)
    assert gateway.runtime.controls is None
    assert await gateway.admin("GET", "/consignments") == (
        409,
        {"error": "monitoring-off", "message": "monitoring is off: set [controls] monitoring = true"},
    )
    assert (await gateway.admin("GET", "/alerts"))[0] == 409


@pytest.fixture
async def monitoring_gateway(tmp_path, amqp, aiohttp_client):
    deployment = make_deployment(
        tmp_path, [PartnerSpec("nl-customs", url=NOWHERE)], extra_toml="[controls]\nmonitoring = true\n"
    )
    client = await aiohttp_client(build_app(deployment.settings()))
    yield Gateway(deployment, client)
    await client.close()
    await remove_topology(amqp, deployment, ["nl-customs"])


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("days=soon", "days: 'soon' is not a number"),
        ("days=-1", "days: -1 is outside 0..3660"),
        ("limit=1e9", "limit: 1e+09 is outside 0..10000"),
        ("channel=pigeon", "channel: 'pigeon' is unknown; allowed: post, express, cbec, cargo"),
    ],
)
async def test_the_consignments_api_names_a_bad_parameter(monitoring_gateway, query, message):
    status, body = await monitoring_gateway.admin("GET", f"/consignments?{query}")
    assert (status, body) == (400, {"error": "bad-request", "message": message})


async def test_the_consignments_api_needs_the_token(monitoring_gateway):
    response = await monitoring_gateway.client.get("/v1/admin/consignments")
    assert response.status == 401
    status, body = await monitoring_gateway.admin("GET", "/consignments")
    assert status == 200
    assert body["total"] == 0
    assert body["by_channel"] == {}


@pytest.fixture
async def rules_gateway(tmp_path, amqp, aiohttp_client):
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "a.toml").write_text("[[rule]]\nid = 'first'\ntype = 'channel-preference'\n")
    deployment = make_deployment(
        tmp_path,
        [PartnerSpec("nl-customs", url=NOWHERE)],
        extra_toml='[controls]\nmonitoring = true\ncountry = "CN"\nrules_dir = "rules"\nrules_reload_interval = 0.05\n',
    )
    client = await aiohttp_client(build_app(deployment.settings()))
    yield Gateway(deployment, client)
    await client.close()
    await remove_topology(amqp, deployment, ["nl-customs"])


async def wait_for_rules(gateway: Gateway, wanted: list[str]) -> None:
    for _ in range(400):  # the running gateway looks at the folder every 0.05 s
        if sorted(r.id for r in gateway.runtime.controls.rules.rules) == wanted:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"rules in force: {[r.id for r in gateway.runtime.controls.rules.rules]}, not {wanted}")


async def test_the_running_gateway_reloads_changed_rules_and_keeps_them_when_a_change_is_bad(rules_gateway):
    folder = rules_gateway.deployment.folder / "rules"
    await wait_for_rules(rules_gateway, ["first"])
    (folder / "b.toml").write_text("[[rule]]\nid = 'second'\ntype = 'destination-concentration'\nthreshold = 0.5\n")
    await wait_for_rules(rules_gateway, ["first", "second"])
    (folder / "c.toml").write_text("[[rule]]\nid = 'third'\ntype = 'destination-concentration'\n")  # no threshold
    (folder / "d.toml").write_text("[[rule]]\nid = 'fourth'\ntype = 'channel-preference'\n")
    book = rules_gateway.runtime.controls.rules
    for _ in range(400):  # until the gateway has looked at the folder with c.toml and d.toml in it
        if book.seen == fingerprint(folder):
            break
        await asyncio.sleep(0.025)
    assert book.seen == fingerprint(folder)
    assert sorted(r.id for r in book.rules) == ["first", "second"]  # d.toml came with the bad c.toml: refused
    (folder / "c.toml").unlink()
    await wait_for_rules(rules_gateway, ["first", "fourth", "second"])
