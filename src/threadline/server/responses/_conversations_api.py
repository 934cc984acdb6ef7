"""`/v1/conversations`: a conversation is a thread (its id is the thread id), its items are
the thread's stored items in their Responses shapes."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from threadline import Thread
from threadline.types import Payload, ThreadlineError, ToolCall

from .._body import read_json
from .._errors import from_threadline, invalid, not_found
from ._access import Access
from ._append import append, parse_items, remove
from ._item_pages import ItemPages
from ._lists import PageQuery, listing
from ._params import parse_metadata
from ._responses_api import CONVERSATION_KEY
from ._runs import delete_thread
from ._uploads import Upload, store_uploads, take_uploads, with_uploads

_PRIVATE_PREFIX = "threadline."


class ConversationsAPI:
    """The routes of `/v1/conversations`."""

    def __init__(self, access: Access) -> None:
        self.access = access

    def routes(self) -> list[Route]:
        base = "/v1/conversations/{conversation_id}"
        return [
            Route("/v1/conversations", self.create, methods=["POST"]),
            Route(base, self.retrieve, methods=["GET"]),
            Route(base, self.update, methods=["POST"]),
            Route(base, self.delete, methods=["DELETE"]),
            Route(base + "/items", self.list_items, methods=["GET"]),
            Route(base + "/items", self.create_items, methods=["POST"]),
            Route(base + "/items/{item_id}", self.retrieve_item, methods=["GET"]),
            Route(base + "/items/{item_id}", self.delete_item, methods=["DELETE"]),
        ]

    async def _body(self, request: Request) -> dict[str, Any]:
        config = self.access.config
        return await read_json(
            request, max_bytes=config.max_body_bytes, max_depth=config.max_json_depth
        )

    async def _thread(self, request: Request) -> Thread:
        return await self.access.thread(request, request.path_params["conversation_id"])

    async def create(self, request: Request) -> Response:
        body = await self._body(request)
        metadata = parse_metadata(body.get("metadata"))
        items, uploads = take_uploads(body.get("items"), "items")
        payloads = [] if items is None else parse_items(items, {})
        thread = await self.access.app.threads.start(
            user_id=self.access.identity(request), metadata={**metadata, CONVERSATION_KEY: True}
        )
        if payloads:
            try:
                await append(thread, await _with_files(thread, payloads, uploads))
            except BaseException:
                await thread.delete()
                raise
        return JSONResponse(conversation(thread))

    async def retrieve(self, request: Request) -> Response:
        return JSONResponse(conversation(await self._thread(request)))

    async def update(self, request: Request) -> Response:
        thread = await self._thread(request)
        body = await self._body(request)
        if "metadata" not in body:
            raise invalid(
                "Missing required parameter: 'metadata'.",
                param="metadata",
                code="missing_required_parameter",
            )
        metadata = parse_metadata(body["metadata"])
        private = {k: v for k, v in thread.record.metadata.items() if k.startswith(_PRIVATE_PREFIX)}
        try:
            await thread.set_metadata({**metadata, **private})
        except ThreadlineError as exc:
            raise from_threadline(exc) from None
        return JSONResponse(conversation(thread))

    async def delete(self, request: Request) -> Response:
        thread = await self._thread(request)
        try:
            await delete_thread(thread)
        except ThreadlineError as exc:
            raise from_threadline(exc) from None
        return JSONResponse({"id": thread.id, "object": "conversation.deleted", "deleted": True})

    async def list_items(self, request: Request) -> Response:
        thread = await self._thread(request)
        query = PageQuery.parse(request.query_params)
        return JSONResponse(
            await ItemPages(self.access.app.store, thread.id, self.access.profile).page(query)
        )

    async def create_items(self, request: Request) -> Response:
        thread = await self._thread(request)
        body = await self._body(request)
        if "items" not in body:
            raise invalid(
                "Missing required parameter: 'items'.",
                param="items",
                code="missing_required_parameter",
            )
        known = {
            i.payload.tool_call_id: i.payload.name
            for i in await thread.items()
            if isinstance(i.payload, ToolCall)
        }
        items, uploads = take_uploads(body["items"], "items")
        payloads = parse_items(items, known)
        try:
            payloads = await _with_files(thread, payloads, uploads)
            stored = await append(thread, payloads) if payloads else []
        except ThreadlineError as exc:
            raise from_threadline(exc, param="items") from None
        mapper = await self.access.mapper(thread)
        added = {i.item_id for i in stored}
        data = [w for w in mapper.listing() if w["id"] in added]
        return JSONResponse(listing(data))

    async def retrieve_item(self, request: Request) -> Response:
        thread = await self._thread(request)
        item_id = request.path_params["item_id"]
        wire = await ItemPages(self.access.app.store, thread.id, self.access.profile).find(item_id)
        if wire is None:
            raise not_found("Item", item_id)
        return JSONResponse(wire)

    async def delete_item(self, request: Request) -> Response:
        thread = await self._thread(request)
        item_id = request.path_params["item_id"]
        if (
            await ItemPages(self.access.app.store, thread.id, self.access.profile).find(item_id)
            is None
        ):
            raise not_found("Item", item_id)
        try:
            await remove(thread, item_id)
        except ThreadlineError as exc:
            raise from_threadline(exc) from None
        return JSONResponse(conversation(await thread_fresh(thread)))


async def thread_fresh(thread: Thread) -> Thread:
    await thread.reload()
    return thread


def conversation(thread: Thread) -> dict[str, Any]:
    """The Conversation object of a thread (its private metadata left out), with the
    thread's `status` and, as an extension field standard clients ignore, its `context`:
    the thread's key and its persistent state (a thread definition's context)."""
    record = thread.record
    metadata = {k: v for k, v in record.metadata.items() if not k.startswith(_PRIVATE_PREFIX)}
    return {
        "id": thread.id,
        "object": "conversation",
        "created_at": int(record.created_at),
        "metadata": metadata,
        "status": record.status,
        "context": {
            "id": thread.id,
            "key": record.key,
            "status": record.status,
            "content": record.state,
        },
    }


async def _with_files(
    thread: Thread, payloads: list[Payload], uploads: list[Upload]
) -> list[Payload]:
    """`payloads` naming the files their inline `input_file` parts are stored as."""
    if not uploads:
        return payloads
    try:
        return with_uploads(payloads, await store_uploads(thread, uploads))
    except ThreadlineError as exc:
        raise from_threadline(exc, param="items") from None
