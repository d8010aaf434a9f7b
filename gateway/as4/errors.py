"""ebMS 3.0 errors (Core section 6.7, AS4 profile section 5.2.3): one class per code used here.

    EbmsError                     base: code, short description, severity, category, detail
    ├── ValueNotRecognized        EBMS:0001 a header value the gateway does not know
    ├── FeatureNotSupported       EBMS:0002 e.g. a second UserMessage in one envelope (bundling)
    ├── ValueInconsistent         EBMS:0003 header values that contradict each other or the partner's settings
    ├── Other                     EBMS:0004 the business document was refused by the gateway's pipeline
    ├── InvalidHeader             EBMS:0009 not a readable SOAP 1.2 / ebMS envelope
    ├── ProcessingModeMismatch    EBMS:0010 no partner's [as4] settings match (party, service, action)
    ├── ExternalPayloadError      EBMS:0011 a declared payload part that is not in the message
    ├── FailedAuthentication      EBMS:0101 signature missing, invalid, incomplete or by the wrong key
    ├── FailedDecryption          EBMS:0102 the payload cannot be decrypted with the gateway's key
    ├── PolicyNoncompliance       EBMS:0103 an algorithm or a missing encryption the policy does not allow
    ├── InvalidReceipt            EBMS:0302 (sending side) a receipt that is unsigned, wrongly signed or whose
    │                             NonRepudiationInformation does not match what was sent
    └── DecompressionFailure      EBMS:0303 a gzip payload that does not inflate within the limit

Every failure of AS4 input is one of these: the route answers it as a signed eb:Error signal, never a 500.
"""

from __future__ import annotations

from typing import ClassVar


class EbmsError(Exception):
    code: ClassVar[str] = "EBMS:0004"
    short: ClassVar[str] = "Other"
    severity: ClassVar[str] = "failure"
    category: ClassVar[str] = "Content"

    def __init__(self, detail: str, *, ref_to_message_id: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.ref_to_message_id = ref_to_message_id

    def __str__(self) -> str:
        return f"{self.code} {self.short}: {self.detail}"


class ValueNotRecognized(EbmsError):
    code = "EBMS:0001"
    short = "ValueNotRecognized"


class FeatureNotSupported(EbmsError):
    code = "EBMS:0002"
    short = "FeatureNotSupported"
    severity = "warning"


class ValueInconsistent(EbmsError):
    code = "EBMS:0003"
    short = "ValueInconsistent"


class Other(EbmsError):
    code = "EBMS:0004"
    short = "Other"


class InvalidHeader(EbmsError):
    code = "EBMS:0009"
    short = "InvalidHeader"


class ProcessingModeMismatch(EbmsError):
    code = "EBMS:0010"
    short = "ProcessingModeMismatch"


class ExternalPayloadError(EbmsError):
    code = "EBMS:0011"
    short = "ExternalPayloadError"


class FailedAuthentication(EbmsError):
    code = "EBMS:0101"
    short = "FailedAuthentication"
    category = "Processing"


class FailedDecryption(EbmsError):
    code = "EBMS:0102"
    short = "FailedDecryption"
    category = "Processing"


class PolicyNoncompliance(EbmsError):
    code = "EBMS:0103"
    short = "PolicyNoncompliance"
    category = "Processing"


class InvalidReceipt(EbmsError):
    code = "EBMS:0302"
    short = "InvalidReceipt"
    category = "Communication"


class DecompressionFailure(EbmsError):
    code = "EBMS:0303"
    short = "DecompressionFailure"
    category = "Communication"


BY_CODE: dict[str, type[EbmsError]] = {
    cls.code: cls
    for cls in (
        ValueNotRecognized,
        FeatureNotSupported,
        ValueInconsistent,
        Other,
        InvalidHeader,
        ProcessingModeMismatch,
        ExternalPayloadError,
        FailedAuthentication,
        FailedDecryption,
        PolicyNoncompliance,
        InvalidReceipt,
        DecompressionFailure,
    )
}
