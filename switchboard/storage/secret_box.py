"""API key secrets at rest, sealed with a key derived from the server's secret.

A Twilio Access Token is an HMAC over its claims keyed by an API key's secret, so verifying
one needs the secret itself, not a hash of it. The secret is therefore kept encrypted and
authenticated (Fernet: AES-128-CBC with HMAC-SHA256, a vetted construction rather than one of
our own), under a key derived by HKDF from the server's secret: a database copied without that
secret yields no usable API key secrets.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# Binds the derived key to this one use: the same server secret may key other things later.
_PURPOSE = b"switchboard api key secrets v1"


class SecretBox:
    def __init__(self, server_secret: str) -> None:
        if not server_secret:
            raise ValueError("the server secret must not be empty")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(
            server_secret.encode("utf-8")
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str | None:
        """The plain text, or None when it was sealed under another server secret (or
        altered): the caller tells the user, rather than failing on a bad key."""
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError):
            return None
