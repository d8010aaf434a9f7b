"""Onboarding and operating partners in a running gateway: no restart, nothing dropped, all audited."""

from __future__ import annotations

import datetime as dt
import tomllib

import pytest

from gateway.app import build_app
from tests.admin.support import Gateway, Traffic, flowing
from tests.conftest import remove_topology
from tests.helpers import PartnerSpec, make_deployment, make_identity

RECEIVERS = ["nl-customs", "de-customs", "fr-customs"]


@pytest.fixture
async def gateway(tmp_path, inbox_factory, amqp, aiohttp_client):
    nl_inbox, de_inbox = await inbox_factory(), await inbox_factory()
    deployment = make_deployment(
        tmp_path, [PartnerSpec("nl-customs", url=nl_inbox.url), PartnerSpec("de-customs", url=de_inbox.url)]
    )
    client = await aiohttp_client(build_app(deployment.settings()))
    gw = Gateway(deployment, client, {"nl-customs": nl_inbox, "de-customs": de_inbox})
    yield gw
    await client.close()
    await remove_topology(amqp, deployment, RECEIVERS)


def new_partner_body(pem: str, url: str) -> dict[str, object]:
    return {
        "name": "Direction générale des douanes",
        "role": "customs",
        "country": "FR",
        "format": "canonical",
        "sends": ["risk-alert", "declaration"],
        "receives": ["risk-alert", "receipt"],
        "delivery": {"transport": "http", "url": url},
        "certificates": [pem],
    }


async def test_new_partner_onboarded_through_the_api_while_traffic_flows(gateway: Gateway, inbox_factory, tmp_path):
    nl = gateway.deployment.partners["nl-customs"]
    fr = make_identity(tmp_path / "fr-keys", "fr-customs")
    fr_inbox = await inbox_factory()

    async with flowing(Traffic(gateway, "nl-customs", "de-customs", nl)) as traffic:
        status, answer = await gateway.admin(
            "PUT", "/partners/fr-customs", new_partner_body(fr.cert_path.read_text(), fr_inbox.url)
        )
        assert status == 201, answer
        assert answer["action"] == "create"
        assert answer["reloaded"] == "added: fr-customs"
        # Its first signed message is accepted, and messages for it are delivered: no restart.
        assert await gateway.send(fr, "fr-customs", "de-customs") == (202, "accepted")
        assert await gateway.send(nl, "nl-customs", "fr-customs") == (202, "accepted")
        await fr_inbox.wait_for(1)

    assert traffic.answers
    assert set(traffic.answers) == {(202, "accepted")}
    await gateway.inboxes["de-customs"].wait_for(len(traffic.answers) + 1)

    # The partner file is the source of truth: readable TOML, the certificate stored content-addressed.
    folder = gateway.deployment.folder / "partners"
    written = tomllib.loads((folder / "fr-customs.toml").read_text())
    assert written["country"] == "FR"
    assert written["delivery"]["url"] == fr_inbox.url
    [cert] = written["certificates"]
    assert cert.startswith("certs/fr-customs-")
    assert (folder / cert).read_bytes() == fr.cert_path.read_bytes()

    _, events = await gateway.admin("GET", "/config-events")
    [event] = [e for e in events["events"] if e["partner"] == "fr-customs"]
    assert (event["actor"], event["action"], event["before"]) == ("admin-api", "create", None)
    assert event["after"]["name"] == "Direction générale des douanes"


async def test_invalid_changes_are_refused_and_traffic_continues(gateway: Gateway, tmp_path):
    nl = gateway.deployment.partners["nl-customs"]
    folder = gateway.deployment.folder / "partners"
    before = sorted(gateway.runtime.registry)

    async with flowing(Traffic(gateway, "nl-customs", "de-customs", nl)) as traffic:
        # A broken partner file dropped in the folder: the reload is refused with the file, key and reason.
        (folder / "xx-broken.toml").write_text('id = "xx-broken"\nname = "X"\nrole = "pirate"\ncountry = "XX"\n')
        status, answer = await gateway.admin("POST", "/partners/reload")
        assert status == 422
        assert answer["error"] == "config-invalid"
        assert "xx-broken.toml" in answer["message"]
        assert "role" in answer["message"]
        assert sorted(gateway.runtime.registry) == before
        (folder / "xx-broken.toml").unlink()

        # An invalid partner through the API: refused, nothing written.
        fr = make_identity(tmp_path / "fr-keys", "fr-customs")
        body = {**new_partner_body(fr.cert_path.read_text(), "http://127.0.0.1:9/x"), "country": "France"}
        status, answer = await gateway.admin("PUT", "/partners/fr-customs", body)
        assert status == 422
        assert "country" in answer["message"]
        assert "'France'" in answer["message"]
        assert not (folder / "fr-customs.toml").exists()
        assert not list((folder / "certs").glob("fr-customs-*"))

        # Not a certificate, and a certificate path outside the folder.
        for bad, words in (
            ("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----", "not a PEM"),
            ("../../etc/passwd", "neither a PEM certificate nor a path"),
        ):
            status, answer = await gateway.admin(
                "PUT",
                "/partners/fr-customs",
                {**new_partner_body("", "http://127.0.0.1:9/x"), "certificates": [bad]},
            )
            assert status == 422, answer
            assert words in answer["message"], answer

        # A change to an existing partner that would break it: refused, the old file stays.
        original = (folder / "de-customs.toml").read_text()
        status, answer = await gateway.admin("PUT", "/partners/de-customs", {"name": "no certs"})
        assert status == 422
        assert "certificates" in answer["message"]
        assert (folder / "de-customs.toml").read_text() == original

    assert set(traffic.answers) == {(202, "accepted")}
    _, events = await gateway.admin("GET", "/config-events")
    actions = [e["action"] for e in events["events"]]
    assert "reload-refused" in actions
    assert "create-refused" in actions
    assert "update-refused" in actions


async def test_suspended_partner_is_refused_and_resumed(gateway: Gateway):
    nl, de = gateway.deployment.partners["nl-customs"], gateway.deployment.partners["de-customs"]
    status, answer = await gateway.admin("POST", "/partners/nl-customs/suspend")
    assert status == 200, answer
    assert await gateway.send(nl, "nl-customs", "de-customs") == (503, "partner-suspended")  # come back later
    assert await gateway.send(de, "de-customs", "nl-customs") == (202, "accepted")  # held until it is resumed
    nl_inbox = gateway.inboxes["nl-customs"]
    assert nl_inbox.received == []
    text = (gateway.deployment.folder / "partners" / "nl-customs.toml").read_text()
    assert "suspended = true" in text
    assert text.startswith('id = "nl-customs"')
    _, view = await gateway.admin("GET", "/partners/nl-customs")
    assert view["status"] == "suspended"

    assert (await gateway.admin("POST", "/partners/nl-customs/resume"))[0] == 200
    assert await gateway.send(nl, "nl-customs", "de-customs") == (202, "accepted")
    await nl_inbox.wait_for(1)  # what was held while it was suspended
    assert (await gateway.admin("POST", "/partners/zz-nobody/suspend"))[0] == 404

    _, events = await gateway.admin("GET", "/config-events?partner=nl-customs")
    assert [e["action"] for e in events["events"]] == ["resume", "suspend"]
    assert events["events"][1]["before"].get("suspended") is None
    assert events["events"][1]["after"]["suspended"] is True


async def test_delete_partner(gateway: Gateway):
    nl = gateway.deployment.partners["nl-customs"]
    status, answer = await gateway.admin("DELETE", "/partners/de-customs")
    assert status == 200, answer
    assert answer["reloaded"] == "removed: de-customs"
    assert await gateway.send(nl, "nl-customs", "de-customs") == (422, "no-route")
    assert (await gateway.admin("DELETE", "/partners/de-customs"))[0] == 404


async def test_certificate_rollover_mid_traffic_loses_nothing(gateway: Gateway, tmp_path):
    """The old certificate works until its window closes, the next one from when it is added; none lost."""
    runtime = gateway.runtime
    folder = gateway.deployment.folder / "partners"
    now = dt.datetime.now(dt.UTC)
    # The current certificate of nl-customs ends in one hour; its successor is valid for 30 days.
    old = make_identity(tmp_path / "old", "nl-customs", days=2, not_before=now - dt.timedelta(days=2, minutes=-60))
    new = make_identity(tmp_path / "new", "nl-customs", days=30)
    (folder / "certs" / "nl-customs.crt").write_bytes(old.cert_path.read_bytes())
    assert (await gateway.admin("POST", "/partners/reload"))[0] == 200

    async with flowing(Traffic(gateway, "nl-customs", "de-customs", old)) as traffic:
        status, answer = await gateway.admin(
            "POST", "/partners/nl-customs/certificates", {"certificate": new.cert_path.read_text()}
        )
        assert status == 200, answer
        assert "trusted now" in answer["detail"]
        # Both are trusted inside their windows: the partner switches keys when it likes.
        assert await gateway.send(new, "nl-customs", "de-customs") == (202, "accepted")
        await traffic.at_least(len(traffic.answers) + 2)
        traffic.identity = new
    assert set(traffic.answers) == {(202, "accepted")}
    await gateway.inboxes["de-customs"].wait_for(len(traffic.answers) + 1)

    # Two hours later the old certificate's window has closed: refused; the new one goes on.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    runtime.ingress.clock = lambda: later
    assert await gateway.send(old, "nl-customs", "de-customs") == (401, "certificate-expired")
    assert await gateway.send(new, "nl-customs", "de-customs") == (202, "accepted")

    _, view = await gateway.admin("GET", "/partners/nl-customs")
    assert [c["valid_now"] for c in view["certificates"]] == [True, True]
    _, events = await gateway.admin("GET", "/config-events?partner=nl-customs")
    rotation = events["events"][0]
    assert rotation["action"] == "rotate-cert"
    assert len(rotation["after"]["certificates"]) == 2


async def test_folder_watcher_reloads_changes_and_refuses_broken_files(tmp_path, inbox_factory, amqp, aiohttp_client):
    inbox = await inbox_factory()
    deployment = make_deployment(
        tmp_path, [PartnerSpec("nl-customs", url=inbox.url), PartnerSpec("de-customs", url=inbox.url)]
    )
    settings = deployment.settings(admin={"token_file": "state/admin.token", "watch_interval": 0.05})
    client = await aiohttp_client(build_app(settings))
    gateway = Gateway(deployment, client)
    try:
        folder = deployment.folder / "partners"
        (folder / "xx-broken.toml").write_text('id = "xx-broken"\n')
        await _wait_event(gateway, "reload-refused")
        assert "xx-broken" not in gateway.runtime.registry
        assert await gateway.send(deployment.partners["nl-customs"], "nl-customs", "de-customs") == (
            202,
            "accepted",
        )

        (folder / "xx-broken.toml").unlink()
        text = (folder / "de-customs.toml").read_text().replace('name = "Test partner de-customs"', 'name = "DE"')
        (folder / "de-customs.toml").write_text(text)
        event = await _wait_event(gateway, "reload")
        assert event["actor"] == "file-watch"
        assert event["detail"] == "changed: de-customs"
        assert gateway.runtime.registry["de-customs"].spec.name == "DE"
    finally:
        await client.close()
        await remove_topology(amqp, deployment, ["nl-customs", "de-customs"])


async def _wait_event(gateway: Gateway, action: str) -> dict[str, object]:
    for _ in range(400):
        _, events = await gateway.admin("GET", "/config-events")
        found = [e for e in events["events"] if e["action"] == action]
        if found:
            return found[0]
        await __import__("asyncio").sleep(0.05)
    raise AssertionError(f"no {action} event: {events}")
