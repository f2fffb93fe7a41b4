"""The serving benchmark's parts: processes, the echo server, the generation, load, report."""
