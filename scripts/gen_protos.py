"""Generate the Python code (and .pyi stubs) from protos/: the gRPC API into recsvc/api/v1/,
the stored generation's payload messages into generation/v1/.

Run by `make` and by the package build (setup.py); the output is git-ignored.
"""

from __future__ import annotations

import re
import sys
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
_SERVICE = re.compile(r"^\s*service\s+\w+", re.MULTILINE)


def generate(out_dir: Path = ROOT) -> list[Path]:
    from grpc_tools import protoc

    protos = sorted(PROTO_ROOT.rglob("*.proto"))
    if not protos:
        raise SystemExit(f"no .proto files under {PROTO_ROOT}")
    # Only files that define a service get *_pb2_grpc.py: the payload messages must not
    # pull grpc into the contract package that the batch job imports.
    with_services = [p for p in protos if _SERVICE.search(p.read_text())]
    messages_only = [p for p in protos if p not in with_services]
    well_known = resources.files("grpc_tools") / "_proto"
    common = [f"-I{PROTO_ROOT}", f"-I{well_known}", f"--python_out={out_dir}",
              f"--pyi_out={out_dir}"]
    for group, extra in ((with_services, [f"--grpc_python_out={out_dir}"]), (messages_only, [])):
        if group and protoc.main(
            ["grpc_tools.protoc", *common, *extra, *(str(p.relative_to(PROTO_ROOT)) for p in group)]
        ) != 0:
            raise SystemExit("protoc failed")
    # Package markers where protoc made new directories (recsvc/api/v1, generation/v1), so
    # the modules import as recsvc.api.v1.* and generation.v1.*; committed ones are kept.
    for rel in {p.parent.relative_to(PROTO_ROOT) for p in protos}:
        pkg = out_dir / rel
        while pkg != out_dir:
            marker = pkg / "__init__.py"
            if not marker.exists():
                marker.touch()
            pkg = pkg.parent
    return protos


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT
    for p in generate(out):
        print(f"generated {p.relative_to(ROOT)}")
