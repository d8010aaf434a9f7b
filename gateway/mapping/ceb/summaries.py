"""Summary declarations of export lists: CEB701 application <-> ``summary-application``, CEB792 result <->
``summary-result``.

    CEB701 summary application (汇总申请单) <-> SummaryApplication/SummaryRequest  receipt CEB702 SummaryReturn
    CEB792 summary result (汇总结果单)      <-> SummaryResult/SummaryDeclaration   (no CEB receipt: CEB900)

CEB701 (spec 2.21, table 2-73) names the export lists to sum up into goods declarations (none when a time range
is given); CEB792 (spec 2.23, table 2-80), customs -> enterprise, each goods declaration customs generated from
it and the list lines it sums up (no BaseTransfer, no receipt).
"""

from __future__ import annotations

from gateway.mapping.ceb.codes import RETURN_TIME, SUMMARY_MODE, TIME
from gateway.mapping.ceb.fields import (
    DECLARANT,
    GUID,
    HEADER,
    OFFICE,
    REFERENCES,
    REPORT_TAIL,
    SELLER,
    WEIGHTS,
    party,
)
from gateway.mapping.ceb.kind import Part, message
from gateway.mapping.records import Code, Field, Table

BROKER = party("declAgent", "CustomsBroker")  # who lodges the goods declarations

APPLICATION = Table((
    *HEADER,
    OFFICE,
    *REFERENCES,
    Field("sumNo", "DeclarationID"),
    *DECLARANT,
    *SELLER,
    *BROKER,
    Field("startTime", "StartDateTime", TIME),
    Field("endTime", "EndDateTime", TIME),
    Field("loctNo", "GoodsLocationID"),
    Field("summaryFlag", "SummaryModeCode", Code(SUMMARY_MODE)),
    Field("itemNameFlag", "ItemNameModeCode"),
    *REPORT_TAIL,
))  # fmt: skip
APPLICATION_LINE = Table((Field("invtNo", "DeclarationID"),))

RESULT = Table((
    GUID,
    Field("opDate", "IssueDateTime", RETURN_TIME),
    OFFICE,
    Field("sumNo", "SummaryApplicationID"),
    Field("declSeqNo", "SummaryID"),
    Field("decTmpNo", "StoredDeclarationID"),
    Field("decPreNo", "PreEntryID"),
    Field("entryId", "DeclarationID"),
    Field("decState", "DeclarationStatusCode"),
    *DECLARANT,
    *SELLER,
    *BROKER,
    *WEIGHTS,
    *REPORT_TAIL,
))  # fmt: skip
RESULT_LINE = Table((
    Field("gseqno", "SequenceNumeric"),
    Field("invtNo", "DeclarationID"),
    Field("logisticsNo", "WaybillID"),
    Field("gnum", "ItemSequenceNumeric"),
    Field("gcode", "Classification/ID"),
))  # fmt: skip

KINDS = (
    message(
        "CEB701Message", "summary-application", "SummaryRequest", "SummaryApply",
        Part("SummaryApplyHead", "guid appType appTime appStatus customsCode copNo preNo? sumNo? agentCode agentName "
             "ebcCode ebcName declAgentCode declAgentName startTime? endTime? loctNo? summaryFlag itemNameFlag "
             "msgCount msgSeqNo note?", APPLICATION),
        Part("SummaryApplyList", "invtNo", APPLICATION_LINE),
        direction="EX",
        receipt="guid agentCode ebcCode copNo preNo sumNo? msgSeqNo returnStatus returnTime returnInfo",
        receipt_record="SummaryReturn", key=("summary-application", "agentCode", "copNo"),
        canonical_line="SummarisedClearanceList", max_lines=None, lines_required=False,
    ),
    message(
        "CEB792Message", "summary-result", "SummaryDeclaration", "SummaryResult",
        Part("SummaryResultHead", "guid customsCode sumNo opDate declSeqNo decTmpNo? decPreNo? entryId? decState "
             "agentCode agentName ebcCode ebcName declAgentCode declAgentName grossWeight netWeight msgCount "
             "msgSeqNo note?", RESULT),
        Part("SummaryResultList", "invtNo logisticsNo gseqno gnum gcode", RESULT_LINE),
        direction="EX", receipt=None,
        time_field="opDate", transfer=False, canonical_line="SummarisedItem", max_lines=None, lines_required=False,
    ),
)  # fmt: skip
