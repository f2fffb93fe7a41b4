"""bench/session_replay.py's parts: the datasets cut in time, training, the replay, the report."""
