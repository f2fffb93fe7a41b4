"""What parsing event lines gives: coded frames, and line counts that add up across parts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import pandas as pd

REASONS = (
    "malformed_json",
    "missing_user_id",
    "unknown_event_type",
    "missing_product_id",
    "bad_ts",
    "bad_number",
)


@dataclass(frozen=True)
class ParseStats:
    """Line counts of parsed event lines; ``ParseStats()`` (no lines) adds nothing. A sum lists
    ``bad`` in REASONS order and ``types`` by name, as the run report shows them."""

    lines: int = 0
    valid: int = 0
    bad: dict[str, int] = field(default_factory=dict)  # rejected lines per reason
    types: dict[str, int] = field(default_factory=dict)  # valid events per event type name
    anonymous: int = 0  # valid events of a session without a user id: no profile to build
    modelled: int = 0  # valid events the model learns from: the rows of the parsed frame
    unknown_products: int = 0  # modelled events of users naming a product the catalogue lacks
    min_ts: int | None = None  # epoch ms of the valid events, None when there are none
    max_ts: int | None = None

    def __add__(self, other: ParseStats) -> ParseStats:
        bad = Counter(self.bad) + Counter(other.bad)
        types = Counter(self.types) + Counter(other.types)
        return ParseStats(
            lines=self.lines + other.lines,
            valid=self.valid + other.valid,
            bad={r: bad[r] for r in REASONS if bad[r]},
            types=dict(sorted(types.items())),
            anonymous=self.anonymous + other.anonymous,
            modelled=self.modelled + other.modelled,
            unknown_products=self.unknown_products + other.unknown_products,
            min_ts=_either(min, self.min_ts, other.min_ts),
            max_ts=_either(max, self.max_ts, other.max_ts),
        )


def _either(pick: Callable[[int, int], int], a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else pick(a, b)


class ParsedPart(NamedTuple):
    frame: pd.DataFrame  # codes.INTERACTION_DTYPES
    users: pd.DataFrame  # codes.USER_DTYPES, one row per user of the part
    stats: ParseStats
