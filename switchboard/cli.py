"""The `switchboard` command: serve (the default), `expr`, `api-key` and `token`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from switchboard.config import Settings, settings_from_env


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8080)")
    parser.add_argument(
        "--database-url",
        help="sqlite:///PATH (default sqlite:///switchboard.db) or postgresql://…",
    )
    parser.add_argument("--base-url", help="public base URL for url and links (default: from Host)")
    parser.add_argument("--account-sid", help="the account to serve (created if new)")
    parser.add_argument("--auth-token", help="that account's auth token")
    parser.add_argument(
        "--clock", choices=["system", "manual"], help="manual: time moves only through the API"
    )
    parser.add_argument(
        "--limits",
        choices=["local", "twilio"],
        help="twilio: also enforce Twilio's rate limits and task count (default local)",
    )
    parser.add_argument(
        "--allowed-origins",
        help="browser origins of agent desktops, comma-separated, or * (default: none; any"
        " with --clock manual)",
    )
    parser.add_argument(
        "--metrics-token", help="a bearer token that reads /switchboard/metrics (all workspaces)"
    )
    parser.add_argument(
        "--log-format", choices=["text", "json"], help="json: one JSON object per log line"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchboard",
        description="A self-hosted server for Twilio's TaskRouter v1 API.",
    )
    _serve_arguments(parser)
    commands = parser.add_subparsers(dest="command")
    # SUPPRESS: a flag the subcommand does not repeat keeps the value given before it.
    serve = commands.add_parser(
        "serve", help="serve the API (the default)", argument_default=argparse.SUPPRESS
    )
    _serve_arguments(serve)
    expr = commands.add_parser("expr", help="evaluate a TaskRouter expression against attributes")
    expr.add_argument("expression")
    expr.add_argument("attributes", help="a JSON object")
    key = commands.add_parser(
        "api-key",
        help="create, list or delete the account's API keys (SK…)",
        argument_default=argparse.SUPPRESS,
    )
    key.add_argument("action", choices=["create", "list", "delete"])
    key.add_argument("sid", nargs="?", help="delete: the SK SID of the key to delete")
    key.add_argument("--name", default="switchboard", help="a friendly name for the key")
    key.add_argument("--database-url")
    key.add_argument("--account-sid")
    token = commands.add_parser(
        "token",
        help="print an Access Token for the worker SDK (local work)",
        argument_default=argparse.SUPPRESS,
    )
    token.add_argument("--workspace", required=True, help="the workspace SID (WS…)")
    token.add_argument("--worker", help="the worker SID (WK…); required for the worker role")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (3600)")
    token.add_argument("--role", choices=["worker", "supervisor", "admin"], default="worker")
    token.add_argument("--database-url")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    return settings_from_env().with_overrides(
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        database_url=getattr(args, "database_url", None),
        base_url=getattr(args, "base_url", None),
        account_sid=getattr(args, "account_sid", None),
        auth_token=getattr(args, "auth_token", None),
        clock=getattr(args, "clock", None),
        limits=getattr(args, "limits", None),
        allowed_origins=getattr(args, "allowed_origins", None),
        metrics_token=getattr(args, "metrics_token", None),
        log_format=getattr(args, "log_format", None),
    )


_LIMITS_BANNER = {
    "local": "local (Twilio's rate limits and task count off; --limits twilio to enforce them)",
    "twilio": "twilio (rate limits answer 429; at most 500,000 tasks per workspace)",
}


def serve(settings: Settings) -> int:
    import uvicorn

    from switchboard.app import build_services, create_app
    from switchboard.logs import configure as configure_logging
    from switchboard.realtime.uvicorn_protocol import options as websocket_options

    services = build_services(settings)
    account, created = services.engine.accounts.ensure_account(
        settings.account_sid, settings.auth_token
    )
    base = settings.base_url or f"http://{settings.host}:{settings.port}"
    print(f"Switchboard serving TaskRouter v1 at {base}", flush=True)
    print(f"  database:    {settings.database_url}", flush=True)
    print(f"  account SID: {account.sid}{'  (new)' if created else ''}", flush=True)
    print(f"  auth token:  {account.auth_token}", flush=True)
    print(f"  clock:       {settings.clock}", flush=True)
    print(f"  limits:      {_LIMITS_BANNER[settings.limits]}", flush=True)
    print(f"  SDK:         client.taskrouter.base_url = {base!r}", flush=True)
    ws_base = base.replace("http", "ws", 1)
    print(f"  agents:      ebServer {base}/v1/wschannels, wsServer {ws_base}/v1/wschannels",
          flush=True)  # fmt: skip
    print(f"  console:     {base}/switchboard/console/", flush=True)
    app = create_app(settings, services=services)
    configure_logging(settings.log_format, settings.log_level)
    # log_config=None: uvicorn keeps the handlers configured above rather than its own.
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_level=settings.log_level,
        log_config=None, **websocket_options(),
    )  # fmt: skip
    return 0


def expr(expression: str, attributes: str) -> int:
    """Print whether the expression matches; exit 0 on a match, 1 on none, 2 on an error."""
    from switchboard.expressions import ExpressionError, compile_expression

    try:
        document = json.loads(attributes)
    except json.JSONDecodeError as error:
        print(f"attributes are not valid JSON: {error}", file=sys.stderr)
        return 2
    if not isinstance(document, dict):
        print("attributes must be a JSON object", file=sys.stderr)
        return 2
    try:
        compiled = compile_expression(expression)
    except ExpressionError as error:
        print(f"{expression}\n{' ' * error.position}^\n{error}", file=sys.stderr)
        return 2
    explanation = compiled.explain(document)
    print(explanation.format())
    return 0 if explanation.matched else 1


def api_key(args: argparse.Namespace) -> int:
    """`api-key create|list|delete SID`; delete exits 1 when no such key exists. A running
    server refuses a deleted key within seconds (api.context.CREDENTIAL_TTL_SECONDS)."""
    from switchboard.engine import Engine
    from switchboard.storage import Store
    from switchboard.timers import SystemClock

    settings = _settings(args)
    sid = getattr(args, "sid", None)
    if (args.action == "delete") != (sid is not None):
        print("give the key's SID to delete it, and only then", file=sys.stderr)
        return 2
    store = Store.open(settings.database_url)
    try:
        store.use_server_secret(settings.secret_key)
        engine = Engine(store, SystemClock())
        account, _ = engine.accounts.ensure_account(settings.account_sid, None)
        if args.action == "list":
            for key in engine.accounts.list_api_keys(account.sid):
                print(f"{key.sid}  {_date(key.date_created)}  {key.friendly_name}")
            return 0
        if args.action == "delete":
            assert sid is not None
            if not engine.accounts.delete_api_key(sid):
                print(f"no API key {sid}", file=sys.stderr)
                return 1
            print(f"deleted {sid}")
            return 0
        key, secret = engine.accounts.create_api_key(
            account.sid, getattr(args, "name", "switchboard")
        )
    finally:
        store.close()
    print(f"API key SID: {key.sid}\nsecret:      {secret}\naccount SID: {account.sid}")
    print("The secret is shown once; Switchboard keeps it sealed (SWITCHBOARD_SECRET_KEY).")
    return 0


def token(args: argparse.Namespace) -> int:
    """Mint a token signed by an API key the server keeps for this purpose (made on first
    use, per account), so a developer needs no key of their own to try an agent desktop."""
    from switchboard.engine import Engine
    from switchboard.realtime import mint
    from switchboard.storage import Store
    from switchboard.timers import SystemClock

    settings = _settings(args)
    store = Store.open(settings.database_url)
    try:
        store.use_server_secret(settings.secret_key)
        workspace = store.get_workspace(args.workspace)
        if workspace is None:
            print(f"workspace {args.workspace} does not exist", file=sys.stderr)
            return 2
        worker = getattr(args, "worker", None)
        if worker is not None and store.get_worker(workspace.sid, worker) is None:
            print(f"worker {worker} does not exist in {workspace.sid}", file=sys.stderr)
            return 2
        if worker is None and args.role == "worker":
            print("a worker token needs --worker", file=sys.stderr)
            return 2
        meta = f"token_key:{workspace.account_sid}"
        key_sid = store.get_meta(meta)
        secret = store.api_key_secret(key_sid) if key_sid else None
        if key_sid is None or secret is None:
            engine = Engine(store, SystemClock())
            key, secret = engine.accounts.create_api_key(workspace.account_sid, "switchboard token")
            key_sid = key.sid
            store.set_meta(meta, key_sid)
    finally:
        store.close()
    print(mint(key_sid, secret, workspace.account_sid, workspace.sid, worker,
               ttl_s=args.ttl, role=args.role))  # fmt: skip
    return 0


def _date(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "expr":
        return expr(args.expression, args.attributes)
    if args.command == "api-key":
        return api_key(args)
    if args.command == "token":
        return token(args)
    return serve(_settings(args))
