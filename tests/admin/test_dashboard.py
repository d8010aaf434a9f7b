"""The Grafana dashboard (deploy/grafana/gateway-dashboard.json) against a real gateway's /metrics: every metric
an expression names exists, every label it selects or groups by is one those metrics carry, and every legend
names a label the expression keeps. A renamed metric or label fails here, not in front of an operator."""

from __future__ import annotations

import json
import re
from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families

from gateway.app import build_app
from tests.admin.support import Gateway
from tests.conftest import remove_topology
from tests.helpers import ROOT, PartnerSpec, make_deployment

DASHBOARD = ROOT / "deploy" / "grafana" / "gateway-dashboard.json"
METRIC = re.compile(r"\b(gateway_[a-z_]+)\b")
SELECTOR = re.compile(r"\b(gateway_[a-z_]+)\{([^}]*)\}")
MATCHER = re.compile(r'(\w+)\s*(?:=~|!~|!=|=)\s*"')
GROUPING = re.compile(r"\bby\s*\(([^)]*)\)")
LEGEND = re.compile(r"{{\s*(\w+)\s*}}")


def expressions(dashboard: dict) -> list[tuple[str, str, str]]:
    """(panel title, expr, legend format) of every target."""
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append((panel["title"], target["expr"], target.get("legendFormat", "")))
    return found


async def test_dashboard_expressions_use_metrics_and_labels_the_gateway_exposes(
    tmp_path, inbox_factory, amqp, aiohttp_client
):
    inbox = await inbox_factory()
    deployment = make_deployment(
        tmp_path, [PartnerSpec("nl-customs", url="http://127.0.0.1:9/never"), PartnerSpec("de-customs", url=inbox.url)]
    )
    client = await aiohttp_client(build_app(deployment.settings()))
    gateway = Gateway(deployment, client)
    try:
        # Traffic, so that every series exists: an acceptance, a delivery (histograms), a rejection, a reload.
        assert (await gateway.send(deployment.partners["nl-customs"], "nl-customs", "de-customs"))[0] == 202
        assert (await gateway.send(deployment.partners["nl-customs"], "nl-customs", "zz-nobody"))[0] == 422
        await inbox.wait_for(1)
        [message] = [m for m in (await gateway.admin("GET", "/messages?status=delivered"))[1]["messages"]]
        await gateway.wait_status(message["id"], "delivered")
        assert (await gateway.admin("POST", "/partners/reload"))[0] == 200
        text = await (await client.get("/metrics")).text()
    finally:
        await client.close()
        await remove_topology(amqp, deployment, ["nl-customs", "de-customs"])

    labels: dict[str, set[str]] = defaultdict(set)  # sample name -> label names seen on it
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels[sample.name] |= set(sample.labels)

    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["panels"]
    checked = expressions(dashboard)
    assert len(checked) >= 10
    variable = dashboard["templating"]["list"][1]["definition"]
    checked.append(
        ("variable instance", variable.replace("label_values(", "").replace(", instance)", '{instance=~""}'), "")
    )
    for title, expr, legend in checked:
        names = set(METRIC.findall(expr))
        assert names, (title, expr)
        missing = sorted(n for n in names if n not in labels)
        assert missing == [], f"{title}: {missing} not in /metrics ({expr})"
        for name, matchers in SELECTOR.findall(expr):
            for label in MATCHER.findall(matchers):
                assert label in labels[name], f"{title}: {name} has no label {label!r}"
        carried = set().union(*(labels[n] for n in names))
        kept: set[str] = set()
        for group in GROUPING.findall(expr):
            for label in (g.strip() for g in group.split(",")):
                assert label in carried, f"{title}: grouping by {label!r}, which {sorted(names)} do not carry"
                kept.add(label)
        for label in LEGEND.findall(legend):
            assert label in kept, f"{title}: legend {{{{{label}}}}} is not kept by the expression"
