"""The gateway's receipts to an ICS partner, as HMRC's ICS API answers: SuccessResponse and ErrorResponse.

ICS has no receipt message of its own for an ENS lodged outside the EU systems (CC328A and CC316A answer
within them and carry an MRN the gateway does not assign); these are the responses HMRC's API gives its ICS
traders (``schemas/ics-ens/ens_store``).
"""

from __future__ import annotations

import copy

from lxml import etree

from gateway.mapping.records import Loss, W, leftovers, take_text

SUCCESS_NS = "http://www.hmrc.gov.uk/successresponse/2"
RESPONSE_DATA_NS = "http://www.govtalk.gov.uk/enforcement/ICS/responsedata/7"
ERROR_NS = "http://www.govtalk.gov.uk/CM/errorresponse"


def response(receipt: etree._Element, raised_by: str, pointer: str) -> tuple[etree._Element, list[Loss]]:
    """A ``wco:Receipt`` as HMRC's ICS API answers: SuccessResponse (accepted) or ErrorResponse (rejected).

    Accepted: AcceptedTime = IssueDateTime, a Message (code 0) naming the gateway message id, ResponseData
    with the ICS CorrelationId = ReferencedMessageID (14 characters at most). Rejected: one GovTalk Error per
    error (RaisedBy the gateway, Type business, Text = code then description, Location = pointer); the
    receipt's date-time and ids go in the response's Application element, which takes any content.
    """
    work = copy.deepcopy(receipt)
    function = take_text(work.find(W + "FunctionCode"))
    issued = take_text(work.find(W + "IssueDateTime"))
    own, answered = (_take(work, name) for name in ("GatewayMessageID", "ReferencedMessageID"))
    if function in ("accepted", "held"):
        root = etree.Element(f"{{{SUCCESS_NS}}}SuccessResponse", nsmap={"ns": SUCCESS_NS})
        if own:
            etree.SubElement(root, f"{{{SUCCESS_NS}}}Message", code="0").text = _success_text(work, function, own)
        etree.SubElement(root, f"{{{SUCCESS_NS}}}AcceptedTime").text = issued
        losses = leftovers(work, pointer)
        if answered and len(answered) > 14:
            losses.append(Loss(f"{pointer}/ReferencedMessageID", answered))
        elif answered:
            data = etree.SubElement(root, f"{{{SUCCESS_NS}}}ResponseData")
            correlation = etree.SubElement(data, f"{{{RESPONSE_DATA_NS}}}CorrelationId", nsmap={None: RESPONSE_DATA_NS})
            correlation.text = answered
        return root, losses
    root = etree.Element(f"{{{ERROR_NS}}}ErrorResponse", nsmap={"err": ERROR_NS}, SchemaVersion="2.0")
    application = etree.SubElement(root, f"{{{ERROR_NS}}}Application")
    for name, value in (
        ("IssueDateTime", issued),
        ("GatewayMessageID", own),
        ("ReferencedMessageID", answered),
    ):
        if value:
            etree.SubElement(application, W + name, nsmap={"gw": W[1:-1]}).text = value
    errors = work.findall(W + "Error") or [None]  # an ErrorResponse holds one Error at least
    for error in errors:
        out = etree.SubElement(root, f"{{{ERROR_NS}}}Error")
        etree.SubElement(out, f"{{{ERROR_NS}}}RaisedBy").text = raised_by
        etree.SubElement(out, f"{{{ERROR_NS}}}Type").text = "business"
        if error is None:
            continue
        for name in ("ValidationCode", "Description"):
            if text := _take(error, name):
                etree.SubElement(out, f"{{{ERROR_NS}}}Text").text = text
        if location := _take(error, "Pointer"):
            etree.SubElement(out, f"{{{ERROR_NS}}}Location").text = location
    return root, leftovers(work, pointer)


def _success_text(work: etree._Element, function: str, own: str) -> str:
    if function != "held":
        return f"accepted as gateway message {own}"
    # Held on the watch list: accepted, not forwarded until an officer decides; the reasons in the text.
    notes = []
    for error in work.findall(W + "Error"):
        notes.append(_take(error, "Description"))
        work.remove(error)
    return f"held as gateway message {own}: {'; '.join(notes)}"


def _take(parent: etree._Element, name: str) -> str:
    element = parent.find(W + name)
    return take_text(element) if element is not None else ""
