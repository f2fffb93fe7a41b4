"""`make serve`'s console: `recsvc console` over the demo's table, its service and the
service's metrics, with one sign-in token per role printed for a person to use."""

from __future__ import annotations

import secrets
from contextlib import ExitStack

from loopback.console import start_console

__all__ = ["ROLES", "start_demo_console"]

ROLES = ("admin", "marketer", "viewer")
NAMES = {"admin": "admin", "marketer": "marketing", "viewer": "viewer"}


def start_demo_console(
    stack: ExitStack, *, endpoint: str, table: str, bucket: str, target: str, metrics_url: str,
) -> tuple[str, dict[str, str]]:
    """(the console's URL, token by role); stopped when ``stack`` closes."""
    tokens = {role: secrets.token_urlsafe(18) for role in ROLES}
    proc, url = start_console({
        "RECSVC_CONSOLE_TABLE": table,
        "RECSVC_CONSOLE_DYNAMODB_ENDPOINT_URL": endpoint,
        "RECSVC_CONSOLE_S3_ENDPOINT_URL": endpoint,
        "RECSVC_CONSOLE_EXPORT_URI": f"s3://{bucket}/segments",
        "RECSVC_CONSOLE_RECSVC_TARGET": target,
        "RECSVC_CONSOLE_METRICS_URLS": metrics_url,
        "RECSVC_CONSOLE_TOKENS": ",".join(f"{NAMES[r]}:{r}:{t}" for r, t in tokens.items()),
        "RECSVC_CONSOLE_LOG_LEVEL": "WARNING",
    })
    stack.callback(proc.stop)
    return url, tokens


def print_console(url: str, tokens: dict[str, str]) -> None:
    print(f"  console: {url}  (sign in with a token; each role sees more)")
    for role in ROLES:
        print(f"    {role:<9} {tokens[role]}")
