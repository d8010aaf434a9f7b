"""The admin API's bearer token: one secret file, written on first start."""

from __future__ import annotations

import logging
import secrets
import stat
from pathlib import Path

from gateway.errors import ConfigError

log = logging.getLogger(__name__)


def admin_token(path: Path) -> str:
    """The admin bearer token; a random one is written (mode 600) on first start."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32) + "\n")
        log.info("admin token written to %s", path)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):  # a secret, like the private keys (certificates.load_private_key)
        raise ConfigError(
            f"{path}: admin token file is accessible to group or others (mode {stat.filemode(mode)}); "
            f"run: chmod 600 {path}"
        )
    token = path.read_text().strip()
    if len(token) < 16:
        raise ConfigError(f"{path}: the admin token must be at least 16 characters")
    return token
