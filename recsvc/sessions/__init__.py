"""Session memory: each shopper's most recent events, written by Track and read with the
profile by Recommend and SimilarItems."""

from recsvc.sessions.memory import Recent, SessionMemory, Shopper, decode_recent
from recsvc.sessions.writers import open_sessions

__all__ = ["Recent", "SessionMemory", "Shopper", "decode_recent", "open_sessions"]
