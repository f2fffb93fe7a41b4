"""Per-scenario figures (QPS, latency percentiles, sources, errors) and the printed table."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any


def summarize(name: str, m: dict[str, Any]) -> dict[str, Any]:
    """A scenario's row from its merged slices: QPS, percentiles, main source, errors."""
    latencies = sorted(m["latencies"])
    sources: Counter[str] = m["sources"]

    def pct(q: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    source = sources.most_common(1)[0][0].removeprefix("SOURCE_") if sources else "-"
    share = sources.most_common(1)[0][1] / sum(sources.values()) if sources else 1.0
    return {
        "name": name,
        "qps": round(len(latencies) / m["seconds"], 1),
        "p50_ms": round(pct(0.50), 3),
        "p99_ms": round(pct(0.99), 3),
        "p999_ms": round(pct(0.999), 3),
        "calls": len(latencies),
        "errors": dict(m["codes"]),
        "source": f"{source} {share:.0%}",
        "sources_sampled": {k.removeprefix("SOURCE_"): round(v / sum(sources.values()), 3)
                            for k, v in sources.most_common()},
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    """The rows as an aligned table, header underlined."""
    cols: list[tuple[str, str, Callable[[Any], str]]] = [
        ("scenario", "name", str), ("calls", "calls", str), ("QPS", "qps", lambda v: f"{v:.0f}"),
        ("p50 ms", "p50_ms", lambda v: f"{v:.2f}"), ("p99 ms", "p99_ms", lambda v: f"{v:.2f}"),
        ("p99.9 ms", "p999_ms", lambda v: f"{v:.2f}"),
        ("QPS/echo", "ratio_qps_vs_echo", lambda v: f"{v:.2f}"),
        ("p99/echo", "ratio_p99_vs_echo", lambda v: f"{v:.2f}"),
        ("source", "source", str), ("errors", "errors", lambda v: str(sum(v.values()))),
    ]
    cells = [[h for h, _, _ in cols]] + [[f(r[k]) for _, k, f in cols] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.0%}"


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def print_layers(rows: list[dict[str, Any]]) -> None:
    """Which layer answered, per row that has them (serving/layers.py says how counted)."""
    cols: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("scenario", lambda r: r["name"]),
        ("memo", lambda r: _pct(r["layers"].get("memo"))),
        ("lookups/call", lambda r: _num(r["layers"].get("lookups_per_call"))),
        ("L1", lambda r: _pct(r["layers"].get("l1"))),
        ("Redis", lambda r: _pct(r["layers"].get("redis"))),
        ("store", lambda r: _pct(r["layers"].get("store"))),
        ("store fetches/call", lambda r: _num(r["layers"].get("store_fetches_per_call"))),
        ("Redis reads/call", lambda r: _num(r["layers"].get("redis_reads_per_call"))),
        ("sources (server)", lambda r: " ".join(
            f"{k} {v:.0%}" for k, v in r["layers"].get("sources", {}).items() if v) or "-"),
    ]
    with_layers = [r for r in rows if "layers" in r]
    cells = [[h for h, _ in cols]] + [[f(r) for _, f in cols] for r in with_layers]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) if i in (0, len(cols) - 1) else c.rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if n == 0:
            print("  ".join("-" * w for w in widths))
