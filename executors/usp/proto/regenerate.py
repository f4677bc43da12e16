"""Regenerate ``usp_*_pb2.py`` / ``.pyi`` from the BBF ``.proto`` files in this directory.

Run ``.venv/bin/python -m executors.usp.proto.regenerate`` (needs the ``grpcio-tools`` dev
dependency). Why committed code rather than a build step: the product then imports without a
compiler, and a reviewer sees in the diff exactly what changed when the schemas or protoc change.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTOS = ("usp-record-1-4.proto", "usp-msg-1-4.proto")


def main() -> int:
    try:
        from grpc_tools import protoc
    except ImportError:
        print("grpcio-tools is not installed: pip install 'grpcio-tools>=1.62'", file=sys.stderr)
        return 2
    args = ["protoc", f"-I{HERE}", f"--python_out={HERE}", f"--pyi_out={HERE}", *(str(HERE / p) for p in PROTOS)]
    rc = int(protoc.main(args))
    if rc == 0:
        print(f"regenerated {', '.join(p.replace('-', '_').replace('.proto', '_pb2.py') for p in PROTOS)} in {HERE}")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
