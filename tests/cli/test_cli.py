"""The ``gateway`` command: keys, partner checks, send (against a real gateway)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from gateway.cli import main
from gateway.security.certificates import load_certificate, load_private_key
from tests.helpers import ROOT, PartnerSpec, make_deployment


def test_keys_new_writes_private_key_600_and_certificate(tmp_path, capsys):
    assert main(["keys", "new", "xx-customs", "--out", str(tmp_path), "--days", "10", "--algorithm", "ec"]) == 0
    key = tmp_path / "xx-customs.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    load_private_key(key)
    cert = load_certificate(tmp_path / "xx-customs.crt")
    assert "CN=xx-customs" in cert.subject
    assert 9.9 < cert.days_left(cert.not_before) <= 10.01
    assert main(["keys", "new", "xx-customs", "--out", str(tmp_path)]) == 1  # no silent overwrite
    assert "--force" in capsys.readouterr().err


def test_private_key_readable_by_others_is_refused(tmp_path, capsys):
    main(["keys", "new", "xx-customs", "--out", str(tmp_path)])
    key = tmp_path / "xx-customs.key"
    key.chmod(0o644)
    config = make_deployment(tmp_path / "d", [PartnerSpec("nl-customs", url="http://127.0.0.1:9/x")])
    text = config.config_path.read_text().replace("keys/gw-test.key", str(key))
    config.config_path.write_text(text)
    from gateway.errors import ConfigError
    from gateway.security.keyring import load_keyring

    with pytest.raises(ConfigError) as refused:  # a world-readable key is refused
        load_keyring(config.settings())
    assert "chmod 600" in refused.value.message


def test_partners_check_and_list(tmp_path, capsys):
    deployment = make_deployment(tmp_path, [PartnerSpec("nl-customs", url="http://127.0.0.1:9/x")])
    assert main(["partners", "check", "--config", str(deployment.config_path)]) == 0
    assert "ok: 1 partner file(s) valid: nl-customs" in capsys.readouterr().out
    assert main(["partners", "list", "--config", str(deployment.config_path)]) == 0
    out = capsys.readouterr().out
    assert "nl-customs" in out
    assert "30" in out
    bad = deployment.folder / "partners" / "nl-customs.toml"
    bad.write_text(bad.read_text().replace('country = "NL"', 'country = "nl"'))
    assert main(["partners", "check", "--config", str(deployment.config_path)]) == 2
    err = capsys.readouterr().err
    assert "nl-customs.toml: country: String should match pattern" in err
    assert "Traceback" not in err


def test_python_dash_m_gateway_runs(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        env={**os.environ},
        timeout=60,
    )
    assert result.returncode == 0
    assert "partners" in result.stdout


def test_send_fresh_gives_a_new_message_id_and_time_and_signs(tmp_path):
    import datetime as dt

    from lxml import etree
    from signxml.verifier import XMLVerifier

    from gateway.errors import UnsupportedMessage
    from gateway.security.certificates import new_key_and_certificate
    from gateway.security.signatures import Signer
    from gateway.sender import sign_document
    from tests.helpers import ENV, EXAMPLES

    key, cert = new_key_and_certificate("nl-customs")
    data = (EXAMPLES / "risk-alert.xml").read_bytes()
    first = etree.fromstring(sign_document(data, Signer(key, cert), fresh=True))
    second = etree.fromstring(sign_document(data, Signer(key, cert), fresh=True))
    ids = [r.findtext(f"{{{ENV}}}Header/{{{ENV}}}MessageID") for r in (first, second)]
    assert ids[0] != ids[1]
    assert ids[0].startswith("NL-RA-20261127-000417-")
    created = first.findtext(f"{{{ENV}}}Header/{{{ENV}}}CreationDateTime")
    assert abs(dt.datetime.fromisoformat(created) - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    XMLVerifier().verify(etree.tostring(first), x509_cert=cert)
    with pytest.raises(UnsupportedMessage, match="--fresh works on canonical Envelopes and CEB messages"):
        sign_document(b"<CC315A/>", Signer(key, cert), fresh=True)


def _header(document: bytes, name: str) -> str | None:
    from lxml import etree

    from tests.helpers import ENV

    return etree.fromstring(document).findtext(f"{{{ENV}}}Header/{{{ENV}}}{name}")


def test_send_fresh_sends_as_the_partner_and_to_the_receiver_given(tmp_path):
    """``--fresh --as X`` makes X the Sender (the example's own Sender would be refused 403 not-permitted);
    ``--to`` sets the Receiver, adding it where the file has none; the file itself is left alone."""
    from lxml import etree

    from gateway.errors import UnsupportedMessage
    from gateway.security.certificates import new_key_and_certificate
    from gateway.security.signatures import Signer
    from gateway.sender import sign_document
    from tests.helpers import ENV, EXAMPLES

    signer = Signer(*new_key_and_certificate("fr-customs"))
    data = (EXAMPLES / "risk-alert.xml").read_bytes()
    assert (_header(data, "Sender"), _header(data, "Receiver")) == ("nl-customs", "cn-customs")
    kept = sign_document(data, signer, fresh=True, sender="fr-customs")
    assert (_header(kept, "Sender"), _header(kept, "Receiver")) == ("fr-customs", "cn-customs")
    moved = sign_document(data, signer, fresh=True, sender="fr-customs", receiver="nl-customs")
    assert (_header(moved, "Sender"), _header(moved, "Receiver")) == ("fr-customs", "nl-customs")
    without = data.replace(b"<Receiver>cn-customs</Receiver>", b"")
    assert _header(without, "Receiver") is None
    added = sign_document(without, signer, fresh=True, sender="fr-customs", receiver="nl-customs")
    assert _header(added, "Receiver") == "nl-customs"
    header = etree.fromstring(added).find(f"{{{ENV}}}Header")
    names = [etree.QName(child).localname for child in header]
    assert names[names.index("Sender") + 1] == "Receiver"  # the schema's order
    as_is = sign_document(data, signer)
    assert _header(as_is, "MessageID") == "NL-RA-20261127-000417"
    assert _header(as_is, "Sender") == "nl-customs"
    with pytest.raises(UnsupportedMessage, match="--to goes with --fresh"):
        sign_document(data, signer, receiver="nl-customs")


def test_send_fresh_gives_a_ceb_message_a_new_guid_and_refuses_to(tmp_path):
    from lxml import etree

    from gateway.errors import UnsupportedMessage
    from gateway.security.certificates import new_key_and_certificate
    from gateway.security.signatures import Signer
    from gateway.sender import sign_document
    from tests.helpers import FIXTURES

    signer = Signer(*new_key_and_certificate("cn-nsw"))
    data = (FIXTURES / "ceb" / "samples" / "import" / "CEB311Message.xml").read_bytes()
    before = etree.fromstring(data).get("guid")
    guids = {etree.fromstring(sign_document(data, signer, fresh=True)).get("guid") for _ in range(2)}
    assert len(guids) == 2
    assert before not in guids
    assert all(len(g) == 36 for g in guids)
    with pytest.raises(UnsupportedMessage, match=r"--to: a CEB message .* names no receiver"):
        sign_document(data, signer, fresh=True, receiver="nl-customs")


def test_send_out_writes_the_signed_file_and_to_needs_fresh(tmp_path, capsys):
    from signxml.verifier import XMLVerifier

    from gateway.cli import main
    from tests.helpers import EXAMPLES, make_identity

    fr = make_identity(tmp_path / "fr-side", "fr-customs")
    keys = ["--as", "fr-customs", "--key", str(fr.key_path), "--cert", str(fr.cert_path)]
    out = tmp_path / "samples" / "risk-alert.xml"
    out.parent.mkdir()
    argv = ["send", "--fresh", *keys, "--to", "nl-customs", str(EXAMPLES / "risk-alert.xml"), "--out", str(out)]
    assert main(argv) == 0
    assert f"signed as fr-customs: {out} (not sent)" in capsys.readouterr().out
    XMLVerifier().verify(out.read_bytes(), x509_cert=fr.cert_path.read_text())
    assert (_header(out.read_bytes(), "Sender"), _header(out.read_bytes(), "Receiver")) == ("fr-customs", "nl-customs")
    assert main(["send", *keys, "--to", "nl-customs", str(EXAMPLES / "risk-alert.xml"), "--out", str(out)]) == 2
    assert "--to goes with --fresh" in capsys.readouterr().err


def test_help_says_what_the_gateway_does_without_design_references(capsys):
    """User-facing help in plain words: no "DESIGN.md 3.1" or issue references, on every (sub)command."""
    import argparse

    from gateway.cli import build_parser

    parser = build_parser()
    texts = [parser.format_help()]
    pending = [parser]
    while pending:
        for action in pending.pop()._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    texts.append(sub.format_help())
                    pending.append(sub)
    assert len(texts) > 20
    assert "verifies" in texts[0]
    assert "delivers" in texts[0]
    for text in texts:
        for leftover in ("DESIGN.md", "ADMIN.md", "issue ", "``", "engineer"):
            assert leftover not in text, (leftover, text)
