"""The serving benchmarks' parts: processes, the echo server, the generation, load, report,
and the stack the real-time benchmarks share (moto, Redis under a run prefix, recsvc)."""
