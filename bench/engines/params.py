"""The aggregation parameters every engine runs with, and the size of the checked sample."""

HISTORY = 50  # each user's last products that count co-occurrences
NEIGHBOURS = 20  # neighbours kept per item
POPULAR_SIZE = 100  # items per popular list
SAMPLE = 20  # popular items, items' neighbour lists and users compared with the Dask job's
