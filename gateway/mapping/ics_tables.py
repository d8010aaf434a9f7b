"""The EU ICS data groups of the CC315A, CC351A and CC313A as field tables (:class:`Group`): which canonical
element each group and field becomes (:mod:`gateway.mapping.ics_ens` maps whole messages with them).

Date-times are read in the partner's time zone (:class:`Profile`); language codes (``...LNG``) become
``languageID`` attributes; a two-digit ICS transport mode is its first digit's UN/ECE Rec 19 mode.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from dataclasses import dataclass

from gateway.mapping.codes import CodeList
from gateway.mapping.ics_groups import Group, Lang, sequence
from gateway.mapping.records import Code, Field, FixedUnit, LocalDateTime, Table

# ICS transport modes are n..2: one digit is the UN/ECE Rec 19 mode; two digits (e.g. 42) are a finer EU code
# whose first digit is that mode: carried as the Rec 19 ModeCode with the ICS code as its nationalCode.
TRANSPORT_MODE = CodeList(
    "EU ICS transport mode at border",
    "UN/ECE Rec 19 mode",
    {
        **{str(digit): str(digit) for digit in range(10)},
        **{f"{first}{second}": str(first) for first in range(10) for second in range(10)},
    },
    preferred={str(digit): str(digit) for digit in range(10)},
)
# The CC313A's names of the CC315A header fields it replaces (the amendment's own reference, place, time).
AMENDED = {
    "RefNumHEA4": "DocNumHEA5",
    "DecPlaHEA394": "AmdPlaHEA598",
    "DecPlaHEA394LNG": "AmdPlaHEA598LNG",
    "DecDatTimHEA114": "DatTimAmeHEA113",
}


@dataclass(frozen=True)
class Profile:
    """How the gateway reads and writes this partner's ICS messages."""

    offset: dt.timezone = dt.UTC  # ICS date-times carry no zone
    sender: str = "GATEWAY"  # MesSenMES3 of the CC315A the gateway renders


def _party(prefix: str, target: str, names: str, language: str) -> Group:
    """A trader group (name, street and number, postcode, city, country, NAD LNG, TIN): a canonical party."""
    name, street, postcode, city, country, tin = names.split()
    return Group(
        prefix,
        target,
        (name, street, postcode, city, country, language, tin),
        Table(
            (
                Field(name, "Name"),
                Field(tin, "ID"),
                Field(city, "Address/CityName"),
                Field(country, "Address/CountryCode"),
                Field(street, "Address/Line"),
                Field(postcode, "Address/PostcodeID"),
            )
        ),
        language=language,
    )


def _one(source: str, target: str, *fields: tuple[str, str], many: bool = False, numbered: bool = False) -> Group:
    """A group of plain text fields."""
    table = Table(tuple(Field(name, path) for name, path in fields))
    return Group(source, target, tuple(name for name, _ in fields), table, many=many, numbered=numbered)


def _lang(name: str, path: str, language: str) -> Field:
    return Field(name, path, Lang(language))


@functools.cache
def tables(profile: Profile) -> tuple[Group, Group]:
    """The CC315A and CC351A groups (date-times read in the partner's zone)."""
    time = LocalDateTime(profile.offset, "%Y%m%d%H%M", "yyyyMMddHHmm")
    kilograms, mode = FixedUnit("KGM"), Code(TRANSPORT_MODE, keep_national=True)
    documents = Group(
        "PRODOCDC2",
        "AdditionalDocument",
        sequence("DocTypDC21 DocRefDC23 DocRefDCLNG"),
        Table((Field("DocTypDC21", "TypeCode"), _lang("DocRefDC23", "ID", "DocRefDCLNG"))),
        many=True,
    )
    containers = _one("CONNR2", "Commodity/TransportEquipment", ("ConNumNR21", "ID"), many=True, numbered=True)
    means = Group(
        "IDEMEATRAGI970",
        "BorderTransportMeans",
        sequence("NatIDEMEATRAGI973 IdeMeaTraGIMEATRA971 IdeMeaTraGIMEATRA972LNG"),
        Table(
            (
                _lang("IdeMeaTraGIMEATRA971", "ID", "IdeMeaTraGIMEATRA972LNG"),
                Field("NatIDEMEATRAGI973", "RegistrationNationalityCode"),
            )
        ),
        many=True,
    )
    representative = _party(
        "TRAREP", "Agent", "NamTRE1 StrAndNumTRE1 PosCodTRE1 CitTRE1 CouCodTRE1 TINTRE1", "TRAREPLNG"
    )
    lodging = _party(
        "PERLODSUMDEC",
        "Declarant",
        "NamPLD1 StrAndNumPLD1 PosCodPLD1 CitPLD1 CouCodPLD1 TINPLD1",
        "PERLODSUMDECLNG",
    )
    carrier = _party(
        "TRACARENT601",
        "Consignment/Carrier",
        "NamTRACARENT604 StrNumTRACARENT607 PstCodTRACARENT606 CtyTRACARENT603 CouCodTRACARENT605 TINTRACARENT602",
        "TRACARENT601LNG",
    )
    lodgement = _one("CUSOFFLON", "", ("RefNumCOL1", "DeclarationOfficeID"))
    first_entry = Group(
        "CUSOFFFENT730",
        "FirstEntryOffice",
        sequence("RefNumCUSOFFFENT731 ExpDatOfArrFIRENT733"),
        Table((Field("RefNumCUSOFFFENT731", "ID"), Field("ExpDatOfArrFIRENT733", "ArrivalDateTime", time))),
    )
    goods_item = Group(
        "GOOITEGDS",
        "GoodsShipment/GovernmentAgencyGoodsItem",
        sequence(
            "IteNumGDS7 GooDesGDS23 GooDesGDS23LNG GroMasGDS46 MetOfPayGDI12 ComRefNumGIM1 UNDanGooCodGDI1 "
            "PlaLoaGOOITE333 PlaLoaGOOITE333LNG PlaUnlGOOITE333 PlaUnlGOOITE333LNG"
        ),
        Table(
            (
                Field("IteNumGDS7", "SequenceNumeric"),
                _lang("GooDesGDS23", "Commodity/Description", "GooDesGDS23LNG"),
                Field("UNDanGooCodGDI1", "Commodity/DangerousGoods/UNDGID"),
                Field("GroMasGDS46", "Commodity/GoodsMeasure/GrossMassMeasure", kilograms),
                Field("MetOfPayGDI12", "Freight/PaymentMethodCode"),
                _lang("PlaLoaGOOITE333", "LoadingLocation/Name", "PlaLoaGOOITE333LNG"),
                Field("ComRefNumGIM1", "UCR/ID"),
                _lang("PlaUnlGOOITE333", "UnloadingLocation/Name", "PlaUnlGOOITE333LNG"),
            )
        ),
        groups=(
            documents,
            _one("SPEMENMT2", "AdditionalInformation", ("AddInfCodMT23", "StatementCode"), many=True),
            _party(
                "TRACONCO2",
                "Consignor",
                "NamCO27 StrAndNumCO222 PosCodCO223 CitCO224 CouCO225 TINCO259",
                "NADLNGGTCO",
            ),
            _one("COMCODGODITM", "Commodity/Classification", ("ComNomCMD1", "ID")),
            _party(
                "TRACONCE2",
                "Consignee",
                "NamCE27 StrAndNumCE222 PosCodCE223 CitCE224 CouCE225 TINCE259",
                "NADLNGGICE",
            ),
            containers,
            means,
            Group(
                "PACGS2",
                "Packaging",
                sequence("KinOfPacGS23 NumOfPacGS24 NumOfPieGS25 MarNumOfPacGSL21 MarNumOfPacGSL21LNG"),
                Table(
                    (
                        _lang("MarNumOfPacGSL21", "MarksNumbersID", "MarNumOfPacGSL21LNG"),
                        Field("NumOfPacGS24", "QuantityQuantity"),
                        Field("KinOfPacGS23", "TypeCode"),
                        Field("NumOfPieGS25", "PieceCountQuantity"),
                    )
                ),
                many=True,
                numbered=True,
            ),
            _party(
                "PRTNOT640",
                "NotifyParty",
                "NamPRTNOT642 StrNumPRTNOT646 PstCodPRTNOT644 CtyPRTNOT643 CouCodGINOT647 TINPRTNOT641",
                "PRTNOT640LNG",
            ),
        ),
        many=True,
    )
    ens = Group(
        "CC315A",
        "",
        (),
        Table(()),
        groups=(
            Group(
                "HEAHEA",
                "",
                sequence(
                    "RefNumHEA4 TraModAtBorHEA76 IdeOfMeaOfTraCroHEA85 IdeOfMeaOfTraCroHEA85LNG "
                    "NatOfMeaOfTraCroHEA87 TotNumOfIteHEA305 TotNumOfPacHEA306 TotGroMasHEA307 DecPlaHEA394 "
                    "DecPlaHEA394LNG SpeCirIndHEA1 TraChaMetOfPayHEA1 ComRefNumHEA ConRefNumHEA "
                    "PlaLoaGOOITE334 PlaLoaGOOITE334LNG PlaUnlGOOITE334 CodPlUnHEA357LNG DecDatTimHEA114"
                ),
                Table(
                    (
                        Field("RefNumHEA4", "FunctionalReferenceID"),
                        Field("DecDatTimHEA114", "IssueDateTime", time),
                        _lang("DecPlaHEA394", "IssueLocationName", "DecPlaHEA394LNG"),
                        Field("TotNumOfIteHEA305", "GoodsItemQuantity"),
                        Field("TotGroMasHEA307", "TotalGrossMassMeasure", kilograms),
                        Field("TotNumOfPacHEA306", "TotalPackageQuantity"),
                        Field("SpeCirIndHEA1", "SpecificCircumstancesCodeCode"),
                        _lang("IdeOfMeaOfTraCroHEA85", "BorderTransportMeans/ID", "IdeOfMeaOfTraCroHEA85LNG"),
                        Field("NatOfMeaOfTraCroHEA87", "BorderTransportMeans/RegistrationNationalityCode"),
                        Field("TraModAtBorHEA76", "BorderTransportMeans/ModeCode", mode),
                        Field("ConRefNumHEA", "BorderTransportMeans/JourneyID"),
                        Field("TraChaMetOfPayHEA1", "Consignment/Freight/PaymentMethodCode"),
                        _lang(
                            "PlaLoaGOOITE334",
                            "GoodsShipment/Consignment/LoadingLocation/Name",
                            "PlaLoaGOOITE334LNG",
                        ),
                        _lang(
                            "PlaUnlGOOITE334",
                            "GoodsShipment/Consignment/UnloadingLocation/Name",
                            "CodPlUnHEA357LNG",
                        ),
                        Field("ComRefNumHEA", "GoodsShipment/UCR/ID"),
                    )
                ),
            ),
            _party(
                "TRACONCO1",
                "GoodsShipment/Consignor",
                "NamCO17 StrAndNumCO122 PosCodCO123 CitCO124 CouCO125 TINCO159",
                "NADLNGCO",
            ),
            _party(
                "TRACONCE1",
                "GoodsShipment/Consignee",
                "NamCE17 StrAndNumCE122 PosCodCE123 CitCE124 CouCE125 TINCE159",
                "NADLNGCE",
            ),
            _party(
                "NOTPAR670",
                "GoodsShipment/NotifyParty",
                "NamNOTPAR672 StrNumNOTPAR673 PosCodNOTPAR676 CitNOTPAR674 CouCodNOTPAR675 TINNOTPAR671",
                "NOTPAR670LNG",
            ),
            goods_item,
            _one(
                "ITI",
                "Consignment/Itinerary",
                ("CouOfRouCodITI1", "RoutingCountryCode"),
                many=True,
                numbered=True,
            ),
            lodgement,
            representative,
            lodging,
            Group(
                "SEAID529",
                "GoodsShipment/Consignment/Seal",
                sequence("SeaIdSEAID530 SeaIdSEAID530LNG"),
                Table((_lang("SeaIdSEAID530", "ID", "SeaIdSEAID530LNG"),)),
                many=True,
                numbered=True,
            ),
            first_entry,
            _one("CUSOFFSENT740", "SubsequentEntryOffice", ("RefNumSUBENR909", "ID"), many=True),
            carrier,
        ),
    )
    intervention = Group(
        "CC351A",
        "",
        (),
        Table(()),
        groups=(
            Group(
                "HEAHEA",
                "",
                sequence(
                    "RefNumHEA4 DocNumHEA5 TraModAtBorHEA76 NatHEA001 IdeOfMeaOfTraCroHEA85 "
                    "TotNumOfIteHEA305 ComRefNumHEA ConRefNumHEA NotDatTimHEA104 DecRegDatTimHEA115 "
                    "DecSubDatTimHEA118"
                ),
                Table(
                    (
                        Field("NotDatTimHEA104", "IssueDateTime", time),
                        Field("DecRegDatTimHEA115", "Declaration/AcceptanceDateTime", time),
                        Field("RefNumHEA4", "Declaration/FunctionalReferenceID"),
                        Field("DocNumHEA5", "Declaration/ID"),
                        Field("DecSubDatTimHEA118", "Declaration/IssueDateTime", time),
                        Field("TotNumOfIteHEA305", "Declaration/GoodsItemQuantity"),
                        Field("IdeOfMeaOfTraCroHEA85", "Declaration/BorderTransportMeans/ID"),
                        Field("NatHEA001", "Declaration/BorderTransportMeans/RegistrationNationalityCode"),
                        Field("TraModAtBorHEA76", "Declaration/BorderTransportMeans/ModeCode", mode),
                        Field("ConRefNumHEA", "Declaration/BorderTransportMeans/JourneyID"),
                        Field("ComRefNumHEA", "Declaration/GoodsShipment/UCR/ID"),
                    )
                ),
            ),
            Group(
                "GOOITEGDS",
                "Declaration/GoodsShipment/GovernmentAgencyGoodsItem",
                sequence("IteNumGDS7 ComRefNumGIM1"),
                Table((Field("IteNumGDS7", "SequenceNumeric"), Field("ComRefNumGIM1", "UCR/ID"))),
                groups=(documents, containers, means),
                many=True,
            ),
            _one("CUSOFFLON", "", ("RefNumCOL1", "Declaration/DeclarationOfficeID")),
            _party(
                "TRAREP",
                "Declaration/Agent",
                "NamTRE1 StrAndNumTRE1 PosCodTRE1 CitTRE1 CouCodTRE1 TINTRE1",
                "TRAREPLNG",
            ),
            _party(
                "PERLODSUMDEC",
                "Declaration/Declarant",
                "NamPLD1 StrAndNumPLD1 PosCodPLD1 CitPLD1 CouCodPLD1 TINPLD1",
                "PERLODSUMDECLNG",
            ),
            Group("CUSOFFFENT730", "Declaration/FirstEntryOffice", first_entry.sequence, first_entry.table),
            _party(
                "TRACARENT601",
                "Declaration/Consignment/Carrier",
                "NamTRACARENT604 StrNumTRACARENT607 "
                "PstCodTRACARENT606 CtyTRACARENT603 CouCodTRACARENT605 TINTRACARENT602",
                "TRACARENT601LNG",
            ),
            Group(
                "CUSINT632",
                "Indicator",
                sequence("IteNumConCUSINT668 CusIntCodCUSINT665 CusIntTexCUSINT666 CusIntTexCUSINT667LNG"),
                Table(
                    (
                        Field("CusIntCodCUSINT665", "Code"),
                        _lang("CusIntTexCUSINT666", "Description", "CusIntTexCUSINT667LNG"),
                        Field("IteNumConCUSINT668", "SequenceNumeric"),
                    )
                ),
                many=True,
            ),
        ),
    )
    return ens, intervention


def _amended(item: Field) -> Field:
    if item.source == "RefNumHEA4":
        return Field("DocNumHEA5", "ID")
    codec = item.codec
    if isinstance(codec, Lang) and codec.language in AMENDED:
        codec = Lang(AMENDED[codec.language])
    return Field(AMENDED.get(item.source, item.source), item.target, codec)


@functools.cache
def amendment_table(profile: Profile) -> Group:
    """The CC313A groups: the CC315A's, with the amendment's header fields and without CUSOFFLON."""
    ens = tables(profile)[0]
    header, *rest = ens.groups
    header = dataclasses.replace(
        header,
        sequence=tuple(AMENDED.get(name, name) for name in header.sequence),
        table=Table(tuple(_amended(item) for item in header.table.fields)),
    )
    return dataclasses.replace(ens, source="CC313A", groups=(header, *(g for g in rest if g.source != "CUSOFFLON")))
