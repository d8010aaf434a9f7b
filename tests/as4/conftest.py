"""The AS4 gateway the ingress tests post to: ``peer-ap`` speaks AS4, ``de-customs`` receives over HTTP."""

from __future__ import annotations

import pytest

from gateway.app import build_app
from tests.as4 import support
from tests.conftest import remove_topology


@pytest.fixture
async def gateway(tmp_path, inbox_factory, amqp, aiohttp_client):
    inbox = await inbox_factory()
    deployment = support.as4_deployment(tmp_path, receiver_url=inbox.url)
    client = await aiohttp_client(build_app(deployment.settings()))
    yield deployment, client, inbox
    await client.close()
    await remove_topology(amqp, deployment, ["peer-ap", "de-customs"])
