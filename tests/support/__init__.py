"""What the tests share, one module per kind of thing:

- constants: the test accounts, the PostgreSQL URL, the start of time on the manual clock;
- databases: Switchboard's services on SQLite or PostgreSQL, and schemas of one's own;
- sdk: the official SDK served in process, and reading its errors and ETags;
- servers: Switchboard on a real loopback socket;
- receivers: an HTTP server that records the callbacks Switchboard sends;
- desks: a workspace driven through the SDK with the shortcuts routing tests need;
- gateway: the worker SDK's gateway called as the SDK calls it (desk, tokens, requests);
- waiting: polling for a condition instead of sleeping for a fixed time.
"""

from tests.support.constants import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    OTHER_ACCOUNT_SID,
    OTHER_AUTH_TOKEN,
    POSTGRES_URL,
    START_MS,
)
from tests.support.databases import (
    Backend,
    ReusedSchema,
    drop_schema,
    make_services,
    migrated_sqlite,
    new_schema_name,
    open_store,
    schema_url,
)
from tests.support.desks import Env, iso
from tests.support.receivers import Receiver, Reply, Seen, serve
from tests.support.sdk import InProcessHttpClient, etag, rest_error, sdk_client
from tests.support.servers import RunningServer, free_port
from tests.support.waiting import DEADLINE_S, eventually, eventually_async

__all__ = [
    "ACCOUNT_SID",
    "AUTH_TOKEN",
    "DEADLINE_S",
    "OTHER_ACCOUNT_SID",
    "OTHER_AUTH_TOKEN",
    "POSTGRES_URL",
    "START_MS",
    "Backend",
    "Env",
    "InProcessHttpClient",
    "Receiver",
    "Reply",
    "ReusedSchema",
    "RunningServer",
    "Seen",
    "drop_schema",
    "etag",
    "eventually",
    "eventually_async",
    "free_port",
    "iso",
    "make_services",
    "migrated_sqlite",
    "new_schema_name",
    "open_store",
    "rest_error",
    "schema_url",
    "sdk_client",
    "serve",
]
