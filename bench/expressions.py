"""Benchmark compiled expressions against 15,000 generated worker documents.

Run from the checkout: .venv/bin/python -m bench.expressions [--workers N] [--repeats N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from switchboard.expressions import compile_expression

SKILLS = ["support", "sales", "billing", "tech", "vip", "returns", "onboarding", "fraud"]
LANGUAGES = ["en", "es", "fr", "de", "pt", "it", "ja"]
TEAMS = ["sales", "support", "billing", "front-desk", "returns", "retention"]
CITIES = [("US", "Boston"), ("US", "Denver"), ("GB", "London"), ("DE", "Berlin"), ("BR", "Recife")]
TITLES = ["Senior Agent", "Agent", "Junior Agent", "Team Lead", "Senior Specialist"]

EXPRESSIONS = [
    'skills HAS "support" AND level >= 3',
    '(languages HAS "en" OR languages HAS "es") AND team == "sales"',
    'team IN ["sales", "support", "billing"]',
    "channel.voice.assigned_tasks < 2 AND channel.voice.configured_capacity >= 1",
    'location.country == "US" AND location.city != "Boston"',
    'level > 2 AND level <= 4 AND skills HAS "billing" AND tier == "gold"',
    'languages[0] == "en" OR certifications[0].name == "cisco"',
    'team NOT IN ["front-desk", "returns"] AND title CONTAINS "Senior"',
    "score >= 50.5 AND shift.start <= 900",
    "1 == 1",
]
# Expressions whose keys are prefixed task./worker., evaluated against {"task": ..., "worker": ...}.
TARGET_EXPRESSIONS = [
    "worker.level >= task.min_level AND task.language IN worker.languages",
]


def make_worker(rng: random.Random, index: int) -> dict[str, Any]:
    """One worker's attributes, shaped like a contact centre's: lists, ints, nested objects."""
    country, city = rng.choice(CITIES)
    capacity = rng.randint(1, 3)
    return {
        "name": f"agent-{index}",
        "skills": rng.sample(SKILLS, rng.randint(1, 4)),
        "languages": rng.sample(LANGUAGES, rng.randint(1, 3)),
        "level": rng.randint(1, 5),
        "team": rng.choice(TEAMS),
        "tier": rng.choice(["gold", "silver", "bronze"]),
        "title": rng.choice(TITLES),
        # Some deployments store numbers as strings; the language compares them numerically.
        "score": rng.choice(
            [rng.randint(0, 100), str(rng.randint(0, 100)), round(rng.random() * 100, 1)]
        ),
        "shift": {"start": rng.choice(["0700", "0800", "0900", "1000"]), "end": "1700"},
        "location": {"country": country, "city": city},
        "certifications": [{"name": rng.choice(["cisco", "itil", "pci"]), "year": 2020}]
        if rng.random() < 0.6
        else [],
        "channel": {
            "voice": {"configured_capacity": capacity, "assigned_tasks": rng.randint(0, capacity)},
            "chat": {"configured_capacity": 3, "assigned_tasks": rng.randint(0, 3)},
        },
        "contact_uri": f"client:agent{index}",
    }


def time_per_eval(function: Callable[[Any], bool], docs: Sequence[Any], repeats: int) -> float:
    """Median over `repeats` full passes of the mean nanoseconds per call."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for doc in docs:
            function(doc)
        samples.append((time.perf_counter_ns() - start) / len(docs))
    return statistics.median(samples)


def compile_time(text: str, rounds: int = 200) -> float:
    """Median microseconds to compile `text` from scratch (distinct padding defeats the cache)."""
    samples = []
    for index in range(rounds):
        padded = text + " " * (index + 1)
        start = time.perf_counter_ns()
        compile_expression(padded)
        samples.append((time.perf_counter_ns() - start) / 1000)
    return statistics.median(samples)


def report(title: str, texts: list[str], docs: Sequence[Mapping[str, Any]], repeats: int) -> None:
    print(f"\n{title}")
    print(f"{'ns/eval':>8} {'compile us':>11} {'matched':>8}  expression")
    for text in texts:
        expression = compile_expression(text)
        ns = time_per_eval(expression.matches, docs, repeats)
        matched = sum(1 for doc in docs if expression.matches(doc))
        print(f"{ns:8.0f} {compile_time(text):11.1f} {matched:8d}  {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=15_000)
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    rng = random.Random(20240601)
    workers = [make_worker(rng, index) for index in range(args.workers)]
    task = {"min_level": 3, "language": "es", "type": "support"}
    pairs = [{"task": task, "worker": worker} for worker in workers]

    print(f"{len(workers)} workers, median of {args.repeats} passes")
    report(
        "queue target_workers expressions (doc = worker attributes)",
        EXPRESSIONS,
        workers,
        args.repeats,
    )
    report(
        "workflow target expressions (doc = {task, worker})",
        TARGET_EXPRESSIONS,
        pairs,
        args.repeats,
    )

    compiled = compile_expression(EXPRESSIONS[0]).matches
    # The same test as a developer would write it by hand for these documents.
    ours = time_per_eval(compiled, workers, args.repeats)
    theirs = time_per_eval(
        lambda w: "support" in w.get("skills", ()) and w.get("level", 0) >= 3, workers, args.repeats
    )
    print(f"\nbaseline: {EXPRESSIONS[0]}")
    print(f"  compiled expression {ours:6.0f} ns/eval")
    print(f"  hand-written lambda {theirs:6.0f} ns/eval")
    print(f"  ratio               {ours / theirs:6.2f}x")


if __name__ == "__main__":
    main()
