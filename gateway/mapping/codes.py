"""China customs code lists and their ISO / UN/ECE equivalents, as tables in code.

China's customs messages (the CEB messages of the national single window among them) use the parameter
codes of GACC's 《JGS-20 海关业务代码集》 (customs business code set): 3-digit country (region) codes,
3-digit currency codes, 3-digit units of measure, 1-character transport modes and packaging types. The CEB
interface specification (GACC 2022-05, sections 2 and 3, e.g. table 3-3; tests/fixtures/README.md) only refers
to JGS-20 and does not print the lists, so the values below are transcribed from the JGS-20 tables as
published by GACC and as used in practice (e.g. 142 = China / CNY, 502 = USA / USD, 007 = 个, 035 = 千克);
the spec itself fixes 142 for the import currency ("限定为人民币, 填写142").

Canonical payloads carry the international codes: ISO 3166-1 alpha-2 countries, ISO 4217 currencies,
UN/ECE Recommendation 20 units, Recommendation 19 transport modes and Recommendation 21 package types.
Where several China codes share one international code (个, 件, 台 ... are all "piece", H87), the canonical
element keeps the China code in a ``nationalCode`` attribute unless it is the preferred one, so a round trip
China -> canonical -> China gives the same code back.

A code missing from a table is never guessed: it is a ``mapping-failed`` rejection naming the field and
the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.errors import MappingFailed


@dataclass(frozen=True)
class CodeList:
    """One national code list and its international equivalent."""

    name: str  # e.g. "China customs currency code (JGS-20)"
    standard: str  # e.g. "ISO 4217"
    entries: Mapping[str, str]  # national -> international
    preferred: Mapping[str, str] = field(default_factory=dict)  # international -> national, for shared codes
    _reverse: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        reverse: dict[str, str] = {}
        shared: set[str] = set()
        for national, international in self.entries.items():
            if international in reverse:
                shared.add(international)
            reverse.setdefault(international, national)
        missing = sorted(shared - set(self.preferred))
        if missing:
            raise ValueError(f"{self.name}: several codes map to {missing}; say which one is preferred")
        for international, national in self.preferred.items():
            if self.entries.get(national) != international:
                raise ValueError(f"{self.name}: preferred {national!r} does not map to {international!r}")
            reverse[international] = national
        object.__setattr__(self, "_reverse", reverse)

    def international(self, national: str, pointer: str) -> str:
        """The international code of a national one, or ``MappingFailed`` naming the field and the value."""
        try:
            return self.entries[national]
        except KeyError:
            raise MappingFailed(
                f"{pointer}: {self.name} {national!r} is not in the gateway's table "
                f"(no {self.standard} equivalent is known for it)",
                pointer=pointer,
            ) from None

    def national(self, international: str, pointer: str, hint: str | None = None) -> str:
        """The national code for an international one; ``hint`` (a ``nationalCode``) picks a shared one."""
        if hint is not None:
            if self.entries.get(hint) == international:
                return hint
            raise MappingFailed(
                f"{pointer}: nationalCode {hint!r} is not a {self.name} for {self.standard} {international!r}",
                pointer=pointer,
            )
        try:
            return self._reverse[international]
        except KeyError:
            raise MappingFailed(
                f"{pointer}: {self.standard} {international!r} has no {self.name} in the gateway's table",
                pointer=pointer,
            ) from None

    def hint(self, national: str) -> str | None:
        """The ``nationalCode`` to keep beside the international code: None when it is the preferred one."""
        international = self.entries.get(national)
        if international is None or self._reverse.get(international) == national:
            return None
        return national


# China customs currency codes (JGS-20 币制代码) -> ISO 4217 alpha-3.
CURRENCY = CodeList(
    "China customs currency code (JGS-20)",
    "ISO 4217",
    {
        "110": "HKD",  # 港币
        "113": "IRR",  # 伊朗里亚尔
        "116": "JPY",  # 日本元
        "118": "KWD",  # 科威特第纳尔
        "121": "MOP",  # 澳门元
        "122": "MYR",  # 马来西亚林吉特
        "127": "PKR",  # 巴基斯坦卢比
        "129": "PHP",  # 菲律宾比索
        "132": "SGD",  # 新加坡元
        "133": "KRW",  # 韩国元
        "136": "THB",  # 泰国铢
        "142": "CNY",  # 人民币
        "143": "TWD",  # 新台币
        "300": "EUR",  # 欧元
        "302": "DKK",  # 丹麦克朗
        "303": "GBP",  # 英镑
        "326": "NOK",  # 挪威克朗
        "330": "SEK",  # 瑞典克朗
        "331": "CHF",  # 瑞士法郎
        "344": "RUB",  # 俄罗斯卢布
        "501": "CAD",  # 加拿大元
        "502": "USD",  # 美元
        "601": "AUD",  # 澳大利亚元
        "609": "NZD",  # 新西兰元
    },
)

# China customs country (region) codes (JGS-20 国别(地区)代码) -> ISO 3166-1 alpha-2. Not mapped on
# purpose: the "other countries of a continent" codes (199, 299, 399, 499, 599, 699), 701 (unknown),
# 702 (UN and international organisations), 999 (neutral packing), codes without an ISO 3166-1 entry of
# their own (207 Canary Is, 210 Ceuta, 256 Melilla, 436 Saba, 438 Saint Martin (French or Dutch part?),
# 604/605/612/615/616 French Polynesian island groups) and withdrawn ISO codes (349 Serbia and Montenegro,
# 449 Netherlands Antilles).
COUNTRY = CodeList(
    "China customs country code (JGS-20)",
    "ISO 3166-1 alpha-2",
    {
        # Asia
        "101": "AF",
        "102": "BH",
        "103": "BD",
        "104": "BT",
        "105": "BN",
        "106": "MM",
        "107": "KH",
        "108": "CY",
        "109": "KP",
        "110": "HK",
        "111": "IN",
        "112": "ID",
        "113": "IR",
        "114": "IQ",
        "115": "IL",
        "116": "JP",
        "117": "JO",
        "118": "KW",
        "119": "LA",
        "120": "LB",
        "121": "MO",
        "122": "MY",
        "123": "MV",
        "124": "MN",
        "125": "NP",
        "126": "OM",
        "127": "PK",
        "128": "PS",
        "129": "PH",
        "130": "QA",
        "131": "SA",
        "132": "SG",
        "133": "KR",
        "134": "LK",
        "135": "SY",
        "136": "TH",
        "137": "TR",
        "138": "AE",
        "139": "YE",
        "141": "VN",
        "142": "CN",
        "143": "TW",
        "144": "TL",
        "145": "KZ",
        "146": "KG",
        "147": "TJ",
        "148": "TM",
        "149": "UZ",
        # Africa
        "201": "DZ",
        "202": "AO",
        "203": "BJ",
        "204": "BW",
        "205": "BI",
        "206": "CM",
        "208": "CV",
        "209": "CF",
        "211": "TD",
        "212": "KM",
        "213": "CG",
        "214": "DJ",
        "215": "EG",
        "216": "GQ",
        "217": "ET",
        "218": "GA",
        "219": "GM",
        "220": "GH",
        "221": "GN",
        "222": "GW",
        "223": "CI",
        "224": "KE",
        "225": "LR",
        "226": "LY",
        "227": "MG",
        "228": "MW",
        "229": "ML",
        "230": "MR",
        "231": "MU",
        "232": "MA",
        "233": "MZ",
        "234": "NA",
        "235": "NE",
        "236": "NG",
        "237": "RE",
        "238": "RW",
        "239": "ST",
        "240": "SN",
        "241": "SC",
        "242": "SL",
        "243": "SO",
        "244": "ZA",
        "245": "EH",
        "246": "SD",
        "247": "TZ",
        "248": "TG",
        "249": "TN",
        "250": "UG",
        "251": "BF",
        "252": "CD",
        "253": "ZM",
        "254": "ZW",
        "255": "LS",
        "257": "SZ",
        "258": "ER",
        "259": "YT",
        # Europe
        "301": "BE",
        "302": "DK",
        "303": "GB",
        "304": "DE",
        "305": "FR",
        "306": "IE",
        "307": "IT",
        "308": "LU",
        "309": "NL",
        "310": "GR",
        "311": "PT",
        "312": "ES",
        "313": "AL",
        "314": "AD",
        "315": "AT",
        "316": "BG",
        "318": "FI",
        "320": "GI",
        "321": "HU",
        "322": "IS",
        "323": "LI",
        "324": "MT",
        "325": "MC",
        "326": "NO",
        "327": "PL",
        "328": "RO",
        "329": "SM",
        "330": "SE",
        "331": "CH",
        "334": "EE",
        "335": "LV",
        "336": "LT",
        "337": "GE",
        "338": "AM",
        "339": "AZ",
        "340": "BY",
        "343": "MD",
        "344": "RU",
        "347": "UA",
        "350": "SI",
        "351": "HR",
        "352": "CZ",
        "353": "SK",
        "354": "MK",
        "355": "BA",
        "356": "VA",
        "357": "FO",
        "358": "RS",
        "359": "ME",
        # Latin America
        "401": "AG",
        "402": "AR",
        "403": "AW",
        "404": "BS",
        "405": "BB",
        "406": "BZ",
        "408": "BO",
        "409": "BQ",
        "410": "BR",
        "411": "KY",
        "412": "CL",
        "413": "CO",
        "414": "DM",
        "415": "CR",
        "416": "CU",
        "417": "CW",
        "418": "DO",
        "419": "EC",
        "420": "GF",
        "421": "GD",
        "422": "GP",
        "423": "GT",
        "424": "GY",
        "425": "HT",
        "426": "HN",
        "427": "JM",
        "428": "MQ",
        "429": "MX",
        "430": "MS",
        "431": "NI",
        "432": "PA",
        "433": "PY",
        "434": "PE",
        "435": "PR",
        "437": "LC",
        "439": "VC",
        "440": "SV",
        "441": "SR",
        "442": "TT",
        "443": "TC",
        "444": "UY",
        "445": "VE",
        "446": "VG",
        "447": "KN",
        "448": "PM",
        # North America
        "501": "CA",
        "502": "US",
        "503": "GL",
        "504": "BM",
        # Oceania
        "601": "AU",
        "602": "CK",
        "603": "FJ",
        "606": "NR",
        "607": "NC",
        "608": "VU",
        "609": "NZ",
        "610": "NF",
        "611": "PG",
        "613": "SB",
        "614": "TO",
        "617": "WS",
        "618": "KI",
        "619": "TV",
        "620": "FM",
        "621": "MH",
        "622": "PW",
        "623": "PF",
        "625": "WF",
    },
)

# China customs units of measure (JGS-20 计量单位代码) -> UN/ECE Recommendation 20. Chinese counting
# classifiers (台 座 辆 个 只 件 瓶 罐 箱 ...) all count pieces: H87, with the classifier kept in
# nationalCode. Not mapped (no Rec 20 unit): 万/亿 multiples (038 万个, 055 亿支, 056 亿个, 057 万套,
# 059 万张, 144 万双, 145 万粒, 164 亿株), Chinese traditional units (073 司马担, 074 司马斤, 075 斤,
# 077 担, 080 两, 081 市担, 085 市尺, 089 寸, 101 立方尺, 112 平方尺), 063 千升, 115/116 马力,
# 118 令, 148 千英尺, 149 百万贝可.
PIECE, PAIR, SET, HUNDRED, THOUSAND = "H87", "PR", "SET", "CEN", "MIL"
UNIT = CodeList(
    "China customs unit code (JGS-20)",
    "UN/ECE Rec 20 unit",
    {
        "001": PIECE,  # 台
        "002": PIECE,  # 座
        "003": PIECE,  # 辆
        "004": PIECE,  # 艘
        "005": PIECE,  # 架
        "006": SET,  # 套
        "007": PIECE,  # 个
        "008": PIECE,  # 只
        "009": PIECE,  # 头
        "010": PIECE,  # 张
        "011": PIECE,  # 件
        "012": PIECE,  # 支
        "013": PIECE,  # 枝
        "014": PIECE,  # 根
        "015": PIECE,  # 条
        "016": PIECE,  # 把
        "017": PIECE,  # 块
        "018": PIECE,  # 卷
        "019": PIECE,  # 副
        "020": PIECE,  # 片
        "021": SET,  # 组
        "022": PIECE,  # 份
        "023": PIECE,  # 幅
        "025": PAIR,  # 双
        "026": PAIR,  # 对
        "027": PIECE,  # 棵
        "028": PIECE,  # 株
        "029": PIECE,  # 井
        "030": "MTR",  # 米
        "031": PIECE,  # 盘
        "032": "MTK",  # 平方米
        "033": "MTQ",  # 立方米
        "034": PIECE,  # 筒
        "035": "KGM",  # 千克
        "036": "GRM",  # 克
        "037": PIECE,  # 盆
        "039": PIECE,  # 具
        "040": HUNDRED,  # 百副
        "041": HUNDRED,  # 百支
        "042": HUNDRED,  # 百把
        "043": HUNDRED,  # 百个
        "044": HUNDRED,  # 百片
        "045": PIECE,  # 刀
        "046": PIECE,  # 疋
        "047": "DTN",  # 公担 (100 kg)
        "048": PIECE,  # 扇
        "049": HUNDRED,  # 百枝
        "050": THOUSAND,  # 千只
        "051": THOUSAND,  # 千块
        "052": THOUSAND,  # 千盒
        "053": THOUSAND,  # 千枝
        "054": THOUSAND,  # 千个
        "058": THOUSAND,  # 千张
        "060": "KVA",  # 千伏安
        "061": "KWT",  # 千瓦
        "062": "KWH",  # 千瓦时
        "067": "FOT",  # 英尺
        "070": "TNE",  # 吨
        "071": "LTN",  # 长吨
        "072": "STN",  # 短吨
        "076": "LBR",  # 磅
        "078": "CWI",  # 英担 (long hundredweight)
        "079": "CWA",  # 短担 (short hundredweight)
        "083": "ONZ",  # 盎司
        "084": "CTM",  # 克拉 (metric carat)
        "086": "YRD",  # 码
        "088": "INH",  # 英寸
        "095": "LTR",  # 升
        "096": "MLT",  # 毫升
        "097": "GLI",  # 英加仑
        "098": "GLL",  # 美加仑
        "099": "FTQ",  # 立方英尺
        "110": "YDK",  # 平方码
        "111": "FTK",  # 平方英尺
        "120": PIECE,  # 箱
        "121": PIECE,  # 批
        "122": PIECE,  # 罐
        "123": PIECE,  # 桶
        "124": PIECE,  # 扎
        "125": PIECE,  # 包
        "126": PIECE,  # 箩
        "127": "DZN",  # 打 (dozen)
        "128": PIECE,  # 筐
        "129": "GRO",  # 罗 (gross)
        "130": PIECE,  # 匹
        "131": PIECE,  # 册
        "132": PIECE,  # 本
        "133": PIECE,  # 发
        "134": PIECE,  # 枚
        "135": PIECE,  # 捆
        "136": PIECE,  # 袋
        "139": PIECE,  # 粒
        "140": PIECE,  # 盒
        "141": PIECE,  # 合
        "142": PIECE,  # 瓶
        "143": THOUSAND,  # 千支
        "146": THOUSAND,  # 千粒
        "147": "KMT",  # 千米
        "163": PIECE,  # 部
    },
    preferred={PIECE: "007", SET: "006", PAIR: "025", HUNDRED: "043", THOUSAND: "054"},
)

# China customs transport modes (JGS-20 运输方式代码) -> UN/ECE Recommendation 19 (WCO T022, n1):
# 0 not specified, 1 maritime, 2 rail, 3 road, 4 air, 5 mail, 6 multimodal, 7 fixed installations,
# 8 inland water, 9 not applicable. China's codes for moves into and out of special customs zones
# (0 非保税区, 1 监管仓库, 7 保税区, 8 保税仓库, H 边境特殊海关作业区, W 物流中心, X 物流园区,
# Y 保税港区, Z 出口加工区) cross no border: "not applicable".
TRANSPORT_MODE = CodeList(
    "China customs transport mode (JGS-20)",
    "UN/ECE Rec 19 mode",
    {
        "0": "9",  # 非保税区
        "1": "9",  # 监管仓库
        "2": "1",  # 水路运输 (江海运输)
        "3": "2",  # 铁路运输
        "4": "3",  # 公路运输 (汽车运输)
        "5": "4",  # 航空运输
        "6": "5",  # 邮件运输
        "7": "9",  # 保税区
        "8": "9",  # 保税仓库
        "9": "0",  # 其它运输
        "G": "7",  # 固定设施运输
        "H": "9",  # 边境特殊海关作业区
        "W": "9",  # 物流中心
        "X": "9",  # 物流园区
        "Y": "9",  # 保税港区
        "Z": "9",  # 出口加工区
    },
    preferred={"9": "0"},
)

# China customs packaging types (1 digit, CEB wrapType: 木箱、纸箱、桶装、散装、托盘、包、其它, spec
# table 3-31) -> UN/ECE Recommendation 21 package type (WCO 141, an..2).
PACKAGING = CodeList(
    "China customs packaging type",
    "UN/ECE Rec 21 package type",
    {
        "1": "4C",  # 木箱: box, natural wood
        "2": "4G",  # 纸箱: box, fibreboard
        "3": "BA",  # 桶装: barrel
        "4": "NE",  # 散装: unpacked or unpackaged (bulk)
        "5": "PX",  # 托盘: pallet
        "6": "PK",  # 包: package
        "7": "ZZ",  # 其它: mutually defined
    },
)
