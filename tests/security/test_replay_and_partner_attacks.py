"""Replays and impersonation by a partner holding a valid key: signed, but not acceptable."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.helpers import signed
from tests.security.conftest import RECEIVER, SENDER, E, Gate, new_id


async def test_exact_replay_gets_the_original_receipt_and_is_published_once(gate: Gate) -> None:
    body = gate.valid()
    first = await gate.post(body)
    assert (first.status, first.code) == (202, "accepted")
    for _ in range(3):
        again = await gate.post(body)
        assert (again.status, again.code, again.body) == (200, "duplicate", first.body)
    assert await gate.depth(RECEIVER) == 1


async def test_same_id_other_content_is_replayed(gate: Gate) -> None:
    message_id = new_id()
    first = await gate.post(gate.valid(message_id=message_id))
    assert (first.status, first.code) == (202, "accepted")
    root = gate.message(message_id=message_id)
    root.find(f"{E}Body//{{urn:customs-gateway:wco:1}}RiskArea").text = "drugs"
    reply = await gate.post(signed(gate.identity(), root))
    assert (reply.status, reply.code) == (409, "replayed")
    assert message_id in reply.description
    assert "other content" in reply.description
    assert await gate.depth(RECEIVER) == 1
    await gate.assert_unharmed()


async def test_creation_time_outside_the_window_is_replayed(gate: Gate, subtests: pytest.Subtests) -> None:
    for offset, words in [
        (-dt.timedelta(days=1, minutes=5), "outside the accepted window"),
        (dt.timedelta(minutes=10), "outside the accepted window"),
        (-dt.timedelta(days=3650), "outside the accepted window"),
    ]:
        with subtests.test(str(offset)):
            body = gate.valid(created=dt.datetime.now(dt.UTC) + offset)
            reply = await gate.post(body)
            await gate.assert_refused(reply, 409, "replayed", words, "CreationDateTime")
    await gate.assert_unharmed()


@pytest.mark.parametrize(
    "value",
    [
        "12026-11-27T10:00:00Z",
        "2020-01-01T00:00:00.1234567891Z",
        "0001-01-01T00:00:00Z",
        "not a date",
        "",
    ],
)
async def test_unreadable_creation_time_is_never_a_way_around_the_window(gate: Gate, value: str) -> None:
    """A CreationDateTime the gateway cannot place in time must not skip the window check."""
    root = gate.message()
    root.find(f"{E}Header/{E}CreationDateTime").text = value
    reply = await gate.post(signed(gate.identity(), root))
    assert reply.status in (409, 422), (value, reply.status, reply.code, reply.body[:400])
    assert reply.code in ("replayed", "schema-invalid")
    await gate.assert_refused(reply, reply.status, reply.code, "CreationDateTime")
    await gate.assert_unharmed()


async def test_sender_other_than_the_url_partner_is_not_permitted(gate: Gate) -> None:
    """nl-customs, with its own valid key, claims to be de-customs."""
    body = signed(gate.identity(SENDER), gate.message(RECEIVER, "picky-it", message_type="risk-alert"))
    reply = await gate.post(body)
    await gate.assert_refused(reply, 403, "not-permitted", f"Sender '{RECEIVER}'", f"'{SENDER}' in the URL")
    await gate.assert_unharmed()


async def test_type_the_partner_may_not_send_is_not_permitted(gate: Gate) -> None:
    body = signed(gate.identity("narrow-pl"), gate.message("narrow-pl"))
    reply = await gate.post(body, partner="narrow-pl")
    await gate.assert_refused(reply, 403, "not-permitted", "narrow-pl may not send 'risk-alert'", "receipt")
    await gate.assert_unharmed()


async def test_receiver_that_cannot_take_it_is_no_route(gate: Gate, subtests: pytest.Subtests) -> None:
    for receiver, words in [
        ("picky-it", "does not accept 'risk-alert'"),
        ("nowhere-xx", "not a known partner"),
        (SENDER, "back to its sender"),
    ]:
        with subtests.test(str(receiver)):
            reply = await gate.post(gate.valid(receiver=receiver))
            await gate.assert_refused(reply, 422, "no-route", words)
    await gate.assert_unharmed()


async def test_unknown_partner_in_the_url(gate: Gate, subtests: pytest.Subtests) -> None:
    for partner in ["evil-partner", "NL-CUSTOMS", "nl-customs%00", "a" * 300, "..%2F..%2Fetc"]:
        with subtests.test(str(partner)):
            reply = await gate.post(gate.valid(), partner=partner)
            await gate.assert_refused(reply, 404, "unknown-partner", "no partner")
            assert partner.encode() not in reply.body or partner == "evil-partner"
    await gate.assert_unharmed()
