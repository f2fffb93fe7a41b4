"""Build hook: generate the gRPC code from protos/ before packaging (never committed)."""

import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

sys.path.insert(0, str(Path(__file__).parent / "scripts"))


class BuildWithProtos(build_py):
    def run(self) -> None:
        import gen_protos

        gen_protos.generate()
        super().run()


setup(cmdclass={"build_py": BuildWithProtos})
