"""The Broadband Forum's USP (TR-369) protobuf schemas and the Python code generated from them.

``usp-record-1-4.proto`` and ``usp-msg-1-4.proto`` are unmodified copies of the BBF TR-369
Release 1.4.1 schemas (BSD-3-Clause-style licence in each file's header). The ``*_pb2.py`` and
``*_pb2.pyi`` files next to them are generated and committed; regenerate them after changing the
protobuf runtime's major version with::

    .venv/bin/python -m executors.usp.proto.regenerate

(which runs ``grpc_tools.protoc --python_out --pyi_out`` here). The generated code checks at import
time that the installed ``protobuf`` runtime is at least as new as the ``protoc`` that generated it.
"""

from __future__ import annotations

from executors.usp.proto import usp_msg_1_4_pb2 as msg_pb
from executors.usp.proto import usp_record_1_4_pb2 as record_pb

__all__ = ["msg_pb", "record_pb"]
