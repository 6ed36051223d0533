"""The `switchboard` command: serve (the default), `expr` and `api-key`."""

from __future__ import annotations

import argparse
import json
import sys
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
        help="create an API key (SK…) for the account",
        argument_default=argparse.SUPPRESS,
    )
    key.add_argument("action", choices=["create"])
    key.add_argument("--name", default="switchboard", help="a friendly name for the key")
    key.add_argument("--database-url")
    key.add_argument("--account-sid")
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
        metrics_token=getattr(args, "metrics_token", None),
        log_format=getattr(args, "log_format", None),
    )


def serve(settings: Settings) -> int:
    import uvicorn

    from switchboard.app import build_services, create_app
    from switchboard.logs import configure as configure_logging

    services = build_services(settings)
    account, created = services.engine.ensure_account(settings.account_sid, settings.auth_token)
    base = settings.base_url or f"http://{settings.host}:{settings.port}"
    print(f"Switchboard serving TaskRouter v1 at {base}", flush=True)
    print(f"  database:    {settings.database_url}", flush=True)
    print(f"  account SID: {account.sid}{'  (new)' if created else ''}", flush=True)
    print(f"  auth token:  {account.auth_token}", flush=True)
    print(f"  clock:       {settings.clock}", flush=True)
    print(f"  SDK:         client.taskrouter.base_url = {base!r}", flush=True)
    print(f"  console:     {base}/switchboard/console/", flush=True)
    app = create_app(settings, services=services)
    configure_logging(settings.log_format, settings.log_level)
    # log_config=None: uvicorn keeps the handlers configured above rather than its own.
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_level=settings.log_level,
        log_config=None,
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
    from switchboard.engine import Engine
    from switchboard.storage import Store
    from switchboard.timers import SystemClock

    settings = _settings(args)
    store = Store.open(settings.database_url)
    try:
        engine = Engine(store, SystemClock())
        account, _ = engine.ensure_account(settings.account_sid, None)
        key, secret = engine.create_api_key(account.sid, getattr(args, "name", "switchboard"))
    finally:
        store.close()
    print(f"API key SID: {key.sid}\nsecret:      {secret}\naccount SID: {account.sid}")
    print("The secret is shown once; Switchboard keeps only its hash.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "expr":
        return expr(args.expression, args.attributes)
    if args.command == "api-key":
        return api_key(args)
    return serve(_settings(args))
