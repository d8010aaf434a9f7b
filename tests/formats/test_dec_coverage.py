"""The canonical Declaration carries the whole HMRC DEC-DMS declaration: proved from the schema, not samples.

Declarations generated from ``WCO_DEC_2_DMS.xsd`` (:mod:`tests.formats.dec_instances`: every element and
attribute path, optional ones present and absent, repeatable ones repeated, values valid for each simple type)
each go wco-dms -> canonical (valid against schemas/canonical) -> wco-dms, and must come back with the same leaf
values at the same paths and nothing added. The coverage is printed (``pytest -s``): paths carried / paths in
the schema, each direction. Real HMRC samples go the same way (tests/formats/test_wco_dms.py).
"""

from __future__ import annotations

import copy
import datetime as dt
import re

import pytest
from lxml import etree
from signxml import XMLVerifier

from gateway.app import build_app
from gateway.formats.base import MessageInfo
from gateway.formats.canonical import CanonicalAdapter
from gateway.formats.wco_dms import WcoDmsAdapter
from gateway.mapping import wco_dms as dms
from tests.conftest import remove_topology
from tests.formats.dec_instances import Draw, instance, instances, optional_paths, schema_paths
from tests.formats.support import load, payload
from tests.helpers import FIXTURES, PartnerSpec, make_deployment, signed

W = "{urn:customs-gateway:wco:1}"
XSI = "{http://www.w3.org/2001/XMLSchema-instance}"
_POSITION = re.compile(r"\[\d+\]")


def values(declaration: etree._Element) -> dict[str, str]:
    """Every value of a declaration: ``path[n]/Leaf`` -> text and ``path[n]/Leaf/@name`` -> value."""
    out: dict[str, str] = {}

    def walk(element: etree._Element, path: str) -> None:
        for name, value in element.attrib.items():
            if not name.startswith(XSI):  # a hint to a schema file (never followed), not a value
                out[f"{path}/@{name}"] = value
        children = [c for c in element if isinstance(c.tag, str)]
        if not children:
            out[path] = element.text or ""
        seen: dict[str, int] = {}
        for child in children:
            name = etree.QName(child).localname
            seen[name] = seen.get(name, 0) + 1
            walk(child, f"{path}/{name}[{seen[name]}]")

    walk(declaration, "Declaration")
    return out


def schema_path(path: str) -> str:
    return _POSITION.sub("", path)


def to_canonical_value(path: str, value: str, source: dict[str, str]) -> tuple[str, str]:
    """Where and how a DEC value is in the canonical Declaration: dates fold their DateTimeString."""
    if path.endswith("/DateTimeString[1]/@formatCode"):
        holder = path.removesuffix("/DateTimeString[1]/@formatCode")
        text = source[holder + "/DateTimeString[1]"]
        return holder, dms.date_from_dec(
            etree.fromstring(
                f'<x><s:DateTimeString xmlns:s="{dms.DEC_DS_NS}" formatCode="{value}">{text}</s:DateTimeString></x>'
            ),
            holder,
        )
    if path.endswith("/DateTimeString[1]"):
        holder = path.removesuffix("/DateTimeString[1]")
        return to_canonical_value(holder + "/DateTimeString[1]/@formatCode", source[path + "/@formatCode"], source)
    return path, value


class Coverage:
    def __init__(self) -> None:
        self.touched: set[str] = set()
        self.inbound_lost: set[str] = set()
        self.outbound_lost: set[str] = set()

    def record(self, original: dict[str, str], canonical: dict[str, str], back: dict[str, str]) -> None:
        for path, value in original.items():
            where = schema_path(path)
            self.touched.add(where)
            target, expected = to_canonical_value(path, value, original)
            if canonical.get(target) != expected:
                self.inbound_lost.add(where)
            if back.get(path) != value:
                self.outbound_lost.add(where)
        for path in set(back) - set(original):  # something added on the way
            self.outbound_lost.add(schema_path(path))

    def report(self) -> str:
        elements, attributes = schema_paths()
        every = elements | attributes
        leaves = {p for p in self.touched if "/@" not in p}
        lines = ["DEC-DMS Declaration coverage (paths carried / paths in WCO_DEC_2_DMS.xsd):"]
        for name, lost in (("wco-dms -> canonical", self.inbound_lost), ("canonical -> wco-dms", self.outbound_lost)):
            carried = self.touched - lost
            carried_elements = {p for p in elements if any(t == p or t.startswith(p + "/") for t in carried)}
            lines.append(
                f"  {name}: elements {len(carried_elements)}/{len(elements)}, "
                f"attributes {len(carried & attributes)}/{len(attributes)}, "
                f"all {len(carried_elements) + len(carried & attributes)}/{len(every)}"
            )
        lines.append(f"  leaf element paths touched: {len(leaves)}")
        return "\n".join(lines)


@pytest.fixture(scope="module")
def generated() -> list[tuple[Draw, etree._Element]]:
    return list(instances())


def test_generated_declarations_touch_every_path_present_and_absent(generated):
    elements, attributes = schema_paths()
    touched: set[str] = set()
    for _, root in generated:
        touched |= {schema_path(p) for p in values(root.find(dms.DEC + "Declaration"))}
    reached = {p for p in elements if any(t == p or t.startswith(p + "/") for t in touched)}
    assert reached == elements
    assert attributes <= touched
    present = set().union(*(draw.present for draw, _ in generated))
    absent = set().union(*(draw.absent for draw, _ in generated))
    assert optional_paths() <= present
    assert optional_paths() <= absent
    assert len(generated) <= 40  # a few dozen instances, so make test stays fast


def test_every_generated_declaration_round_trips_losslessly_through_valid_canonical(generated):
    adapter, canonical_adapter = WcoDmsAdapter(), CanonicalAdapter()
    coverage = Coverage()
    lossless = 0
    for number, (draw, root) in enumerate(generated, 1):
        adapter.validate(root)  # valid against the HMRC schemas (MetaData wrapper + DEC namespace)
        info = MessageInfo("declaration", f"GEN-{number}")
        envelope = adapter.to_canonical(root, info, "gb-hmrc")
        canonical_adapter.validate(envelope)  # valid canonical
        rendered = adapter.from_canonical(copy.deepcopy(envelope), "gb-hmrc")
        adapter.validate(rendered)
        original = values(root.find(dms.DEC + "Declaration"))
        back = values(rendered.find(dms.DEC + "Declaration"))
        coverage.record(original, values(payload(envelope)), back)
        assert back == original, f"instance {number} ({draw.mode}) changed on the way"
        lossless += 1
    print(f"\n{lossless}/{len(generated)} generated declarations lossless\n{coverage.report()}")
    _elements, attributes = schema_paths()
    assert coverage.touched >= attributes
    assert not coverage.inbound_lost
    assert not coverage.outbound_lost


def test_real_hmrc_declarations_round_trip_losslessly_too():
    samples = sorted((FIXTURES / "wco-dec-dms" / "samples" / "declarations").glob("*.xml"))
    assert samples
    adapter, canonical_adapter = WcoDmsAdapter(), CanonicalAdapter()
    coverage = Coverage()
    for path in samples:
        root = load(path)
        adapter.validate(root)
        envelope = adapter.to_canonical(root, adapter.identify(root), "gb-hmrc")
        canonical_adapter.validate(envelope)
        rendered = adapter.from_canonical(copy.deepcopy(envelope), "gb-hmrc")
        adapter.validate(rendered)
        original = values(root.find(dms.DEC + "Declaration"))
        back = values(rendered.find(dms.DEC + "Declaration"))
        coverage.record(original, values(payload(envelope)), back)
        assert back == original, path.name
    print(f"\n{len(samples)}/{len(samples)} HMRC sample declarations lossless\n{coverage.report()}")
    assert not coverage.inbound_lost
    assert not coverage.outbound_lost


def test_the_canonical_declaration_schema_is_generated_from_the_current_dec_schema():
    import importlib.util

    from tests.helpers import ROOT

    spec = importlib.util.spec_from_file_location(
        "generate", ROOT / "scripts" / "canonical" / "generate_declaration.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render() == (ROOT / "schemas" / "canonical" / "declaration.xsd").read_bytes()


# --- end to end: a generated full declaration, signed, through the real app and broker ---------------------


@pytest.fixture
async def dms_flow(tmp_path, inbox_factory, amqp, aiohttp_client):
    canonical_inbox, dms_inbox = await inbox_factory(), await inbox_factory()
    deployment = make_deployment(
        tmp_path,
        [
            PartnerSpec("gb-trader", format="wco-dms", country="GB", sends=["declaration"], receives=[]),
            PartnerSpec(
                "gb-hmrc", url=dms_inbox.url, format="wco-dms", country="GB", sends=[], receives=["declaration"]
            ),
            PartnerSpec("nl-customs", url=canonical_inbox.url, sends=[], receives=["declaration"]),
        ],
        rules='[[routing.rules]]\ntypes = ["declaration"]\nreceivers = ["nl-customs", "gb-hmrc"]\n',
        max_attempts=1,
    )
    client = await aiohttp_client(build_app(deployment.settings()))
    yield deployment, client, canonical_inbox, dms_inbox
    await client.close()
    await remove_topology(amqp, deployment, ["gb-trader", "gb-hmrc", "nl-customs"])


async def test_a_signed_full_generated_declaration_reaches_dms_and_canonical_receivers_unchanged(dms_flow):
    deployment, client, canonical_inbox, dms_inbox = dms_flow
    original = instance(Draw("full"))
    declaration = original.find(dms.DEC + "Declaration")
    # Issued now, so the replay window takes it; the LRN is the message id.
    issued = declaration.find(f"{dms.DEC}IssueDateTime/{{{dms.DEC_DS_NS}}}DateTimeString")
    issued.set("formatCode", "304")
    issued.text = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%SZ")
    declaration.find(dms.DEC + "FunctionalReferenceID").text = "GEN-FULL-0001"
    WcoDmsAdapter().validate(original)

    body = signed(deployment.partners["gb-trader"], original)
    response = await client.post("/v1/partners/gb-trader/messages", data=body)
    assert response.status == 202, await response.text()

    await dms_inbox.wait_for(1)
    await canonical_inbox.wait_for(1)
    _, delivered = dms_inbox.received[0]
    document = XMLVerifier().verify(delivered, x509_cert=deployment.gateway.cert).signed_xml
    WcoDmsAdapter().validate(document)
    # The DEC receiver's copy carries the original's business content: every value at its path, nothing added.
    assert values(document.find(dms.DEC + "Declaration")) == values(declaration)

    _, canonical = canonical_inbox.received[0]
    envelope = XMLVerifier().verify(canonical, x509_cert=deployment.gateway.cert).signed_xml
    CanonicalAdapter().validate(envelope)
    expected = WcoDmsAdapter().to_canonical(original, MessageInfo("declaration", "GEN-FULL-0001"), "gb-trader")
    assert etree.tostring(payload(envelope), method="c14n") == etree.tostring(payload(expected), method="c14n")
