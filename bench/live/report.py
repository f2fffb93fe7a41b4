"""bench/realtime.py's figures: percentiles, the probes' summary, the printed table."""

from __future__ import annotations

import math
from typing import Any


def pct(values: list[float], q: float, empty: float = float("nan")) -> float:
    """The q-quantile (nearest rank) of ``values``; inf counts as a value."""
    if not values:
        return empty
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def visibility(probes: list[dict[str, Any]]) -> dict[str, Any]:
    """p50/p99 of event-to-visible seconds (a probe that never became visible counts as
    infinitely late), overall and per kind of shopper."""
    out: dict[str, Any] = {"probes": len(probes)}
    for kind in ("all", "known", "anonymous"):
        mine = [p for p in probes if kind == "all" or p["kind"] == kind]
        seconds = [p["visible_s"] if p["visible_s"] is not None else math.inf for p in mine]
        suffix = "" if kind == "all" else f"_{kind}"
        out[f"p50_s{suffix}"] = pct(seconds, 0.50)
        out[f"p99_s{suffix}"] = pct(seconds, 0.99)
        out[f"max_s{suffix}"] = max(seconds, default=float("nan"))
        out[f"not_visible{suffix}"] = sum(p["visible_s"] is None for p in mine)
        out[f"count{suffix}"] = len(mine)
    out["first_poll_share"] = (
        sum(p["polls"] == 1 for p in probes) / len(probes) if probes else float("nan"))
    return out


def finite(value: float) -> float | None:
    """JSON has no inf/nan: None instead."""
    return value if math.isfinite(value) else None


def _ms(seconds: float | None) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds is not None and math.isfinite(seconds) else (
        "never")


def _kind(vis: dict[str, Any], kind: str) -> str:
    return _ms(vis[f"p99_s_{kind}"]) if vis[f"count_{kind}"] else "no probes"


def print_table(f: dict[str, Any]) -> None:
    """The figures a person reads, each beside its target."""
    rise = f["recommend_p99_rise"]
    vis, busy, lag = f["visibility"], f["server_core_busy"], f["client_send_lag_p99_ms"]
    memo = f["recommend_memo_share"]
    rows = [
        ("Recommend max (closed loop)", f"{f['recommend_max_qps']:.0f} calls/s",
         f"echo {f['echo_recommend_qps']:.0f} calls/s "
         f"(x{f['recommend_max_qps'] / f['echo_recommend_qps']:.2f})", ""),
        ("Recommend offered (open loop)", f"{f['recommend_rate_offered']:.0f} calls/s",
         f"{f['load_share']:.1f} x max", ""),
        ("Recommend p50 / p99, no events",
         f"{f['recommend_p50_ms_idle']:.2f} / {f['recommend_p99_ms_idle']:.2f} ms",
         f"{f['recommend_qps_idle']:.0f}/s answered, "
         f"{f['recommend_failed_share']['idle']:.1%} failed", ""),
        ("Recommend p50 / p99, with events",
         f"{f['recommend_p50_ms_with_events']:.2f} / "
         f"{f['recommend_p99_ms_with_events']:.2f} ms",
         f"{f['recommend_qps_with_events']:.0f}/s answered, "
         f"{f['recommend_failed_share']['with_events']:.1%} failed", ""),
        ("Recommend p99 rise under events", f"{rise:+.0%}", "<= +10%",
         "yes" if rise <= 0.10 else "NO"),
        ("Track events sent (batches of 10)", f"{f['events_per_s_sent']:.0f} events/s",
         ">= 1000", "yes" if f["events_per_s_sent"] >= 1000 else "NO"),
        ("event-to-visible p50", _ms(vis["p50_s"]),
         f"{vis['probes']} probes, {vis['not_visible']} never", ""),
        ("event-to-visible p99", _ms(vis["p99_s"]), "<= 1 s",
         "yes" if vis["p99_s"] is not None and vis["p99_s"] <= 1.0 else "NO"),
        ("  known / anonymous p99", f"{_kind(vis, 'known')} / {_kind(vis, 'anonymous')}",
         f"{vis['first_poll_share'] or 0:.0%} on the first poll", ""),
        ("Track max, one process", f"{f['track_events_per_s']:.0f} events/s",
         ">= 3000", "yes" if f["track_events_per_s"] >= 3000 else "NO"),
        ("  Track calls vs echo (same bytes)", f"{f['track_calls_per_s']:.0f} calls/s",
         f"echo {f['echo_track_qps']:.0f} calls/s (x{f['track_vs_echo']:.2f})", ""),
        ("server CPU per Recommend / Track event",
         f"{f['server_cpu_us_per_recommend']:.0f} / "
         f"{f['server_cpu_us_per_track_event']:.0f} us", "at the closed-loop maxima", ""),
        ("server core busy: no events / events",
         f"{busy['idle']:.0%} / {busy['with_events']:.0%}",
         f"max phases {busy['recommend_max']:.0%} / {busy['track_max']:.0%}", ""),
        ("Recommend answers from the memo",
         f"{memo['idle']:.0%} / {memo['with_events']:.0%}", "no events / events", ""),
        ("client send lag p99: no events / events",
         f"{lag['idle']:.1f} / {lag['with_events']:.1f} ms", "open loops' own lateness", ""),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    head = ("measure", "value", "beside / target", "met")
    widths = [max(w, len(h)) for w, h in zip(widths, head, strict=True)]
    for n, row in enumerate([head, *rows]):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
