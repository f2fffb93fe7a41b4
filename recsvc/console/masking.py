"""Masked e-mail addresses: what a console page may show of one (never the whole)."""

from __future__ import annotations

__all__ = ["mask_email"]


def mask_email(address: str) -> str:
    """``jane.doe@example.com`` -> ``j***@e***.com``: the first letter of the local part
    and of the domain, and the top-level domain; "" stays "" and anything without an @
    is masked whole."""
    address = address.strip()
    if not address:
        return ""
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return "***"
    host, dot, tld = domain.rpartition(".")
    if not dot or not host:
        return f"{local[0]}***@{domain[0]}***"
    return f"{local[0]}***@{host[0]}***.{tld}"
