"""The fixed names every test shares: the two accounts, the PostgreSQL server, the start of
time on the manual clock."""

from __future__ import annotations

import os

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "test-auth-token"
OTHER_ACCOUNT_SID = "AC" + "2" * 32
OTHER_AUTH_TOKEN = "other-auth-token"
POSTGRES_URL = os.environ.get("SWITCHBOARD_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
