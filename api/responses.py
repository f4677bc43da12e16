"""A JSON response rendered with orjson, for read models already built as plain data.

Why: FastAPI validates and re-serialises a returned model against ``response_model``; for the
hottest reads (the proposal queue) the data is built from columns and masked already, so it is
sent as is. ``response_model`` stays on the route for the OpenAPI description.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class FastJSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=str)
