"""Pure pandas/numpy steps of the profile job: one partition in, one frame out, no cluster."""
