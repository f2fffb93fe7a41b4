"""The console for the tests, the benchmark and the screenshots: ``recsvc console`` as a
subprocess, and a shop's history as it reads it, made up: one served generation with many
segments (published through the batch job's own writer) and the generation summaries of
the generations before it (more history than a few real job runs make)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from generation import GenerationData, Manifest, Profile, ScoredItem, SegmentInfo, SegmentMember
from generation.summaries import GenerationSummary, SegmentSummary, summary_item
from loopback.processes import Proc

__all__ = ["history", "put_summaries", "shop_generation", "start_console"]



def start_console(env: dict[str, str], name: str = "recsvc-console",
                  cpus: set[int] | None = None) -> tuple[Proc, str]:
    """`python -m recsvc console` on 127.0.0.1, a free port, plain HTTP; ``env`` adds
    RECSVC_CONSOLE_* settings. Returns the process and its base URL once it listens."""
    import sys

    proc = Proc([sys.executable, "-m", "recsvc", "console"], env={
        "RECSVC_CONSOLE_HOST": "127.0.0.1", "RECSVC_CONSOLE_PORT": "0",
        "RECSVC_CONSOLE_COOKIE_SECURE": "false", **env}, name=name, cpus=cpus)
    try:
        found = proc.wait_for(r"recsvc console listening on (\S+)", 60)
    except (RuntimeError, TimeoutError):
        proc.stop()
        raise
    return proc, found.group(1)


def segment_names(n: int) -> list[tuple[str, str]]:
    """(name, rule) of ``n`` segments."""
    fixed = [("high_value", "top RFM monetary quintile"),
             ("lapsed", "no purchase for 180 days"),
             ("new_customers", "first order in the last 30 days")]
    out = fixed[:n]
    for i in range(len(out), n):
        out.append((f"affinity:category_{i:02d}", f"category_{i:02d} share of interactions >= 0.3"))
    return out


def shop_generation(generation: str, published_at: str, *, segments: int = 50,
                    members: int = 40, users: int = 200) -> GenerationData:
    """A served generation: ``users`` profiles, ``segments`` segments of ``members``
    members each (addresses on example.com, every other member opted in)."""
    names = segment_names(segments)
    profiles = [
        Profile(f"u{n:05d}",
                recommendations=tuple(
                    ScoredItem(f"p{(n + j) % 97:03d}", 1.0 - j / 20, "similar shoppers")
                    for j in range(10)),
                purchased=(f"p{n % 97:03d}",), recent=(f"p{(n + 3) % 97:03d}",),
                category_affinity={"toys": 0.6, "books": 0.3},
                rfm={"recency_days": float(n % 90), "frequency": 3.0, "monetary": 120.0},
                segments=tuple(name for k, (name, _) in enumerate(names)
                               if (n + k) % max(1, users // members) == 0))
        for n in range(users)
    ]
    pairs = [(name, SegmentMember(f"u{(k + 7 * j) % users:05d}",
                                  f"shopper{(k + 7 * j) % users}@example.com", j % 2 == 0,
                                  {"country": "DE"}))
             for k, (name, _) in enumerate(names) for j in range(members)]
    manifest = Manifest(
        generation=generation, published_at=published_at,
        counts={"profiles": users, "products": 97, "events": 50 * users, "users": users},
        metrics={"ndcg@10": 0.31, "coverage@10": 0.42},
        segments=tuple(SegmentInfo(name, rule, members) for name, rule in names),
    )
    return GenerationData(manifest, profiles, [], [], pairs)


def history(generations: int, segments: int | Sequence[tuple[str, str]], *,
            end: datetime | None = None, last: str = "", seed: int = 7,
            toward: GenerationSummary | None = None) -> list[GenerationSummary]:
    """``generations`` nightly summaries, oldest first, ending at ``end`` with generation
    id ``last`` (when given): slowly drifting quality, growing counts, segment sizes that
    move, and joined/left that agree with the sizes. ``segments``: how many, or their
    (name, rule). ``toward``: a real summary the made-up ones lead up to (the night after
    the last): counts, quality and segment sizes end near its figures."""
    rng = random.Random(seed)
    end = end or datetime.now(UTC)
    names = segment_names(segments) if isinstance(segments, int) else list(segments)
    target = {g.name: g.size for g in toward.segments} if toward else {}
    sizes = {name: rng.randint(200, 5000) for name, _ in names}
    walks: dict[str, list[tuple[int, int, int]]] = {name: [] for name, _ in names}
    for g in range(generations):
        for name, _ in names:
            joined = rng.randint(0, max(1, sizes[name] // 10)) if g else 0
            left = rng.randint(0, max(1, sizes[name] // 10)) if g else 0
            sizes[name] = max(0, sizes[name] + joined - left)
            walks[name].append((sizes[name], joined, left))
    out: list[GenerationSummary] = []
    previous = ""
    for g in range(generations):
        at = end - timedelta(days=generations - 1 - g)
        gen = last if (last and g == generations - 1) else f"{at:%Y%m%dT%H%M%S}-{g:04d}"
        parts = []
        for name, rule in names:
            size, joined, left = walks[name][g]
            # Scaled so the walk ends at the real size (when there is one).
            scale = target[name] / max(1, walks[name][-1][0]) if name in target else 1.0
            size, joined, left = (round(v * scale) for v in (size, joined, left))
            parts.append(SegmentSummary(name, rule, size, int(size * 0.6), joined, left))
        wave, back = math.sin(g / 9), generations - g
        counts = {"profiles": 10_000 + 40 * g, "products": 600 + g,
                  "events": 400_000 + 900 * g, "users": 10_000 + 40 * g}
        metrics = {"ndcg@10": round(0.30 + 0.02 * wave + 0.0002 * g, 4),
                   "coverage@10": round(0.40 + 0.03 * math.cos(g / 7), 4)}
        if toward is not None:
            counts = {k: max(0, round(v * (1 - 0.004 * back))) for k, v in toward.counts.items()}
            # Both figures are shares: they stay within [0, 1].
            metrics = {k: round(min(1.0, v * (1 + 0.03 * math.sin(back / 6) - 0.0005 * back)),
                                4)
                       for k, v in toward.metrics.items()}
        out.append(GenerationSummary(
            generation=gen, published_at=at.isoformat(timespec="seconds"), counts=counts,
            metrics=metrics, model="ranker", segments=tuple(parts), previous=previous))
        previous = gen
    return out


def put_summaries(client: Any, table: str, summaries: Sequence[GenerationSummary]) -> None:
    """Write summaries with a boto3 DynamoDB client (25 per BatchWriteItem)."""
    items = [summary_item(s) for s in summaries]
    for start in range(0, len(items), 25):
        request = {table: [{"PutRequest": {"Item": i}} for i in items[start:start + 25]]}
        for _ in range(10):  # moto never throttles; DynamoDB may hand some back
            resp = client.batch_write_item(RequestItems=request)
            request = resp.get("UnprocessedItems") or {}
            if not request:
                break
        else:
            raise RuntimeError("summaries still unprocessed after 10 BatchWriteItem calls")
