"""Generate the Python gRPC code (and .pyi stubs) from protos/ into recsvc/api/v1/.

Run by `make` and by the package build (setup.py); the output is git-ignored.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"


def generate(out_dir: Path = ROOT) -> list[Path]:
    from grpc_tools import protoc

    protos = sorted(PROTO_ROOT.rglob("*.proto"))
    if not protos:
        raise SystemExit(f"no .proto files under {PROTO_ROOT}")
    well_known = resources.files("grpc_tools") / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--pyi_out={out_dir}",
        *(str(p.relative_to(PROTO_ROOT)) for p in protos),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    # Package markers so the generated modules import as recsvc.api.v1.*.
    for rel in {p.parent.relative_to(PROTO_ROOT) for p in protos}:
        pkg = out_dir / rel
        while pkg != out_dir and pkg.name != "recsvc":
            (pkg / "__init__.py").touch()
            pkg = pkg.parent
    return protos


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT
    for p in generate(out):
        print(f"generated {p.relative_to(ROOT)}")
