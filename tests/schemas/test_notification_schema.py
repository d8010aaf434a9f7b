"""The canonical Notification is generated from HMRC's RES-DMS schema: it is up to date and carries every path."""

from __future__ import annotations

from lxml import etree

from tests.schemas.notification_xsd import OUT, RES_XSD, generate

XS = "{http://www.w3.org/2001/XMLSchema}"


def test_the_committed_notification_schema_is_the_generated_one():
    assert OUT.read_bytes() == generate(), "regenerate: .venv/bin/python -m tests.schemas.notification_xsd"


def paths(element: etree._Element, prefix: str = "") -> set[tuple[str, str, str]]:
    """(path, minOccurs, maxOccurs) of every element below a schema element, through its anonymous types."""
    # RES's od:Declaration (a whole DEC declaration) is the canonical OriginalDeclaration, a canonical
    # declaration: its own coverage is the declaration's (issue 11, item 1).
    name = element.get("name") or {"od:Declaration": "OriginalDeclaration"}[element.get("ref", "")]
    here = f"{prefix}/{name}"
    found = {(here, element.get("minOccurs", "1"), element.get("maxOccurs", "1"))}
    for child in element.iterchildren(XS + "complexType"):
        for inner in child.iter(XS + "element"):
            if next(a for a in inner.iterancestors(XS + "element")) is element:
                found |= paths(inner, here)
    return found


def test_every_res_response_path_is_a_notification_path_at_its_cardinality(capsys):
    res = paths(etree.parse(str(RES_XSD)).getroot().find(f"{XS}element[@name='Response']"))
    canonical = paths(etree.parse(str(OUT)).getroot().find(f"{XS}element[@name='Notification']"))
    renamed = {(p.replace("/Response", "/Notification", 1), lo, hi) for p, lo, hi in res}
    carried = renamed & canonical
    with capsys.disabled():
        print(f"\nRES-DMS Response paths carried by the canonical Notification: {len(carried)}/{len(renamed)}")
    assert carried == renamed
