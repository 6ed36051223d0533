"""What the tests share, one module per kind of thing:

- constants: the test accounts, the PostgreSQL URL, the start of time on the manual clock;
- databases: Switchboard's services on SQLite or PostgreSQL, and schemas of one's own;
- rows: records to write through the Store directly, and the errors a refused row raises;
- sdk: the official SDK served in process, reading its errors and ETags, a bulk call's body;
- servers: Switchboard on a real loopback socket;
- receivers: an HTTP server that records the callbacks Switchboard sends;
- desks: a workspace driven through the SDK with the shortcuts routing tests need, and one
  whose workflow sends assignment callbacks;
- gateway: the worker SDK's gateway called as the SDK calls it (desk, tokens, requests,
  two servers on one database);
- hostile: input past what the API accepts, and a keep-alive connection to send it on;
- waiting: polling for a condition instead of sleeping for a fixed time;
- wire: PostgreSQL through a proxy that counts round trips (fixtures, a pytest plugin);
- imports: the repository's modules read as source, for the tests of the import rules;
- tcp_proxy: a TCP proxy a test puts between Switchboard and its database, and cuts.
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
from tests.support.desks import Desk, Env, iso
from tests.support.receivers import Receiver, Reply, Seen, serve
from tests.support.rows import (
    INTEGRITY_ERRORS,
    activity,
    add_workspace,
    channel,
    pending_reservation,
    pending_task,
    queue,
    worker,
    worker_channel,
)
from tests.support.sdk import Body, InProcessHttpClient, etag, rest_error, sdk_client
from tests.support.servers import RunningServer, free_port
from tests.support.waiting import DEADLINE_S, eventually, eventually_async

__all__ = [
    "ACCOUNT_SID",
    "AUTH_TOKEN",
    "DEADLINE_S",
    "INTEGRITY_ERRORS",
    "OTHER_ACCOUNT_SID",
    "OTHER_AUTH_TOKEN",
    "POSTGRES_URL",
    "START_MS",
    "Backend",
    "Body",
    "Desk",
    "Env",
    "InProcessHttpClient",
    "Receiver",
    "Reply",
    "ReusedSchema",
    "RunningServer",
    "Seen",
    "activity",
    "add_workspace",
    "channel",
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
    "pending_reservation",
    "pending_task",
    "queue",
    "rest_error",
    "schema_url",
    "sdk_client",
    "serve",
    "worker",
    "worker_channel",
]
