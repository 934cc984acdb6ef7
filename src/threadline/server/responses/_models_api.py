"""`/v1/models`: the app's agents, as the Codex protocol's `model/list` lists them, in
OpenAI's Model shape. A response's `model` picks one of them."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from threadline import Threadline

from .._errors import APIError

OWNER = "threadline"


class ModelsAPI:
    """The routes of `/v1/models`. Agents have no creation time: `created` is when the
    server started."""

    def __init__(self, app: Threadline) -> None:
        self.app = app
        self.created = int(time.time())

    def routes(self) -> list[Route]:
        return [
            Route("/v1/models", self.list_models, methods=["GET"]),
            Route("/v1/models/{model_id:path}", self.retrieve, methods=["GET"]),
        ]

    async def list_models(self, request: Request) -> Response:
        return JSONResponse(
            {"object": "list", "data": [self._model(name) for name in self.app.agents]}
        )

    async def retrieve(self, request: Request) -> Response:
        model_id: str = request.path_params["model_id"]
        if model_id not in self.app.agents:
            shown = model_id if len(model_id) <= 80 else model_id[:80] + "..."
            raise APIError(
                404,
                f"The model '{shown}' does not exist or you do not have access to it.",
                code="model_not_found",
            )
        return JSONResponse(self._model(model_id))

    def _model(self, name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": self.created, "owned_by": OWNER}
