"""``python -m recsvc``: the same as the ``recsvc`` command."""

from recsvc.cli import main

raise SystemExit(main())
