"""Seed a database with a realistic, deterministic contact-centre workspace for benchmarks.

`seed_database(url, ...)` writes straight through the engine (no HTTP), in batched
transactions, so 15,000 workers, 500 task queues, workflows and tasks take seconds, not minutes.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from switchboard.engine import Engine, Limits
from switchboard.models import Clock
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
# Twilio's limits as the routing figures use them: 7,500 of 15,000 workers online.
HALF_AVAILABLE = (("Available", 0.50), ("Unavailable", 0.20), ("Offline", 0.30))
# Tasks by channel, and customers by language (English-heavy, as most centres are).
CHANNEL_MIX = (("voice", 0.50), ("chat", 0.35), ("sms", 0.15))
LANGUAGE_WEIGHTS = (0.45, 0.20, 0.10, 0.08, 0.08, 0.05, 0.04)
OVERFLOW_EXPRESSION = "1 == 1"

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


def task_attributes(rng: random.Random, index: int, channel: str) -> dict[str, Any]:
    """One customer contact: what it needs (skill, language, urgency) and who it is from."""
    country, city = rng.choice(CITIES)
    attributes: dict[str, Any] = {
        "type": {"voice": "inbound_call", "chat": "web_chat", "sms": "sms"}.get(channel, channel),
        "channel": channel,
        "skill": rng.choice(SKILLS),
        "language": rng.choices(LANGUAGES, LANGUAGE_WEIGHTS)[0],
        "priority_level": rng.choices((1, 2, 3, 4, 5), (30, 30, 20, 12, 8))[0],
        "customer": {
            "id": f"C{index:07d}",
            "tier": rng.choices(TIERS, (15, 35, 50))[0],
            "country": country,
            "city": city,
        },
        "sla_seconds": rng.choice((20, 30, 60, 120, 300)),
    }
    if channel == "voice":
        attributes["call_sid"] = f"CA{index:032x}"
        attributes["from"] = f"+1555{index % 10_000_000:07d}"
    return attributes


def task_channel(rng: random.Random) -> str:
    return rng.choices([c for c, _ in CHANNEL_MIX], [w for _, w in CHANNEL_MIX])[0]


class QueueCatalog:
    """The seeded queues by what their target_workers select, so workflows can send a task
    needing a skill, a language or a country to queues that hold such workers."""

    def __init__(self, sids: Sequence[str], expressions: Sequence[str], overflow: str) -> None:
        self.overflow = overflow
        self.by_skill: dict[str, list[str]] = {}
        self.by_language: dict[str, list[str]] = {}
        self.by_country: dict[str, list[str]] = {}
        self.broad: list[str] = []
        for sid, text in zip(sids, expressions, strict=True):
            if sid == overflow:
                continue
            for skill in re.findall(r'skills HAS "(\w+)"', text):
                self.by_skill.setdefault(skill, []).append(sid)
            for lang in re.findall(r'languages HAS "(\w+)"', text):
                self.by_language.setdefault(lang, []).append(sid)
            if text.startswith("primary_language IN"):
                self.broad.append(sid)
                for lang in json.loads(text.removeprefix("primary_language IN ")):
                    self.by_language.setdefault(lang, []).append(sid)
            for country in re.findall(r'location.country == "(\w+)"', text):
                self.by_country.setdefault(country, []).append(sid)

    def pick(self, rng: random.Random, group: dict[str, list[str]], key: str) -> str:
        found = group.get(key)
        return rng.choice(found) if found else self.overflow


def workflow_configuration(rng: random.Random, queues: QueueCatalog) -> dict[str, Any]:
    """Three to five filters over the task's skill, language, tier, urgency and country, each
    with a cascade of targets (timeouts, priorities, worker expressions on task attributes,
    order_by, skip_if) ending in the overflow queue; a default filter for the rest."""
    builders = (_vip_filter, _language_filter, _urgent_filter, _regional_filter, _returns_filter)
    chosen = rng.sample(builders, rng.randint(3, 5))
    broad = rng.choice(queues.broad) if queues.broad else queues.overflow
    return {
        "task_routing": {
            "filters": [build(rng, queues) for build in chosen],
            "default_filter": {"queue": rng.choice((broad, queues.overflow))},
        }
    }


def _vip_filter(rng: random.Random, q: QueueCatalog) -> dict[str, Any]:
    skill = rng.choice(SKILLS)
    return {
        "filter_friendly_name": f"VIP {skill}",
        "expression": f'customer.tier == "gold" AND skill == "{skill}"',
        "targets": [
            {"queue": q.pick(rng, q.by_skill, skill), "priority": 10, "timeout": 20,
             "expression": "worker.level >= 3"},
            {"queue": q.pick(rng, q.by_skill, skill), "priority": 10, "timeout": 60},
            {"queue": q.overflow, "priority": 10},
        ],
    }  # fmt: skip


def _language_filter(rng: random.Random, q: QueueCatalog) -> dict[str, Any]:
    first, second = rng.sample(LANGUAGES[1:], 2)
    return {
        "filter_friendly_name": f"Language {first}/{second}",
        "expression": f'language IN ["{first}", "{second}"]',
        "targets": [
            {"queue": q.pick(rng, q.by_language, first), "timeout": 30,
             "expression": "task.language IN worker.languages"},
            {"queue": q.overflow, "expression": "task.language IN worker.languages",
             "timeout": 120},
            {"queue": q.overflow},
        ],
    }  # fmt: skip


def _urgent_filter(rng: random.Random, q: QueueCatalog) -> dict[str, Any]:
    first, second = rng.sample(SKILLS, 2)
    return {
        "filter_friendly_name": f"Urgent {first}/{second}",
        "expression": f'skill IN ["{first}", "{second}"] AND priority_level >= 4',
        "targets": [
            {"queue": q.pick(rng, q.by_skill, first), "timeout": 45, "priority": 5,
             "order_by": "worker.level DESC", "skip_if": "workers.available == 0"},
            {"queue": q.pick(rng, q.by_skill, second), "timeout": 90, "priority": 5},
            {"queue": q.overflow, "priority": 5},
        ],
    }  # fmt: skip


def _regional_filter(rng: random.Random, q: QueueCatalog) -> dict[str, Any]:
    country, _ = rng.choice(CITIES)
    kind = rng.choice(("web_chat", "inbound_call"))
    return {
        "filter_friendly_name": f"Regional {country} {kind}",
        "expression": f'customer.country == "{country}" AND type == "{kind}"',
        "targets": [
            {"queue": q.pick(rng, q.by_country, country), "timeout": 30},
            {"queue": q.overflow},
        ],
    }


def _returns_filter(rng: random.Random, q: QueueCatalog) -> dict[str, Any]:
    skill = rng.choice(("returns", "billing", "support"))
    return {
        "filter_friendly_name": f"Standard {skill}",
        "expression": f'skill == "{skill}" AND customer.tier IN ["silver", "bronze"]',
        "targets": [
            {"queue": q.pick(rng, q.by_skill, skill), "timeout": 60,
             "expression": f"worker.routing.levels.{skill} >= task.priority_level"},
            {"queue": q.overflow},
        ],
    }  # fmt: skip


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
    queue_expressions: list[str] = field(default_factory=list)
    overflow_queue_sid: str | None = None
    workflow_sids: list[str] = field(default_factory=list)
    workflow_seconds: float = 0.0
    activity_sids: dict[str, str] = field(default_factory=dict)  # by friendly name
    worker_activities: list[str] = field(default_factory=list)  # each worker's activity SID


@contextmanager
def one_transaction(engine: Engine, workspace_sid: str) -> Iterator[None]:
    """Group several engine operations in one transaction: store.write nests (the inner
    operation's write joins this one), so a batch commits once instead of once per row."""
    with engine.store.write(workspace_sid):
        yield


def _activity_sids(
    store: Store, workspace_sid: str, mix: Sequence[tuple[str, float]] = ACTIVITY_MIX
) -> list[tuple[str, float]]:
    by_name = {a.friendly_name: a.sid for a in store.list_activities(workspace_sid)}
    return [(by_name[name], share) for name, share in mix if name in by_name]


def seed_workers(
    engine: Engine, workspace_sid: str, count: int, rng: random.Random, batch: int = 500,
    *, mix: Sequence[tuple[str, float]] = ACTIVITY_MIX, chat_capacity: bool = False,
    activities_out: list[str] | None = None,
) -> list[str]:  # fmt: skip
    """Create `count` workers named agent-00000…, in transactions of `batch` workers. With
    `chat_capacity`, each worker's chat channel then takes the capacity its attributes give
    (`channels.chat.capacity`, 1 to 4), and is unavailable where they say chat is not enabled.
    `activities_out` receives each worker's activity SID."""
    activities = _activity_sids(engine.store, workspace_sid, mix)
    sids, weights = [sid for sid, _ in activities], [share for _, share in activities]
    created: list[str] = []
    chats: list[dict[str, Any]] = []
    for start in range(0, count, batch):
        with one_transaction(engine, workspace_sid):
            for index in range(start, min(start + batch, count)):
                doc = worker_attributes(rng, index)
                activity = rng.choices(sids, weights)[0]
                worker = engine.workers.create_worker(
                    workspace_sid,
                    friendly_name=f"agent-{index:05d}",
                    activity_sid=activity,
                    attributes=json.dumps(doc, separators=(",", ":")),
                )
                created.append(worker.sid)
                if activities_out is not None:
                    activities_out.append(activity)
                chats.append(doc["channels"]["chat"])
    if chat_capacity:
        _set_chat_capacities(engine, workspace_sid, created, chats, batch)
    return created


def _set_chat_capacities(
    engine: Engine, workspace_sid: str, workers: Sequence[str], chats: Sequence[dict[str, Any]],
    batch: int,
) -> None:  # fmt: skip
    # By WorkerChannel SID, read from the routing index the engine already holds: each update
    # goes straight to its row, with no channel name to resolve.
    index = engine.index(workspace_sid)
    chat = next(sid for sid, c in index.channels.items() if c.unique_name == "chat")
    channel_sids = [index.worker_channels[worker][chat].sid for worker in workers]
    for start in range(0, len(workers), batch):
        with one_transaction(engine, workspace_sid):
            for i in range(start, min(start + batch, len(workers))):
                engine.worker_channels.update_worker_channel(
                    workspace_sid, workers[i], channel_sids[i],
                    capacity=chats[i]["capacity"], available=chats[i]["enabled"],
                )  # fmt: skip


def seed_queues(
    engine: Engine, workspace_sid: str, expressions: Sequence[str], batch: int = 100
) -> list[str]:
    """One task queue per expression, named "Queue 000" …"""
    created: list[str] = []
    for start in range(0, len(expressions), batch):
        with one_transaction(engine, workspace_sid):
            for index in range(start, min(start + batch, len(expressions))):
                queue = engine.task_queues.create_task_queue(
                    workspace_sid,
                    friendly_name=f"Queue {index:03d}",
                    target_workers=expressions[index],
                )
                created.append(queue.sid)
    return created


def seed_workflows(
    engine: Engine, workspace_sid: str, count: int, rng: random.Random, queues: QueueCatalog,
    *, reservation_timeout: int | None = None,
) -> list[str]:  # fmt: skip
    """`count` workflows named "Workflow 00" …, each with its own filters (see
    `workflow_configuration`)."""
    created: list[str] = []
    with one_transaction(engine, workspace_sid):
        for index in range(count):
            workflow = engine.workflows.create_workflow(
                workspace_sid,
                friendly_name=f"Workflow {index:02d}",
                configuration=json.dumps(workflow_configuration(rng, queues)),
                task_reservation_timeout=reservation_timeout,
            )
            created.append(workflow.sid)
    return created


def seed_tasks(
    engine: Engine, workspace_sid: str, count: int, rng: random.Random,
    workflow_sids: Sequence[str], *, first_index: int = 0, batch: int = 500,
) -> list[str]:  # fmt: skip
    """Create `count` tasks through the engine (routed as they are created: reserved while an
    eligible worker has room, else pending), each on a random workflow and channel."""
    created: list[str] = []
    for start in range(0, count, batch):
        with one_transaction(engine, workspace_sid):
            for index in range(start, min(start + batch, count)):
                channel = task_channel(rng)
                attributes = task_attributes(rng, first_index + index, channel)
                task = engine.tasks.create_task(
                    workspace_sid,
                    attributes=json.dumps(attributes, separators=(",", ":")),
                    workflow_sid=rng.choice(workflow_sids),
                    task_channel=channel,
                )
                created.append(task.sid)
    return created


@contextmanager
def open_engine(url: str, clock: Clock | None = None, workers: int = 15_000) -> Iterator[Engine]:
    """An engine on the database at `url` (migrated on opening), closed on leaving."""
    store = Store.open(url)
    try:
        yield Engine(store, clock or SystemClock(), Limits(max(15_000, workers)))
    finally:
        store.close()


def seed_workspace(
    engine: Engine,
    *,
    account_sid: str,
    auth_token: str,
    workers: int = 15_000,
    queues: int = 500,
    seed: int = 7,
    mix: Sequence[tuple[str, float]] = ACTIVITY_MIX,
    chat_capacity: bool = False,
    workflows: int = 0,
    reservation_timeout: int | None = None,
) -> Seeded:
    """Ensure the account and create one workspace holding `workers` workers and `queues`
    task queues; with `workflows`, the last queue is an overflow queue every worker is in
    (`1 == 1`) and that many workflows route over the queues. Same seed, same data."""
    rng = random.Random(seed)
    account, _ = engine.accounts.ensure_account(account_sid, auth_token)
    ws = engine.workspaces.create_workspace(account.sid, friendly_name=f"bench {workers} workers")
    result = Seeded(account.sid, account.auth_token, ws.sid)
    result.activity_sids = {a.friendly_name: a.sid for a in engine.store.list_activities(ws.sid)}
    started = time.perf_counter()
    result.worker_sids = seed_workers(
        engine, ws.sid, workers, rng, mix=mix, chat_capacity=chat_capacity,
        activities_out=result.worker_activities,
    )  # fmt: skip
    result.worker_seconds = time.perf_counter() - started
    started = time.perf_counter()
    expressions = queue_expressions(rng, queues)
    if workflows:
        expressions[-1] = OVERFLOW_EXPRESSION
    result.queue_expressions = expressions
    result.queue_sids = seed_queues(engine, ws.sid, expressions)
    result.queue_seconds = time.perf_counter() - started
    if workflows:
        started = time.perf_counter()
        result.overflow_queue_sid = result.queue_sids[-1]
        catalog = QueueCatalog(result.queue_sids, expressions, result.overflow_queue_sid)
        result.workflow_sids = seed_workflows(
            engine, ws.sid, workflows, rng, catalog, reservation_timeout=reservation_timeout
        )
        result.workflow_seconds = time.perf_counter() - started
    return result


def seed_database(url: str, *, account_sid: str, auth_token: str, **options: Any) -> Seeded:
    """Open (and migrate) the database at `url` and seed one workspace (`seed_workspace`'s
    options: workers, queues, seed, mix, chat_capacity, workflows, reservation_timeout)."""
    with open_engine(url, workers=options.get("workers", 15_000)) as engine:
        return seed_workspace(engine, account_sid=account_sid, auth_token=auth_token, **options)
