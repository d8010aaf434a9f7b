"""A partner's CA chain and CRLs: certificates issued by a configured CA are trusted unless revoked.

The gateway tests run a real gateway (real keys, broker and store); the partner files name the CA and the CRL
by absolute path, the ``partners check`` tests by paths relative to the partners folder.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.cli import main
from gateway.errors import CertificateUntrusted
from gateway.security.chain import load_chain
from gateway.security.xml import to_bytes
from tests.helpers import PartnerSpec, envelope
from tests.security.conftest import RECEIVER, SPECS, GateFactory
from tests.security.pki import NOW, Issued, issue, make_ca, make_crl, pem


@dataclass
class Pki:
    folder: Path
    ca: Issued
    other_ca: Issued
    good: Issued  # issued by ca
    revoked: Issued  # issued by ca, listed in ca.crl
    foreign: Issued  # issued by other_ca

    def extra(self, crl: str) -> str:
        return f'ca_certificates = ["{self.folder / "ca.pem"}"]\ncrls = ["{self.folder / crl}"]'


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca, other_ca = make_ca("Test Partner CA"), make_ca("Other CA")
    good, revoked, foreign = issue(ca, "chain-nl signer"), issue(ca, "chain-nl old signer"), issue(other_ca, "x")
    (folder / "ca.pem").write_bytes(pem(ca))
    (folder / "ca.crl").write_bytes(make_crl(ca, [revoked], der=True))  # DER; the stale one PEM
    stale = make_crl(ca, [], last_update=NOW - dt.timedelta(days=10), days=7)
    (folder / "stale.crl").write_bytes(stale)
    return Pki(folder, ca, other_ca, good, revoked, foreign)


def specs(pki: Pki) -> list[PartnerSpec]:
    return [
        *SPECS,
        PartnerSpec("chain-nl", receives=[], extra=pki.extra("ca.crl")),
        PartnerSpec("stale-nl", receives=[], extra=pki.extra("stale.crl")),
    ]


def body(partner: str, signer: Issued) -> bytes:
    return to_bytes(signer.signer.sign(envelope(partner, RECEIVER)))


async def test_a_certificate_issued_by_the_partner_ca_is_accepted(make_gate: GateFactory, pki: Pki) -> None:
    gate = await make_gate(specs=specs(pki))
    reply = await gate.post(body("chain-nl", pki.good), partner="chain-nl")
    assert (reply.status, reply.code) == (202, "accepted"), reply.body[:600]
    # The pinned certificate of the same partner still works as before.
    pinned = gate.deployment.partners["chain-nl"].signer.sign(envelope("chain-nl", RECEIVER))
    reply = await gate.post(to_bytes(pinned), partner="chain-nl")
    assert (reply.status, reply.code) == (202, "accepted"), reply.body[:600]


@pytest.mark.parametrize(
    ("partner", "signer", "words"),
    [
        ("chain-nl", "revoked", ["revoked on", "by CRL ca.crl", "serial"]),
        ("stale-nl", "good", ["CRL stale.crl", "stale"]),
        ("chain-nl", "foreign", ["neither one of", "issued by one of its CAs", "ca.pem"]),
        ("nl-customs", "good", ["not one of partner nl-customs's trusted certificates"]),  # no CA: pinned only
    ],
)
async def test_untrusted_chains_are_refused(
    make_gate: GateFactory, pki: Pki, partner: str, signer: str, words: list[str]
) -> None:
    gate = await make_gate(specs=specs(pki))
    issued: Issued = getattr(pki, signer)
    reply = await gate.post(body(partner, issued), partner=partner)
    await gate.assert_refused(reply, 401, "certificate-untrusted", *words)
    if signer == "revoked":
        assert f"{issued.serial:X}" in reply.description
    await gate.assert_unharmed()


async def test_an_expired_certificate_of_the_ca_is_certificate_expired(make_gate: GateFactory, pki: Pki) -> None:
    old = issue(pki.ca, "chain-nl expired", not_before=NOW - dt.timedelta(days=20), days=10)
    gate = await make_gate(specs=specs(pki))
    reply = await gate.post(body("chain-nl", old), partner="chain-nl")
    await gate.assert_refused(reply, 401, "certificate-expired", "expired on")


def test_a_signing_certificate_without_digital_signature_is_refused(pki: Pki) -> None:
    chain = load_chain("chain-nl", pki.folder, [Path("ca.pem")], [Path("ca.crl")])
    assert chain.check(pki.good.cert.public_bytes(Encoding.DER), NOW).fingerprint
    no_signing = issue(pki.ca, "encryption only", signing=False)
    with pytest.raises(CertificateUntrusted, match="digitalSignature"):
        chain.check(no_signing.cert.public_bytes(Encoding.DER), NOW)


# gateway partners check --------------------------------------------------------------------------------------


def _folder(tmp_path: Path, pki: Pki, ca: list[str], crls: list[str], files: dict[str, bytes]) -> Path:
    partners = tmp_path / "partners"
    (partners / "certs").mkdir(parents=True)
    (partners / "certs" / "pinned.crt").write_bytes(pem(pki.good))
    for name, data in files.items():
        (partners / "certs" / name).write_bytes(data)
    (partners / "chain-nl.toml").write_text(
        'id = "chain-nl"\nname = "Chain"\nrole = "customs"\ncountry = "NL"\ncertificates = ["certs/pinned.crt"]\n'
        f"ca_certificates = {ca!r}\ncrls = {crls!r}\n".replace("'", '"')
    )
    return partners


def test_partners_check_accepts_a_ca_with_or_without_crl(tmp_path: Path, pki: Pki, capsys) -> None:
    files = {"ca.pem": pem(pki.ca), "ca.crl": (pki.folder / "ca.crl").read_bytes()}
    partners = _folder(tmp_path, pki, ["certs/ca.pem"], ["certs/ca.crl"], files)
    assert main(["partners", "check", str(partners)]) == 0
    (partners / "chain-nl.toml").write_text(
        (partners / "chain-nl.toml").read_text().replace('crls = ["certs/ca.crl"]', "crls = []")
    )
    assert main(["partners", "check", str(partners)]) == 0, capsys.readouterr().err


@pytest.mark.parametrize(
    ("ca", "crls", "files", "words"),
    [
        (["certs/missing.pem"], [], {}, ["ca_certificates:", "missing.pem", "cannot read"]),
        (["certs/leaf.pem"], [], {"leaf.pem": "good"}, ["ca_certificates:", "leaf.pem", "not a CA"]),
        (["certs/ca.pem"], ["certs/bad.crl"], {"ca.pem": "ca", "bad.crl": b"junk"}, ["crls:", "bad.crl"]),
        (["certs/ca.pem"], ["certs/ca.crl"], {"ca.pem": "ca"}, ["crls:", "ca.crl", "cannot read"]),
        (
            ["certs/ca.pem"],
            ["certs/other.crl"],
            {"ca.pem": "ca", "other.crl": "other-crl"},
            ["crls:", "other.crl", "not signed by any configured CA", "ca.pem"],
        ),
    ],
)
def test_partners_check_names_ca_and_crl_problems(
    tmp_path: Path, pki: Pki, capsys, ca: list[str], crls: list[str], files: dict[str, object], words: list[str]
) -> None:
    contents = {
        "good": pem(pki.good),
        "ca": pem(pki.ca),
        "other-crl": make_crl(pki.other_ca, []),
    }
    data = {name: value if isinstance(value, bytes) else contents[str(value)] for name, value in files.items()}
    partners = _folder(tmp_path, pki, ca, crls, data)
    assert main(["partners", "check", str(partners)]) == 2
    err = capsys.readouterr().err
    assert "chain-nl.toml" in err
    assert "Traceback" not in err
    for word in words:
        assert word in err, (word, err)
