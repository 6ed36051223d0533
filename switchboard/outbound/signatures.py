"""What every outgoing Twilio-style webhook shares: its X-Twilio-Signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping


def signature(auth_token: str, url: str, form: Mapping[str, str]) -> str:
    """X-Twilio-Signature: base64(HMAC-SHA1(auth token, url + each name+value, sorted by
    name)), as Twilio signs its webhooks and its helper libraries validate them."""
    text = url + "".join(name + value for name, value in sorted(form.items()))
    digest = hmac.new(auth_token.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()
