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
    from gateway.runtime import load_signer

    with pytest.raises(ConfigError) as refused:  # a world-readable key is refused
        load_signer(config.settings())
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
    with pytest.raises(UnsupportedMessage, match="--fresh needs a canonical Envelope"):
        sign_document(b"<CEB311Message/>", Signer(key, cert), fresh=True)
