"""Accounts and API keys: who may call the API."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable

from switchboard.errors import InvalidParameter
from switchboard.models import Account, ApiKey, Prefix, is_sid, new_sid
from switchboard.storage import Store


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class Accounts:
    """Accounts and API keys. They belong to no workspace, so nothing here takes the
    workspace lock or touches a routing index: only the store and the engine's time."""

    def __init__(self, store: Store, now: Callable[[], int]) -> None:
        self.store = store
        self.now = now

    def ensure_account(self, sid: str | None, auth_token: str | None) -> tuple[Account, bool]:
        """The configured account (created or its token updated as configured), or else the
        first stored account, or else a new one. Returns it and whether it was created."""
        if sid is not None:
            if not is_sid(sid, Prefix.ACCOUNT):
                raise InvalidParameter(f"account SID {sid!r} is not AC and 32 hex digits")
            existing = self.store.get_account(sid)
            if existing is not None:
                if auth_token and auth_token != existing.auth_token:
                    self.store.set_auth_token(sid, auth_token)
                    existing = Account(
                        sid, auth_token, existing.friendly_name, existing.date_created
                    )
                return existing, False
            account = Account(sid, auth_token or secrets.token_hex(16), "Main", self.now())
            self.store.insert_account(account)
            return account, True
        accounts = self.store.list_accounts()
        if accounts:
            return accounts[0], False
        account = Account(
            new_sid(Prefix.ACCOUNT),
            auth_token or secrets.token_hex(16),
            "Main",
            self.now(),
        )
        self.store.insert_account(account)
        return account, True

    def create_api_key(self, account_sid: str, friendly_name: str) -> tuple[ApiKey, str]:
        """A new API key for the account; the secret is returned once, stored hashed (for Basic
        auth) and sealed (to check the Access Tokens it signs)."""
        if self.store.get_account(account_sid) is None:
            raise InvalidParameter(f"account {account_sid} does not exist")
        secret = secrets.token_urlsafe(24)
        key = ApiKey(
            new_sid(Prefix.API_KEY),
            account_sid,
            hash_secret(secret),
            friendly_name,
            self.now(),
        )
        self.store.insert_api_key(key, secret)
        return key, secret

    def install_api_key(
        self, sid: str, account_sid: str, secret: str, friendly_name: str = ""
    ) -> ApiKey:
        """A key whose SID and secret were made elsewhere (an application's configuration
        that the test kit serves), for the account: created, or replacing one of that SID."""
        if not is_sid(sid, Prefix.API_KEY):
            raise InvalidParameter(f"API key SID {sid!r} is not SK and 32 hex digits")
        if self.store.get_account(account_sid) is None:
            raise InvalidParameter(f"account {account_sid} does not exist")
        key = ApiKey(sid, account_sid, hash_secret(secret), friendly_name, self.now())
        self.store.delete_api_key(sid)
        self.store.insert_api_key(key, secret)
        return key

    def list_api_keys(self, account_sid: str) -> list[ApiKey]:
        return self.store.list_api_keys(account_sid)

    def delete_api_key(self, sid: str) -> bool:
        """Whether the key existed. Servers refuse it within seconds (api.context's cache)."""
        return self.store.delete_api_key(sid)

    def authenticate(self, username: str, password: str) -> str | None:
        """The account SID these credentials act for, or None."""
        if username.startswith("AC"):
            account = self.store.get_account(username)
            if account and hmac.compare_digest(account.auth_token, password):
                return account.sid
        elif username.startswith("SK"):
            key = self.store.get_api_key(username)
            if key and hmac.compare_digest(key.secret_hash, hash_secret(password)):
                return key.account_sid
        return None
