"""Partner files written by the gateway, metrics and expiry warnings, SIGHUP, the conformance API, the
console's static files."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import tomllib

import pytest

from gateway.app import build_app
from gateway.partners.files import render_partner, set_key, spec_data
from gateway.partners.model import PartnerFile
from gateway.server import serve
from gateway.store.sqlite import SqliteStore
from tests.admin.support import Gateway
from tests.conftest import remove_topology
from tests.helpers import PartnerSpec, envelope, make_deployment, partner_toml, signed


def test_partner_file_writer_round_trips_awkward_values():
    data = {
        "id": "fr-customs",
        "name": 'Douane "française" \\ tab\t new\nline \x7f ü 𝄞',
        "suspended": False,
        "certificates": ["certs/a.crt", "certs/b.crt"],
        "delivery": {"transport": "http", "url": "http://h/x", "timeout": 2.5},
    }
    assert tomllib.loads(render_partner(data, comment="two\nlines")) == data


def test_a_partner_quota_is_written_only_when_it_says_something():
    """Partner files written by the API or the CLI (issue 17): ``[quota]`` with the keys set, or no table at all."""
    base = {
        "id": "fr-customs",
        "name": "Douane",
        "role": "customs",
        "country": "FR",
        "certificates": ["certs/a.crt"],
        "sends": ["risk-alert"],
    }
    plain = render_partner(spec_data(PartnerFile(**base)))
    assert "[quota]" not in plain
    limited = render_partner(spec_data(PartnerFile(**base, quota={"rate": 5, "max_in_flight": 2})))
    assert tomllib.loads(limited)["quota"] == {"rate": 5.0, "max_in_flight": 2}


def test_set_key_keeps_comments_and_handles_multiline_arrays():
    text = partner_toml(PartnerSpec("nl-customs", url="http://h/x"), ["certs/a.crt"]).replace(
        'certificates = ["certs/a.crt"]', '# trusted\ncertificates = [\n  "certs/a.crt",  # the first\n]'
    )
    updated = set_key(text, "certificates", ["certs/a.crt", "certs/b.crt"])
    assert updated is not None
    assert "# trusted" in updated
    assert tomllib.loads(updated)["certificates"] == ["certs/a.crt", "certs/b.crt"]
    suspended = set_key(updated, "suspended", True)
    assert suspended is not None
    assert tomllib.loads(suspended)["suspended"] is True
    assert tomllib.loads(suspended)["delivery"]["url"] == "http://h/x"
    assert "suspended" not in tomllib.loads(suspended)["delivery"]


@pytest.fixture
async def gateway(tmp_path, inbox_factory, amqp, aiohttp_client):
    inbox = await inbox_factory()
    deployment = make_deployment(
        tmp_path,
        [
            PartnerSpec("nl-customs", url=inbox.url, extra='samples_dir = "samples"'),
            PartnerSpec("de-customs", url=inbox.url),
        ],
    )
    settings = deployment.settings(admin={"token_file": "state/admin.token", "certificate_warning_days": 45})
    client = await aiohttp_client(build_app(settings))
    yield Gateway(deployment, client)
    await client.close()
    await remove_topology(amqp, deployment, ["nl-customs", "de-customs"])


async def test_metrics_show_queue_depth_counters_and_expiring_certificates(gateway: Gateway, caplog):
    text = await (await gateway.client.get("/metrics")).text()
    instance = f'instance="{gateway.deployment.settings().instance}"'
    assert text.count(instance) == text.count("{")  # every series names this gateway instance
    text = text.replace(instance + ",", "")
    assert 'gateway_queue_depth{queue="deliver",receiver="de-customs"} 0.0' in text
    assert 'gateway_queue_depth{queue="dead",receiver="nl-customs"} 0.0' in text
    # Every partner's series exist before any traffic.
    assert 'gateway_ingress_messages_total{outcome="accepted",partner="nl-customs",type="risk-alert"} 0.0' in text
    assert 'gateway_deliveries_total{outcome="failed",receiver="de-customs"} 0.0' in text
    # Quotas (issue 17): refusals per partner and reason, and what is in flight now.
    assert 'gateway_ingress_refused_total{partner="nl-customs",reason="rate"} 0.0' in text
    assert 'gateway_ingress_refused_total{partner="nl-customs",reason="shed"} 0.0' in text
    assert "# TYPE gateway_ingress_in_flight gauge" in text
    # 30-day test certificates inside a 45-day horizon: counted, warned in the log, shown by the API.
    assert 'gateway_certificates_expiring{partner="nl-customs"} 1.0' in text
    caplog.set_level(logging.WARNING, logger="gateway.runtime")
    assert (await gateway.admin("POST", "/partners/reload"))[0] == 200
    assert any(
        "partner nl-customs: its last trusted certificate" in r.message and "rotate-cert nl-customs" in r.message
        for r in caplog.records
    )
    _, view = await gateway.admin("GET", "/partners/nl-customs")
    assert view["status"] == "certificate-expiring"
    assert view["certificates"][0]["expiring"] is True

    _, traffic = await gateway.admin("GET", "/traffic")
    assert {"receiver": "de-customs", "queue": "deliver", "depth": 0.0} in traffic["queues"]
    assert {"receiver": "de-customs", "queue": "urgent", "depth": 0.0} in traffic["queues"]  # the fast lane
    assert {"partner": "nl-customs", "accepted": 0.0, "rate_limited": 0.0, "shed": 0.0, "in_flight": 0.0} in traffic[
        "senders"
    ]


async def test_conformance_test_through_the_api(gateway: Gateway):
    samples = gateway.deployment.folder / "partners" / "samples"
    samples.mkdir()
    (samples / "alert.xml").write_bytes(
        signed(gateway.deployment.partners["nl-customs"], envelope("nl-customs", "de-customs"))
    )
    status, report = await gateway.admin("POST", "/partners/nl-customs/test")
    assert status == 200, report
    assert report["passed"] is True, report
    assert [s["name"] for s in report["samples"][0]["steps"]] == [
        "parse",
        "identify",
        "signature",
        "schema + mapping",
        "route",
    ]
    assert "PASS  alert.xml" in report["text"]
    status, answer = await gateway.admin("POST", "/partners/de-customs/test")
    assert status == 422
    assert "samples_dir: not set" in answer["message"]
    # Nothing was stored or sent.
    assert (await gateway.admin("GET", "/messages"))[1]["messages"] == []


async def test_every_admin_route_asks_for_the_token(gateway: Gateway):
    """Every route under /v1/admin/ the application has, with each method, answers 401 without the token, with a
    wrong one and with the right one in another scheme, and 400 for a malformed actor."""
    app = gateway.client.app
    assert app is not None
    routes = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or ""
        if path.startswith("/v1/admin/"):
            routes.add((route.method, path.replace("{partner_id}", "nl-customs").replace("{message_id}", "m-1")))
    assert len(routes) >= 30
    for method, path in sorted(routes):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic " + gateway.runtime.token}):
            response = await gateway.client.request(method, path.replace("{sha256}", "0" * 64), headers=headers)
            assert response.status == 401, (method, path, headers)
            if method != "HEAD":
                assert (await response.json())["error"] == "unauthorized"
        response = await gateway.client.request(
            method, path.replace("{sha256}", "0" * 64), headers={**gateway.headers, "X-Gateway-Actor": "nobody"}
        )
        assert response.status == 400, (method, path)
    # The public routes outside /v1/admin/ do not ask for it.
    assert (await gateway.client.get("/v1/keys")).status == 200
    assert (await gateway.client.get("/health")).status == 200


async def test_console_files_and_admin_token(gateway: Gateway):
    page = await gateway.client.get("/console/")
    assert page.status == 200
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "Customs gateway" in await page.text()
    assert (await gateway.client.get("/console/console.js")).status == 200
    assert (await gateway.client.get("/console/..%2Fapp.py")).status == 404
    assert (await gateway.client.get("/v1/admin/traffic")).status == 401
    assert (await gateway.client.put("/v1/admin/partners/x", json={})).status == 401
    status, answer = await gateway.admin("PUT", "/partners/fr-customs", [1, 2])
    assert status == 422
    assert "JSON object" in answer["message"]
    response = await gateway.client.put("/v1/admin/partners/fr-customs", data=b"{not json", headers=gateway.headers)
    assert response.status == 422
    assert "not valid JSON" in (await response.json())["message"]


async def test_sighup_reloads_the_partner_files(tmp_path, amqp, caplog):
    """And logs one line saying what changed, or that nothing did (issue 10)."""
    caplog.set_level(logging.INFO, logger="gateway.runtime")
    deployment = make_deployment(tmp_path, [PartnerSpec("nl-customs", url="http://127.0.0.1:9/a")])
    settings = deployment.settings()
    ready, stop = asyncio.Event(), asyncio.Event()
    server = asyncio.create_task(serve(settings, ready=ready, stop=stop))
    assert settings.sqlite_path is not None
    store = SqliteStore(settings.sqlite_path)
    try:
        await asyncio.wait_for(ready.wait(), 30)
        text = (tmp_path / "partners" / "nl-customs.toml").read_text().replace("Test partner", "Renamed")
        (tmp_path / "partners" / "nl-customs.toml").write_text(text)
        os.kill(os.getpid(), signal.SIGHUP)
        await store.open()
        for _ in range(400):
            events = await store.config_events()
            if events:
                break
            await asyncio.sleep(0.05)
        assert [(e.actor, e.action, e.detail) for e in events] == [("signal", "reload", "changed: nl-customs")]
        os.kill(os.getpid(), signal.SIGHUP)  # the files as they were: said so
        for _ in range(400):
            reloads = [r.getMessage() for r in caplog.records if "partner configuration reloaded" in r.getMessage()]
            if len(reloads) == 2:
                break
            await asyncio.sleep(0.05)
        assert reloads == [
            "partner configuration reloaded (signal): changed: nl-customs",
            "partner configuration reloaded (signal): no change",
        ]
    finally:
        await store.close()
        stop.set()
        await server
        await remove_topology(amqp, deployment, ["nl-customs"])
