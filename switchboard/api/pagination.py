"""Twilio list envelopes with keyset paging behind an opaque, signed PageToken.

A token records where a page ended (or began, for the previous page) in the list's ordering,
and which list it belongs to; a token from another list, or one that was altered, is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

from starlette.requests import Request

from switchboard.api.params import Params
from switchboard.errors import InvalidParameter

T = TypeVar("T")
Order = Sequence[tuple[str, bool]]

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
_PAGING = {"PageSize", "Page", "PageToken"}


@dataclass(frozen=True)
class PageRequest:
    size: int
    page: int
    after: list[Any] | None
    backwards: bool


class Pager:
    """Issues and reads page tokens with one server-wide secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _sign(self, payload: bytes) -> str:
        return hmac.new(self._secret, payload, hashlib.sha256).hexdigest()[:24]

    def token(self, list_id: str, key: Sequence[Any], backwards: bool) -> str:
        payload = json.dumps([list_id, list(key), backwards], separators=(",", ":")).encode()
        body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        return f"PT{body}.{self._sign(payload)}"

    def read_token(self, token: str, list_id: str) -> tuple[list[Any], bool]:
        invalid = InvalidParameter(f"PageToken {token!r} is not a page token of this list")
        if not token.startswith("PT") or "." not in token:
            raise invalid
        body, signature = token[2:].rsplit(".", 1)
        try:
            payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except ValueError:
            raise invalid from None
        if not hmac.compare_digest(self._sign(payload), signature):
            raise invalid
        owner, key, backwards = json.loads(payload)
        if owner != list_id:
            raise invalid
        return list(key), bool(backwards)

    def request(self, params: Params, list_id: str) -> PageRequest:
        size = params.int("PageSize", minimum=1)
        size = DEFAULT_PAGE_SIZE if size is None else min(size, MAX_PAGE_SIZE)
        page = params.int("Page", minimum=0) or 0
        token = params.str("PageToken")
        if not token:
            return PageRequest(size, 0 if token is None else page, None, False)
        key, backwards = self.read_token(token, list_id)
        return PageRequest(size, page, key, backwards)

    def paginate(
        self,
        request: Request,
        params: Params,
        *,
        key: str,
        list_id: str,
        order: Order,
        fetch: Callable[[Order, list[Any] | None, int], list[T]],
        key_of: Callable[[T], Sequence[Any]],
        base: str,
    ) -> tuple[list[T], dict[str, Any]]:
        """One page of a list and its `meta`. `fetch(order, after, limit)` returns up to
        `limit` items sorting strictly after `after` in `order`."""
        page = self.request(params, list_id)
        flipped = [(column, not desc) for column, desc in order]
        items = fetch(flipped if page.backwards else order, page.after, page.size + 1)
        more = len(items) > page.size
        items = items[: page.size]
        if page.backwards:
            items.reverse()
        has_next = page.backwards or more
        has_previous = (page.after is not None and not page.backwards) or (page.backwards and more)
        number = page.page
        url = _page_url(base, request, params, page.size, number, None)
        meta = {
            "page": number,
            "page_size": page.size,
            "first_page_url": _page_url(base, request, params, page.size, 0, None),
            "previous_page_url": (
                _page_url(
                    base, request, params, page.size, max(number - 1, 0),
                    self.token(list_id, key_of(items[0]), True),
                )
                if has_previous and items
                else None
            ),
            "url": url if page.after is None else _page_url(
                base, request, params, page.size, number, params.str("PageToken")
            ),
            "next_page_url": (
                _page_url(
                    base, request, params, page.size, number + 1,
                    self.token(list_id, key_of(items[-1]), False),
                )
                if has_next and items
                else None
            ),
            "key": key,
        }  # fmt: skip
        return items, meta


def _page_url(
    base: str, request: Request, params: Params, size: int, page: int, token: str | None
) -> str:
    """The caller's filters, then PageSize, Page and PageToken: everything a client needs."""
    pairs = [(k, v) for k, v in params.items() if k not in _PAGING]
    pairs += [("PageSize", str(size)), ("Page", str(page))]
    if token:
        pairs.append(("PageToken", token))
    return f"{base}{request.url.path}?{urlencode(pairs)}"
