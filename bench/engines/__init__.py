"""The engine benchmark's parts: the input shop, one module per engine, checks, memory runs."""
