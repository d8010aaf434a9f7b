"""The OpenAPI document against the application's real routes: every route is described, every described
operation exists, the methods agree, the admin ones ask for the token; ``docs/openapi.json`` is current and the
gateway serves it without a token."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from gateway import openapi
from gateway.app import build_app
from tests.conftest import remove_topology
from tests.helpers import ROOT, PartnerSpec, make_deployment

METHODS = {"get", "put", "post", "delete", "patch", "options", "head"}
NOT_API = re.compile(r"^/console(/|$)")  # the console's static files are pages, not API


def app_routes(tmp_path: Path) -> set[tuple[str, str]]:
    deployment = make_deployment(tmp_path, [PartnerSpec("nl-customs", url="http://127.0.0.1:9/x")])
    app = build_app(deployment.settings())
    routes = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        assert path is not None, route
        if route.method == "HEAD" or NOT_API.match(path):  # aiohttp adds HEAD to every GET
            continue
        routes.add((route.method.lower(), path))
    return routes


def documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method, path) for path, item in document["paths"].items() for method in item if method in METHODS}


def test_every_route_is_documented_and_nothing_else(tmp_path):
    routes = app_routes(tmp_path)
    described = documented(openapi.document())
    assert routes - described == set(), "routes missing from the OpenAPI document"
    assert described - routes == set(), "documented operations the application does not have"
    assert ("get", "/v1/openapi.json") in routes


def test_the_document_is_consistent():
    document = openapi.document()
    assert document["openapi"].startswith("3.")
    schemas = document["components"]["schemas"]

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [node["$ref"]] if "$ref" in node else [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    for ref in refs(document):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in schemas, ref
    for path, item in document["paths"].items():
        in_template = set(re.findall(r"{(\w+)}", path))
        for method, operation in item.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == in_template, (method, path)
            assert operation["responses"], (method, path)
            assert all(re.fullmatch(r"[1-5]\d\d", code) for code in operation["responses"]), (method, path)
            admin = path.startswith("/v1/admin/")
            assert operation["security"] == ([{"adminToken": []}] if admin else []), (method, path)
            if admin:
                assert "401" in operation["responses"], (method, path)


def test_docs_copy_is_current():
    assert (ROOT / "docs" / "openapi.json").read_text() == openapi.render(), (
        "docs/openapi.json is stale: python -m gateway.openapi > docs/openapi.json"
    )


async def test_the_gateway_serves_it_without_a_token(tmp_path, aiohttp_client, amqp):
    deployment = make_deployment(tmp_path, [PartnerSpec("nl-customs", url="http://127.0.0.1:9/x")])
    client = await aiohttp_client(build_app(deployment.settings()))
    try:
        response = await client.get("/v1/openapi.json")
        assert response.status == 200
        assert response.content_type == "application/json"
        assert json.loads(await response.text()) == openapi.document()
    finally:
        await client.close()
        await remove_topology(amqp, deployment, ["nl-customs"])
