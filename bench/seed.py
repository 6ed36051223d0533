"""Seed a database with a realistic, deterministic contact-centre workspace for benchmarks.

`seed_database(url, ...)` writes straight through the engine (no HTTP), in batched
transactions, so 15,000 workers and 500 task queues take seconds rather than minutes.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from switchboard.engine import Engine, Limits
from switchboard.storage import Store
from switchboard.timers import SystemClock

SKILLS = ("support", "sales", "billing", "tech", "vip", "returns", "onboarding", "fraud")
LANGUAGES = ("en", "es", "fr", "de", "pt", "it", "ja")
TEAMS = ("sales", "support", "billing", "front-desk", "returns", "retention")
TIERS = ("gold", "silver", "bronze")
TITLES = ("Senior Agent", "Agent", "Junior Agent", "Team Lead", "Senior Specialist")
CITIES = (
    ("US", "Boston"), ("US", "Denver"), ("US", "Austin"), ("GB", "London"),
    ("DE", "Berlin"), ("BR", "Recife"), ("ES", "Madrid"), ("JP", "Osaka"),
)  # fmt: skip
# Share of workers in each default activity, as a staffed contact centre would have them.
ACTIVITY_MIX = (("Available", 0.55), ("Unavailable", 0.15), ("Offline", 0.30))

# Expressions a workload would use to search workers (`GET /Workers?TargetWorkersExpression=`):
# list and scalar operators, nested keys, built-in fields, broad and very selective ones.
LIST_EXPRESSIONS = (
    'skills HAS "billing" AND level >= 3',
    'primary_language IN ["en", "es"]',
    '(team == "sales" OR team == "support") AND location.country == "US"',
    'routing.skills HAS "returns"',
    'team NOT IN ["sales", "support"] AND level > 2',
    'title CONTAINS "Senior"',
    'languages HAS "fr" AND location.city == "Berlin"',
    'routing.levels.billing >= 4 AND tier == "gold"',
    'activity_name == "Available" AND skills HAS "tech"',
    'level == 5 AND skills HAS "fraud" AND languages HAS "ja" AND location.country == "JP"',
)


def worker_attributes(rng: random.Random, index: int) -> dict[str, Any]:
    """One agent's attributes: skill and language lists, levels, a team, a nested location,
    per-skill routing levels and channel capacities."""
    country, city = rng.choice(CITIES)
    skills = rng.sample(SKILLS, rng.randint(1, 4))
    languages = rng.sample(LANGUAGES, rng.randint(1, 3))
    return {
        "employee_id": f"E{index:06d}",
        "skills": skills,
        "languages": languages,
        "primary_language": languages[0],
        "level": rng.randint(1, 5),
        "team": rng.choice(TEAMS),
        "tier": rng.choice(TIERS),
        "title": rng.choice(TITLES),
        "location": {
            "country": country,
            "city": city,
            "site": f"{city.lower()}-{rng.randint(1, 3)}",
        },
        "routing": {
            "skills": rng.sample(skills, max(1, len(skills) - 1)),
            "levels": {skill: rng.randint(1, 5) for skill in skills},
        },
        "channels": {
            "voice": {"capacity": 1, "enabled": rng.random() < 0.9},
            "chat": {"capacity": rng.randint(1, 4), "enabled": rng.random() < 0.6},
        },
        "contact_uri": f"client:agent{index}",
    }


def _queue_expression(rng: random.Random) -> str:
    """One target_workers expression, drawn from the shapes real deployments write."""
    skill, other = rng.sample(SKILLS, 2)
    langs = rng.sample(LANGUAGES, rng.randint(2, 3))
    team_a, team_b = rng.sample(TEAMS, 2)
    country, city = rng.choice(CITIES)
    shapes = (
        f'skills HAS "{skill}" AND level >= {rng.randint(1, 5)}',
        f"primary_language IN {json.dumps(langs)}",
        f'(team == "{team_a}" OR team == "{team_b}") AND location.country == "{country}"',
        f'routing.skills HAS "{skill}"',
        f'routing.levels.{skill} >= {rng.randint(2, 5)} AND languages HAS "{langs[0]}"',
        f'skills HAS "{skill}" AND skills HAS "{other}" AND tier != "bronze"',
        f'location.city == "{city}" AND channels.chat.enabled == true',
        f'team NOT IN ["{team_a}", "{team_b}"] AND level > {rng.randint(1, 4)}',
        f'title CONTAINS "Senior" AND skills HAS "{skill}"',
        "1 == 1",
    )
    # The last two shapes (CONTAINS, everyone) are rarer than the rest.
    weights = (12, 10, 10, 10, 8, 8, 6, 4, 3, 1)
    return rng.choices(shapes, weights)[0]


def queue_expressions(rng: random.Random, count: int) -> list[str]:
    return [_queue_expression(rng) for _ in range(count)]


@dataclass
class Seeded:
    """What seeding made, and how long each part took."""

    account_sid: str
    auth_token: str
    workspace_sid: str
    worker_sids: list[str] = field(default_factory=list)
    queue_sids: list[str] = field(default_factory=list)
    worker_seconds: float = 0.0
    queue_seconds: float = 0.0


@contextmanager
def _batch(engine: Engine, workspace_sid: str) -> Iterator[None]:
    """Group several engine operations in one transaction: store.write nests (the inner
    operation's write joins this one), so a batch commits once instead of once per row."""
    with engine.store.write(workspace_sid):
        yield


def _activity_sids(store: Store, workspace_sid: str) -> list[tuple[str, float]]:
    by_name = {a.friendly_name: a.sid for a in store.list_activities(workspace_sid)}
    return [(by_name[name], share) for name, share in ACTIVITY_MIX if name in by_name]


def seed_workers(
    engine: Engine, workspace_sid: str, count: int, rng: random.Random, batch: int = 500
) -> list[str]:
    """Create `count` workers named agent-00000…, in transactions of `batch` workers."""
    activities = _activity_sids(engine.store, workspace_sid)
    sids, weights = [sid for sid, _ in activities], [share for _, share in activities]
    created: list[str] = []
    for start in range(0, count, batch):
        with _batch(engine, workspace_sid):
            for index in range(start, min(start + batch, count)):
                attributes = json.dumps(worker_attributes(rng, index), separators=(",", ":"))
                worker = engine.create_worker(
                    workspace_sid,
                    friendly_name=f"agent-{index:05d}",
                    activity_sid=rng.choices(sids, weights)[0],
                    attributes=attributes,
                )
                created.append(worker.sid)
    return created


def seed_queues(
    engine: Engine, workspace_sid: str, expressions: Sequence[str], batch: int = 100
) -> list[str]:
    """One task queue per expression, named "Queue 000" …"""
    created: list[str] = []
    for start in range(0, len(expressions), batch):
        with _batch(engine, workspace_sid):
            for index in range(start, min(start + batch, len(expressions))):
                queue = engine.create_task_queue(
                    workspace_sid,
                    friendly_name=f"Queue {index:03d}",
                    target_workers=expressions[index],
                )
                created.append(queue.sid)
    return created


def seed_database(
    url: str,
    *,
    account_sid: str,
    auth_token: str,
    workers: int = 15_000,
    queues: int = 500,
    seed: int = 7,
) -> Seeded:
    """Open (and migrate) the database at `url`, ensure the account, and create one workspace
    holding `workers` workers and `queues` task queues. The same seed gives the same data."""
    rng = random.Random(seed)
    store = Store.open(url)
    try:
        engine = Engine(store, SystemClock(), Limits(max(15_000, workers)))
        account, _ = engine.ensure_account(account_sid, auth_token)
        ws = engine.create_workspace(account.sid, friendly_name=f"bench {workers} workers")
        result = Seeded(account.sid, account.auth_token, ws.sid)
        started = time.perf_counter()
        result.worker_sids = seed_workers(engine, ws.sid, workers, rng)
        result.worker_seconds = time.perf_counter() - started
        started = time.perf_counter()
        result.queue_sids = seed_queues(engine, ws.sid, queue_expressions(rng, queues))
        result.queue_seconds = time.perf_counter() - started
        return result
    finally:
        store.close()
