"""bench/realtime.py's parts: shop-like Track traffic, load drivers, probes."""
