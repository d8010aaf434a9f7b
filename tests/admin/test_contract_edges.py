"""What schemathesis found in the admin API against docs/openapi.json (issue: fuzzing the contract from outside):
each answer here is the status the OpenAPI document lists for the operation, with a message naming the value,
never a 500 and never an undocumented status."""

from __future__ import annotations

from typing import Any

import pytest

from gateway import openapi
from gateway.app import build_app
from tests.admin.support import Gateway
from tests.conftest import remove_topology
from tests.helpers import PartnerSpec, make_deployment

DOCUMENT = openapi.document()


def documented(method: str, path: str) -> set[int]:
    return {int(status) for status in DOCUMENT["paths"][path][method]["responses"]}


@pytest.fixture
async def gateway(tmp_path, amqp, aiohttp_client):
    deployment = make_deployment(
        tmp_path, [PartnerSpec("nl-customs", receives=[]), PartnerSpec("de-customs", url="http://127.0.0.1:9/x")]
    )
    client = await aiohttp_client(build_app(deployment.settings(), deliver=False))
    yield Gateway(deployment, client)
    await client.close()
    await remove_topology(amqp, deployment, ["de-customs"])


LIMITS = [
    # a negative limit was passed to SQLite as is: "no limit" when small, OverflowError (500) when huge
    ("-1888238259721091189571584", "at least 1"),
    ("-1", "at least 1"),
    ("0", "at least 1"),
    ("abc", "whole number"),
    ("1e3", "whole number"),
    ("9" * 5000, "whole number"),  # beyond int()'s digit limit: ValueError, not a crash
]


@pytest.mark.parametrize("path", ["/v1/admin/messages", "/v1/admin/config-events"])
@pytest.mark.parametrize(("limit", "words"), LIMITS, ids=[value[:30] for value, _ in LIMITS])
async def test_a_limit_below_one_or_not_a_number_is_400_naming_it(gateway: Gateway, path: str, limit: str, words: str):
    response = await gateway.client.get(path, params={"limit": limit}, headers=gateway.headers)
    body: dict[str, Any] = await response.json()
    assert response.status == 400, body
    assert response.status in documented("get", path)
    assert body["error"] == "bad-request"
    assert "limit" in body["message"]
    assert words in body["message"]
    assert len(body["message"]) < 200  # the value is cut, not echoed whole


@pytest.mark.parametrize("path", ["/v1/admin/messages", "/v1/admin/config-events"])
async def test_a_huge_limit_is_taken_as_the_maximum(gateway: Gateway, path: str):
    response = await gateway.client.get(path, params={"limit": "9" * 40}, headers=gateway.headers)
    assert response.status == 200, await response.text()


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("delete", ""), ("post", "/suspend"), ("post", "/resume")],
    ids=["delete", "suspend", "resume"],
)
@pytest.mark.parametrize("partner", ["0", "NL-CUSTOMS", "\U000ac44aTr\u00c7", "a" * 65])
async def test_a_partner_id_no_file_can_have_is_a_documented_422_naming_it(
    gateway: Gateway, method: str, suffix: str, partner: str
):
    response = await gateway.client.request(method, f"/v1/admin/partners/{partner}{suffix}", headers=gateway.headers)
    body = await response.json()
    assert response.status == 422, body
    assert 422 in documented(method, "/v1/admin/partners/{partner_id}" + suffix)
    assert body["error"] == "config-invalid"
    assert "must be 2-64 characters" in body["message"]
    assert sorted(gateway.runtime.registry) == ["de-customs", "nl-customs"]


async def test_conformance_test_of_a_partner_without_samples_is_a_documented_422(gateway: Gateway):
    response = await gateway.client.post("/v1/admin/partners/nl-customs/test", headers=gateway.headers)
    body = await response.json()
    assert response.status == 422, body
    assert 422 in documented("post", "/v1/admin/partners/{partner_id}/test")
    assert "samples_dir" in body["message"]


async def test_traffic_names_only_documented_queues(gateway: Gateway):
    response = await gateway.client.get("/v1/admin/traffic", headers=gateway.headers)
    body = await response.json()
    assert response.status == 200, body
    allowed = DOCUMENT["components"]["schemas"]["Traffic"]["properties"]["queues"]["items"]["properties"]["queue"]
    queues = {row["queue"] for row in body["queues"]}
    assert "urgent" in queues  # the fast lane's queue (issue 17) is listed beside the bulk one
    assert queues <= set(allowed["enum"]), (queues, allowed)


DEEP = [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000, b"[" * 100_000]


@pytest.mark.parametrize("body", DEEP, ids=["array", "object", "unclosed"])
@pytest.mark.parametrize(
    ("method", "path"),
    [("put", "/v1/admin/partners/xx-new"), ("post", "/v1/admin/partners/nl-customs/certificates")],
    ids=["put-partner", "certificate"],
)
async def test_json_nested_beyond_the_recursion_limit_is_a_422_not_a_500(
    gateway: Gateway, method: str, path: str, body: bytes
):
    headers = {**gateway.headers, "Content-Type": "application/json"}
    response = await gateway.client.request(method, path, data=body, headers=headers)
    answer = await response.json()
    assert response.status == 422, answer
    assert 422 in documented(method, path.replace("xx-new", "{partner_id}").replace("nl-customs", "{partner_id}"))
    assert answer["error"] == "config-invalid"
    assert "not valid JSON" in answer["message"]
    assert sorted(gateway.runtime.registry) == ["de-customs", "nl-customs"]
