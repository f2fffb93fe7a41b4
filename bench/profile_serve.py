"""Where a Recommend call's microseconds go: recsvc under py-spy while clients drive it.

Starts moto and recsvc (Redis at 127.0.0.1:6379 under a per-run prefix), publishes the
bench's generation, runs `py-spy record` on the server while client processes send a
mix of bench/serve.py (serving/mixes.py: Zipf users, 15% unknown, viewed products, carts,
category filters, k 4..12; or home pages) on its shop-like generation, and
prints the server's sampled CPU by the frames it spends it in: own time of the hottest
functions and the inclusive time of the stages of a call.

    .venv/bin/python bench/profile_serve.py [--seconds 20] [--layers on|off]
        [--mix shop_like|home_page] [--users 20000]

Needs py-spy (`.venv/bin/pip install py-spy`); run as a user allowed to ptrace its own
children (the default).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from serving.generation import publish_generation  # noqa: E402
from serving.load import drive, prewarm  # noqa: E402
from serving.mixes import pool  # noqa: E402
from serving.payloads import RECOMMEND  # noqa: E402
from serving.processes import recsvc_server, started  # noqa: E402
from serving.shop import ShopSpec, shop_data  # noqa: E402
from serving.stack import (  # noqa: E402
    drop_prefix,
    recsvc_env,
    run_prefix,
    start_moto,
    use_this_checkout,
)

from loopback.ports import free_port  # noqa: E402

# Inclusive time of these frames (function names as py-spy prints them).
STAGES = ("run", "answer", "recommend", "_personal", "get_with", "_cache_read", "get_many",
          "_finish", "rerank", "finalize", "decode_profile", "decode_facts",
          "decode_neighbours", "recommend_response", "recommend_query", "session_state")


def collapse(raw: Path) -> tuple[Counter[str], Counter[str], int]:
    """(own samples per function, inclusive samples per stage, all samples)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1].split(" (")[0]] += n
        names = {f.split(" (")[0].rsplit(".", 1)[-1] for f in frames}
        for stage in STAGES:
            if stage in names:
                inclusive[stage] += n
    return own, inclusive, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--layers", choices=("on", "off"), default="on")
    parser.add_argument("--mix", choices=("shop_like", "home_page"), default="shop_like")
    parser.add_argument("--users", type=int, default=20_000,
                        help="users of the shop-like generation (bench/serving/shop.py)")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    use_this_checkout()
    prefix = run_prefix("profile")
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        endpoint = start_moto(stack)
        spec = ShopSpec(args.users)
        publish_generation(endpoint, "bench", shop_data(spec))
        extra = {} if args.layers == "on" else {"RECSVC_L1_ENTRIES": "0",
                                                "RECSVC_L1_ANSWERS": "0"}
        metrics_port = free_port()
        env = recsvc_env(endpoint, "bench", prefix, RECSVC_METRICS_PORT=str(metrics_port),
                         **extra)
        raw = Path(tmp) / "raw.txt"
        stack.callback(drop_prefix, prefix)
        proc = stack.enter_context(started(recsvc_server("recsvc", env, None)))
        target = proc.wait_for(r"recsvc listening on (\S+)").group(1)
        payloads = pool(args.mix, spec)
        prewarm(target, RECOMMEND, payloads)
        load = argparse.Namespace(concurrency=8, clients=2, warmup=0.5, loop="uvloop")
        # Sampling starts with the load's measured part and ends before it does.
        spy_run = subprocess.Popen(
            [spy, "record", "-r", "200", "-f", "raw", "-o", str(raw), "--pid",
             str(proc.popen.pid), "-d", str(int(args.seconds - 1)), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        result = drive(target, RECOMMEND, payloads, args.seconds, load, None)
        print(f"{len(result['latencies']) / args.seconds:.0f} calls/s, "
              f"errors {dict(result['codes'])}, sources {dict(result['sources'])}")
        _, err = spy_run.communicate(timeout=60)
        scraped = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics").read()
        events = [line for line in scraped.decode().splitlines()
                  if line.startswith(("recsvc_cache_events", "recsvc_recommend_events"))]
        print("\n".join(events))
        if not raw.exists():
            raise SystemExit(f"py-spy wrote no profile: {err.decode()[-500:]}")
        own, inclusive, total = collapse(raw)
    print(f"\n{total} samples; own time, hottest first:")
    for name, n in own.most_common(args.top):
        print(f"  {n / total:6.1%}  {name}")
    print("\ninclusive time of a call's stages:")
    for name in STAGES:
        print(f"  {inclusive[name] / total:6.1%}  {name}")


if __name__ == "__main__":
    main()
