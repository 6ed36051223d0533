"""Settings: SWITCHBOARD_* variables are parsed (and refused when malformed); flags win."""

from __future__ import annotations

from dataclasses import fields

import pytest

from switchboard import cli
from switchboard.config import ENV_NAMES, Settings, settings_from_env

FULL_ENV = {
    "SWITCHBOARD_HOST": "0.0.0.0",
    "SWITCHBOARD_PORT": "9090",
    "SWITCHBOARD_DATABASE_URL": "postgresql://db.internal/switchboard",
    "SWITCHBOARD_BASE_URL": "https://tr.example.com",
    "SWITCHBOARD_ACCOUNT_SID": "AC" + "a" * 32,
    "SWITCHBOARD_AUTH_TOKEN": "secret-token",
    "SWITCHBOARD_CLOCK": "manual",
    "SWITCHBOARD_MAX_WORKERS": "200",
    "SWITCHBOARD_LIST_ATTRIBUTES": "false",
    "SWITCHBOARD_LOG_LEVEL": "debug",
    "SWITCHBOARD_EVENT_RETENTION_DAYS": "7",
    "SWITCHBOARD_EVENT_CALLBACK_ATTEMPTS": "3",
    "SWITCHBOARD_MAX_BODY_BYTES": "65536",
    "SWITCHBOARD_LIMITS": "twilio",
    "SWITCHBOARD_SECRET_KEY": "a-long-server-secret",
    "SWITCHBOARD_ALLOWED_ORIGINS": "https://desk.example.com",
    "SWITCHBOARD_HEARTBEAT_SECONDS": "5",
    "SWITCHBOARD_PRESENCE_GRACE_SECONDS": "3",
    "SWITCHBOARD_PRESENCE_LAPSE_SECONDS": "20",
    "SWITCHBOARD_METRICS_TOKEN": "scrape-token",
    "SWITCHBOARD_LOG_FORMAT": "json",
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ENV_NAMES.values():
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_every_setting_has_a_variable() -> None:
    assert set(ENV_NAMES) == {f.name for f in fields(Settings)}
    assert set(FULL_ENV) == set(ENV_NAMES.values())


def test_every_variable_is_parsed() -> None:
    assert settings_from_env(FULL_ENV) == Settings(
        host="0.0.0.0",
        port=9090,
        database_url="postgresql://db.internal/switchboard",
        base_url="https://tr.example.com",
        account_sid="AC" + "a" * 32,
        auth_token="secret-token",
        clock="manual",
        max_workers_per_workspace=200,
        list_attributes=False,
        log_level="debug",
        event_retention_days=7,
        event_callback_attempts=3,
        max_body_bytes=65536,
        limits="twilio",
        secret_key="a-long-server-secret",
        allowed_origins="https://desk.example.com",
        heartbeat_seconds=5,
        presence_grace_seconds=3,
        presence_lapse_seconds=20,
        metrics_token="scrape-token",
        log_format="json",
    )


def test_unset_and_empty_variables_keep_the_defaults() -> None:
    assert settings_from_env({}) == Settings()
    assert settings_from_env({name: "" for name in FULL_ENV}) == Settings()
    assert settings_from_env({"UNRELATED": "x"}) == Settings()


def test_the_process_environment_is_read(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SWITCHBOARD_PORT", "7000")
    assert settings_from_env().port == 7000


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("TRUE", True), ("yes", True), (" on ", True),
     ("0", False), ("False", False), ("no", False), ("off", False)],
)  # fmt: skip
def test_booleans(raw: str, expected: bool) -> None:
    assert settings_from_env({"SWITCHBOARD_LIST_ATTRIBUTES": raw}).list_attributes is expected


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("SWITCHBOARD_CLOCK", "virtual"),
        ("SWITCHBOARD_LOG_FORMAT", "xml"),
        ("SWITCHBOARD_CLOCK", "Manual"),
        ("SWITCHBOARD_PORT", "eighty"),
        ("SWITCHBOARD_MAX_WORKERS", "1.5"),
        ("SWITCHBOARD_LIST_ATTRIBUTES", "flase"),
    ],
)
def test_malformed_values_are_refused_by_name(name: str, raw: str) -> None:
    with pytest.raises(ValueError, match=name):
        settings_from_env({name: raw})


def test_flags_override_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    for name, value in FULL_ENV.items():
        clean_env.setenv(name, value)
    args = cli._parser().parse_args(
        ["--port", "9100", "--clock", "system", "--database-url", "sqlite:///other.db"]
    )
    settings = cli._settings(args)
    assert (settings.port, settings.clock, settings.database_url) == (
        9100,
        "system",
        "sqlite:///other.db",
    )
    # What no flag names still comes from the environment.
    assert settings.host == "0.0.0.0"
    assert settings.auth_token == "secret-token"
    assert settings.list_attributes is False


def test_every_serve_flag(clean_env: pytest.MonkeyPatch) -> None:
    argv = [
        "serve", "--host", "0.0.0.0", "--port", "81", "--database-url", "sqlite:///x.db",
        "--base-url", "https://public.example", "--account-sid", "AC" + "b" * 32,
        "--auth-token", "flag-token", "--clock", "manual",
        "--allowed-origins", "https://desk.example",
        "--metrics-token", "flag-scrape", "--log-format", "json",
    ]  # fmt: skip
    settings = cli._settings(cli._parser().parse_args(argv))
    assert settings == Settings(
        host="0.0.0.0",
        port=81,
        database_url="sqlite:///x.db",
        base_url="https://public.example",
        account_sid="AC" + "b" * 32,
        auth_token="flag-token",
        clock="manual",
        allowed_origins="https://desk.example",
        metrics_token="flag-scrape",
        log_format="json",
    )


def test_subcommand_flags_override_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SWITCHBOARD_DATABASE_URL", "sqlite:///env.db")
    clean_env.setenv("SWITCHBOARD_PORT", "7000")
    args = cli._parser().parse_args(["api-key", "create", "--database-url", "sqlite:///flag.db"])
    settings = cli._settings(args)
    assert (settings.database_url, settings.port) == ("sqlite:///flag.db", 7000)


def test_a_bad_clock_flag_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli._parser().parse_args(["--clock", "virtual"])
    assert "--clock" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "field", "expected"),
    [
        (["--port", "9000", "serve"], "port", 9000),
        (
            ["--database-url", "sqlite:///x.db", "api-key", "create"],
            "database_url",
            "sqlite:///x.db",
        ),
    ],
    ids=["serve", "api-key"],
)
def test_flags_before_the_subcommand_are_kept(
    clean_env: pytest.MonkeyPatch, argv: list[str], field: str, expected: object
) -> None:
    settings = cli._settings(cli._parser().parse_args(argv))
    assert getattr(settings, field) == expected
