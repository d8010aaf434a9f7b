"""The CEB terminal-node wrapper ``dxp:DxpMsg`` (GACC CEB spec 2022-05, chapter 4): where a CEB document
without a signature element of its own is signed.

The spec (chapter 6) signs enveloped (封内加签), inside the message, but only the business messages have a
signature node (``ceb:Signature``/``ds:Signature`` in CEB311, 621 ... the tables of chapter 3 and the XSD);
the receipts (CEB312, 622 ..., CEB900) and the customs' tax messages (CEB816, 818) have none, so a signature
appended to them breaks their XSD. Chapter 4 gives the place: the terminal-node message ``DxpMsg`` carries the
business document base64-encoded in ``Data`` and has its own ``Signature`` node, "采用W3C标准封内签格式"
(table 4-2; ``ds:Signature`` after ``AddInfo`` in ``ceb_terminal_node_202205.xsd``). The gateway sends such
documents as a signed DxpMsg, and reads a DxpMsg it receives: the signature verified on the wrapper covers
``Data``, so the document inside is what the partner signed.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt

from lxml import etree

from gateway.errors import MalformedXml, SchemaInvalid
from gateway.mapping.ceb import CHINA
from gateway.security.xml import parse_xml, to_bytes

DXP_NS = "http://www.chinaport.gov.cn/dxp"
D = f"{{{DXP_NS}}}"
ID_LIMIT = 16  # SenderId / ReceiverId: an..16


def is_dxp(root: etree._Element) -> bool:
    return bool(root.tag == D + "DxpMsg")


def wrap(document: etree._Element, *, sender_id: str, receiver_id: str, created: dt.datetime) -> etree._Element:
    """A DxpMsg carrying ``document`` (unsigned: the caller signs the wrapper)."""
    root = etree.Element(D + "DxpMsg", nsmap={"dxp": DXP_NS})
    root.set("ver", "1.0")
    info = etree.SubElement(root, D + "TransInfo")
    etree.SubElement(info, D + "CopMsgId").text = document.get("guid") or etree.QName(document).localname
    etree.SubElement(info, D + "SenderId").text = sender_id[:ID_LIMIT]
    etree.SubElement(etree.SubElement(info, D + "ReceiverIds"), D + "ReceiverId").text = receiver_id[:ID_LIMIT]
    etree.SubElement(info, D + "CreatTime").text = created.astimezone(CHINA).strftime("%Y-%m-%dT%H:%M:%S")
    etree.SubElement(info, D + "MsgType").text = etree.QName(document).localname[:30]
    etree.SubElement(root, D + "Data").text = base64.b64encode(to_bytes(document)).decode("ascii")
    return root


def unwrap(root: etree._Element) -> etree._Element:
    """The document a DxpMsg carries (parsed by the safe parser), or ``root`` itself when it is none."""
    if not is_dxp(root):
        return root
    data = root.find(D + "Data")
    if data is None or not (data.text or "").strip():
        raise SchemaInvalid("the DxpMsg carries no Data (the base64 CEB document)", pointer="/DxpMsg/Data")
    try:
        inner = base64.b64decode("".join((data.text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise SchemaInvalid("the DxpMsg Data is not base64", pointer="/DxpMsg/Data") from None
    try:
        return parse_xml(inner)
    except MalformedXml as error:
        raise MalformedXml(f"the document in DxpMsg/Data: {error.message}", pointer="/DxpMsg/Data") from error
