"""bench/session_replay.py's figures: what the data allows (re-purchases the service never
recommends), the table per dataset, and the targets beside it."""

from __future__ import annotations

from typing import Any

from replay.data import Session, Split

MODES = ("batch", "session", "popular")


def diagnostics(split: Split, sessions: list[Session]) -> dict[str, Any]:
    """Shares of replayed events that no list can hold by the service's own rules: known
    shoppers' re-purchases of what they bought before the cut (Recommend bans a profile's
    purchases), and repeats of a product earlier in the same session (session memory
    bans bought and carted products; SimilarItems bans the product given)."""
    events = rebuys = repeats = 0
    for s in sessions:
        before = split.train_purchases.get(s.user_id, set())
        seen: set[str] = set()
        for _, product, _ in s.events:
            events += 1
            rebuys += product in before
            repeats += product in seen
            seen.add(product)
    n = max(1, events)
    return {"events": events, "rebuy_share_known": round(rebuys / n, 4),
            "repeat_in_session_share": round(repeats / n, 4)}


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b > 0 else "-"


def print_dataset(name: str, result: dict[str, Any]) -> None:
    meta = result["meta"]
    print(f"\n{name}: {meta['sessions']:,} test sessions of known shoppers "
          f"({meta['events']:,} events; {meta['skipped_new_user_sessions']:,} sessions of "
          f"users unseen before the cut left out), cut {meta['cut']}, trained on "
          f"{meta['train_events']:,} events (job {meta['train_seconds']:.0f} s); "
          f"{meta['rebuy_share_known']:.1%} of events re-buy a product bought before the "
          f"cut, {meta['repeat_in_session_share']:.1%} repeat one earlier in the session; "
          f"purchases tracked as {meta['purchases_tracked_as']}")
    head = ("shopper", "memory", "HR@10", "NDCG@10", "HR/batch", "HR/popular",
            "HR@10 not re-buys", "calls/s", "errors")
    rows = [head]
    for shopper in ("known", "anonymous"):
        figures = result[shopper]
        batch, popular = figures["batch"]["hr@10"], figures["popular"]["hr@10"]
        for mode in MODES:
            f = figures[mode]
            rows.append((shopper, mode, f"{f['hr@10']:.4f}", f"{f['ndcg@10']:.4f}",
                         _ratio(f["hr@10"], batch), _ratio(f["hr@10"], popular),
                         f"{f['hr@10_not_rebuys']:.4f}",
                         f"{f['calls_per_s']:.0f}" if f.get("calls_per_s") else "-",
                         str(sum(f["errors"].values()))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for n, row in enumerate(rows):
        print("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    known, anonymous = (result["targets"][k] for k in (
        "known_session_vs_batch", "anonymous_session_vs_popular"))
    print(f"targets: known session/batch HR@10 {_x(known)} (>= 1.5x: {_met(known, 1.5)}); "
          f"anonymous session/popular HR@10 {_x(anonymous)} (>= 2x: {_met(anonymous, 2)})")


def _x(ratio: float | None) -> str:
    return f"{ratio:.2f}x" if ratio is not None else "- (base 0)"


def _met(ratio: float | None, target: float) -> str:
    return "-" if ratio is None else "met" if ratio >= target else "NOT met"


def targets(result: dict[str, Any]) -> dict[str, float | None]:
    def ratio(shopper: str, a: str, b: str) -> float | None:
        base = result[shopper][b]["hr@10"]
        return round(result[shopper][a]["hr@10"] / base, 3) if base else None

    return {"known_session_vs_batch": ratio("known", "session", "batch"),
            "anonymous_session_vs_popular": ratio("anonymous", "session", "popular"),
            "anonymous_batch_vs_popular": ratio("anonymous", "batch", "popular")}
