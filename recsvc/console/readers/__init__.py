"""What the console reads and writes: the served generation and its summaries
(generation.py), the export history and the lookup audit log (records.py), the service's
metrics (metrics.py, scrape.py) and its recommendations (recommendations.py)."""
