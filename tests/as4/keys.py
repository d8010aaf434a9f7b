"""RSA identities for AS4 tests, made once per session (RSA key generation is the slow part)."""

from __future__ import annotations

import functools

from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.as4.wss import Credentials
from gateway.security.certificates import new_key_and_certificate


@functools.cache
def identity(name: str) -> Credentials:
    key, cert = new_key_and_certificate(name)
    assert isinstance(key, rsa.RSAPrivateKey)
    return Credentials(key, cert)
