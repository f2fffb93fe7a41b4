"""`python -m profile_engine`: the same as the `profile-engine` console script."""

import sys

from profile_engine.cli import main

if __name__ == "__main__":
    sys.exit(main())
