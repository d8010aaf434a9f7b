"""Admin changes take effect on every worker and every instance at once (announced on the broker), not only on
the worker that served the API call (issue 13: after a PUT answered 201, 7 to 11 of the next 16 messages got
404 unknown-partner; with watch_interval = 0 the other worker never learned). The folder watcher is off here,
so only the announcements can carry the change; each request goes on a new connection (either worker)."""

from __future__ import annotations

import json

from tests.admin.test_onboarding import new_partner_body
from tests.helpers import PartnerSpec, envelope, make_deployment, make_identity, signed
from tests.multiworker import Supervised

ROUNDS = 16


async def send(gateway: Supervised, identity, sender: str) -> str:
    status, _, headers = await gateway.request(
        "POST", f"/v1/partners/{sender}/messages", data=signed(identity, envelope(sender, "de-customs")), token=False
    )
    return f"{status} {headers.get('X-Gateway-Outcome')}"


async def test_partner_changes_reach_every_worker_and_instance_before_the_next_request(tmp_path, inbox_factory):
    inbox = await inbox_factory()
    deployment = make_deployment(
        tmp_path, [PartnerSpec("nl-customs", url=inbox.url), PartnerSpec("de-customs", url=inbox.url)]
    )
    # Two instances of two workers each on one partners folder, store and broker; no folder watching.
    first = Supervised(deployment, workers=2, admin__watch_interval=0, gateway__instance="a")
    second = Supervised(deployment, workers=2, admin__watch_interval=0, gateway__instance="b")
    fr = make_identity(tmp_path / "fr-keys", "fr-customs")
    try:
        await first.start()
        await second.start()
        # A new partner through one worker of the first instance: known everywhere from the answer on.
        status, body, _ = await first.request(
            "PUT", "/v1/admin/partners/fr-customs", json=new_partner_body(fr.cert_path.read_text(), inbox.url)
        )
        assert status == 201, body
        answers = [await send(gateway, fr, "fr-customs") for _ in range(ROUNDS) for gateway in (first, second)]
        assert set(answers) == {"202 accepted"}, answers
        listed = [
            len(json.loads((await gateway.request("GET", "/v1/admin/partners"))[1])["partners"])
            for _ in range(ROUNDS // 2)
            for gateway in (first, second)
        ]
        assert set(listed) == {3}, listed

        # Suspended through the second instance: refused everywhere from the answer on.
        status, body, _ = await second.request("POST", "/v1/admin/partners/fr-customs/suspend")
        assert status == 200, body
        answers = [await send(gateway, fr, "fr-customs") for _ in range(ROUNDS) for gateway in (first, second)]
        assert set(answers) == {"503 partner-suspended"}, answers  # a temporary state (issue 10)

        # Resumed, then removed: each takes effect everywhere at once.
        assert (await first.request("POST", "/v1/admin/partners/fr-customs/resume"))[0] == 200
        answers = [await send(gateway, fr, "fr-customs") for _ in range(ROUNDS // 2) for gateway in (first, second)]
        assert set(answers) == {"202 accepted"}, answers
        assert (await second.request("DELETE", "/v1/admin/partners/fr-customs"))[0] == 200
        answers = [await send(gateway, fr, "fr-customs") for _ in range(ROUNDS // 2) for gateway in (first, second)]
        assert set(answers) == {"404 unknown-partner"}, answers
        # The change is audited once, by the worker that made it, not once per worker.
        status, body, _ = await first.request("GET", "/v1/admin/config-events")
        actions = [e["action"] for e in json.loads(body)["events"] if e.get("partner") == "fr-customs"]
        assert sorted(actions) == ["create", "delete", "resume", "suspend"], actions
    finally:
        for gateway in (first, second):
            await gateway.terminate()
            gateway.close()
