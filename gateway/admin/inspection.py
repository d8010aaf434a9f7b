"""What the console shows of an inspection result: the fields an operator reads and the images, by digest."""

from __future__ import annotations

from typing import Any

from lxml import etree

from gateway.images.manifest import images_of
from gateway.security.xml import parse_xml

W = "{urn:customs-gateway:wco:1}"


def _text(element: etree._Element | None, path: str) -> str | None:
    if element is None:
        return None
    value = element.findtext(path)
    return value.strip() if value and value.strip() else None


def inspection_view(canonical: bytes) -> dict[str, Any] | None:
    """The InspectionResult of a stored canonical message as JSON, or None when it carries none."""
    root = parse_xml(canonical)
    result = root.find(f".//{W}InspectionResult")
    if result is None:
        return None
    by_id = {i.findtext(f"{W}ID"): i for i in result.findall(f"{W}Image")}
    return {
        "reference": _text(result, f"{W}FunctionalReferenceID"),
        "issued": _text(result, f"{W}IssueDateTime"),
        "authority": _text(result, f"{W}InspectingAuthority/{W}Name"),
        "declaration": _text(result, f"{W}Declaration/{W}ID")
        or _text(result, f"{W}Declaration/{W}FunctionalReferenceID"),
        "waybill": _text(result, f"{W}Consignment/{W}TransportContractDocumentID"),
        "inspected": _text(result, f"{W}InspectionDateTime"),
        "location": _text(result, f"{W}InspectionLocation/{W}Name"),
        "methods": [m.findtext(f"{W}Code") for m in result.findall(f"{W}InspectionMethod")],
        "findings": [
            {
                "code": _text(f, f"{W}Code"),
                "description": _text(f, f"{W}Description") or "",
                "images": [i.text for i in f.findall(f"{W}ImageID") if i.text],
            }
            for f in result.findall(f"{W}Finding")
        ],
        "outcome": _text(result, f"{W}Outcome/{W}Code"),
        "outcome_description": _text(result, f"{W}Outcome/{W}Description") or "",
        "officer": _text(result, f"{W}Officer/{W}ID"),
        "images": [
            {
                "id": image.id,
                "type": image.type_code,
                "media_type": image.media_type,
                "size": image.size,
                "sha256": image.sha256,
                "file_name": image.file_name or "",
                "description": _text(by_id.get(image.id), f"{W}Description") or "",
            }
            for image in images_of(root)
        ],
    }
