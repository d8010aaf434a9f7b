"""Writing partner files: validated before they land, written atomically, undone when a reload refuses them.

Partner files stay the source of truth (reviewable in version control); the admin API and the CLI change them
through this module only. Certificates are stored content-addressed (``certs/<id>-<sha256 prefix>.crt``), so a
rotation never overwrites a certificate that is still trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import ValidationError

from gateway.config import describe_validation_error, is_participant_id
from gateway.errors import ConfigError, UnknownPartner
from gateway.partners.model import Partner, PartnerFile
from gateway.partners.registry import load_partner
from gateway.security.certificates import load_certificate

_TABLE = re.compile(r"^\s*\[")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # A JSON string without ASCII escaping is a TOML basic string, except that TOML forbids a raw DEL.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {type(value).__name__} value {value!r} to a partner file")


def render_partner(data: dict[str, Any], comment: str | None = None) -> str:
    """A partner file: top-level keys first, then one table per nested mapping (``[delivery]``)."""
    lines = [f"# {line}" for line in (comment or "").splitlines()]
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    lines += [f"{key} = {toml_value(value)}" for key, value in data.items() if key not in tables]
    for name, table in tables.items():
        lines += ["", f"[{name}]"]
        lines += [f"{key} = {toml_value(value)}" for key, value in table.items() if value is not None]
    text = "\n".join(lines) + "\n"
    if tomllib.loads(text) != _without_none(data):  # a writer bug must never reach a partner file
        raise ConfigError(f"internal error: the partner file written for {data.get('id')!r} does not read back")
    return text


def _without_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _without_none(v) if isinstance(v, dict) else v for k, v in data.items() if v is not None}


def spec_data(spec: PartnerFile) -> dict[str, Any]:
    """What a partner file holds for ``spec``, without keys left at an unremarkable default."""
    data = spec.model_dump(mode="json", exclude_none=True)
    for key in ("legacy_algorithms", "ca_certificates", "crls"):
        if not data.get(key):
            data.pop(key, None)
    if not data.get("suspended"):
        data.pop("suspended", None)
    if not data.get("quota"):  # every key at the [quotas] default: no [quota] table
        data.pop("quota", None)
    if data.get("delivery"):
        data["delivery"] = {k: v for k, v in data["delivery"].items() if v is not None}
    return data


def set_key(text: str, key: str, value: Any) -> str | None:
    """``text`` with the top-level ``key`` set to ``value``, keeping comments and layout; None if that fails.

    The result is checked by parsing it: the line (or multi-line array) holding the key is replaced, or a line
    is inserted before the first table.
    """
    expected = tomllib.loads(text)
    expected[key] = value
    lines = text.splitlines()
    new = f"{key} = {toml_value(value)}"
    start = next((i for i, line in enumerate(lines) if re.match(rf"^\s*{re.escape(key)}\s*=", line)), None)
    candidates: list[list[str]]
    if start is None:
        first_table = next((i for i, line in enumerate(lines) if _TABLE.match(line)), len(lines))
        candidates = [[*lines[:first_table], new, *lines[first_table:]]]
    else:
        candidates = [[*lines[:start], new, *lines[end + 1 :]] for end in range(start, len(lines))]
    for candidate in candidates:
        result = "\n".join(candidate) + "\n"
        try:
            if tomllib.loads(result) == expected:
                return result
        except tomllib.TOMLDecodeError:
            continue
    return None


@dataclass(frozen=True)
class Backup:
    """What a write replaced, to put it back if the new configuration is refused."""

    path: Path
    previous: bytes | None
    new_certificates: tuple[Path, ...] = ()


class PartnerFolder:
    """The partners folder: read, validate, write and remove partner files and their certificates."""

    def __init__(self, partners_dir: Path, known_formats: frozenset[str] | None = None) -> None:
        self.dir = partners_dir
        self.known_formats = known_formats

    def path(self, partner_id: str) -> Path:
        if not is_participant_id(partner_id):
            raise ConfigError(f"id: {partner_id!r} must be 2-64 characters of a-z 0-9 -")
        return self.dir / f"{partner_id}.toml"

    def exists(self, partner_id: str) -> bool:
        return self.path(partner_id).exists()

    def read_text(self, partner_id: str) -> str:
        path = self.path(partner_id)
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UnknownPartner(f"no partner {partner_id!r}: {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read partner file: {exc}") from None

    def read(self, partner_id: str) -> dict[str, Any]:
        path = self.path(partner_id)
        try:
            return tomllib.loads(self.read_text(partner_id))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None

    def read_optional(self, partner_id: str) -> dict[str, Any] | None:
        return self.read(partner_id) if self.exists(partner_id) else None

    # Certificates -----------------------------------------------------------------------------------------

    def store_certificate(self, partner_id: str, data: bytes, *, allow_weak: bool = False) -> tuple[str, bool]:
        """Write a PEM or DER certificate as ``certs/<id>-<sha256 prefix>.crt``: (relative path, new?)."""
        try:
            cert = (
                x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
            )
        except ValueError as exc:
            raise ConfigError(f"certificates: not a PEM or DER X.509 certificate ({exc})") from None
        pem = cert.public_bytes(serialization.Encoding.PEM)
        digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
        relative = f"certs/{partner_id}-{digest[:16]}.crt"
        path = self.dir / relative
        created = not path.exists()
        if created:
            path.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(path, pem)
        try:
            load_certificate(path, allow_weak=allow_weak)
        except ConfigError as exc:
            if created:
                path.unlink(missing_ok=True)
            raise ConfigError(f"certificates: {exc.message}") from None
        return relative, created

    def certificate_reference(self, value: str) -> str:
        """An existing certificate named by a path relative to the folder (never outside it)."""
        relative = PurePosixPath(value)
        if relative.is_absolute() or ".." in relative.parts or not value.strip():
            raise ConfigError(
                f"certificates: {value!r} is neither a PEM certificate nor a path inside the partners folder"
            )
        if not (self.dir / relative).is_file():
            raise ConfigError(f"certificates: {value!r} does not exist in {self.dir}")
        return str(relative)

    # Validation and writing -------------------------------------------------------------------------------

    def validate(self, data: dict[str, Any]) -> Partner:
        """Load ``data`` as the gateway would load it from ``<id>.toml`` (file, certificates, format)."""
        try:
            spec = PartnerFile(**data)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc)) from None
        except TypeError as exc:
            raise ConfigError(f"a partner must be a JSON object of the partner file's fields ({exc})") from None
        real = self.path(spec.id)
        with tempfile.TemporaryDirectory(prefix="gateway-partner-") as staging:
            staged = Path(staging) / real.name
            staged.write_text(render_partner(spec_data(spec)), encoding="utf-8")
            try:
                return load_partner(staged, self.dir, self.known_formats)
            except ConfigError as exc:
                raise ConfigError(exc.message.replace(str(staged), str(real))) from None

    def write(self, partner_id: str, text: str, new_certificates: tuple[Path, ...] = ()) -> Backup:
        path = self.path(partner_id)
        backup = Backup(path, path.read_bytes() if path.exists() else None, new_certificates)
        _atomic_write(path, text.encode("utf-8"))
        return backup

    def remove(self, partner_id: str) -> Backup:
        path = self.path(partner_id)
        if not path.exists():
            raise UnknownPartner(f"no partner {partner_id!r}: {path} does not exist")
        backup = Backup(path, path.read_bytes())
        path.unlink()
        return backup

    def restore(self, backup: Backup) -> None:
        if backup.previous is None:
            backup.path.unlink(missing_ok=True)
        else:
            _atomic_write(backup.path, backup.previous)
        for cert in backup.new_certificates:
            cert.unlink(missing_ok=True)


def _atomic_write(path: Path, data: bytes) -> None:
    """Readers (a reload, a folder check) see the old file or the new one, never half of one."""
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
