"""Build hook: generate the gRPC code from protos/ before setuptools discovers packages.

The generated recsvc/api/v1/ is build output (git-ignored, never edited); generating it
here, before setup() runs package discovery, makes wheels and editable installs carry it.
"""

import sys
from pathlib import Path

from setuptools import setup

sys.path.insert(0, str(Path(__file__).parent / "scripts"))
import gen_protos  # noqa: E402

gen_protos.generate()
setup()
