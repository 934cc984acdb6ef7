"""The OpenAPI 3.1 document of the routes, served at `/openapi.json`. Shapes follow OpenAI's
published ones, loosely where threadline accepts more."""

from __future__ import annotations

from typing import Any

from threadline import __version__

_REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": _REF + name}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    str(code): _json(_ref("Error"), text)
    for code, text in (
        (400, "Invalid request"),
        (401, "Missing or wrong API key"),
        (404, "Not found"),
        (409, "Conflict: a turn is in progress"),
        (413, "Request body too large"),
    )
}

_TEXT = {"type": "string"}
_NULLABLE_TEXT = {"type": ["string", "null"]}
_METADATA = {
    "type": ["object", "null"],
    "maxProperties": 16,
    "additionalProperties": {"type": "string", "maxLength": 512},
}


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": _TEXT}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


_LIST_PARAMS = [
    _query("after", _TEXT),
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 100}),
    _query("order", {"type": "string", "enum": ["asc", "desc"]}),
    _query("include", {"type": "array", "items": _TEXT}),
]


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _operation(
    operation_id: str,
    summary: str,
    responses: dict[str, Any],
    *,
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "responses": {**responses, **_ERRORS},
    }
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = body
    return operation


def _schemas() -> dict[str, Any]:
    item = {
        "type": "object",
        "properties": {"type": _TEXT, "id": _TEXT},
        "additionalProperties": True,
    }
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["message", "type"],
                    "properties": {
                        "message": _TEXT,
                        "type": _TEXT,
                        "param": _NULLABLE_TEXT,
                        "code": _NULLABLE_TEXT,
                    },
                }
            },
        },
        "Item": item,
        "ItemList": {
            "type": "object",
            "required": ["object", "data", "has_more"],
            "properties": {
                "object": {"const": "list"},
                "data": {"type": "array", "items": _ref("Item")},
                "first_id": _NULLABLE_TEXT,
                "last_id": _NULLABLE_TEXT,
                "has_more": {"type": "boolean"},
            },
        },
        "Response": {
            "type": "object",
            "required": ["id", "object", "created_at", "status", "model", "output"],
            "properties": {
                "id": _TEXT,
                "object": {"const": "response"},
                "created_at": {"type": "integer"},
                "status": {
                    "type": "string",
                    "enum": [
                        "completed",
                        "failed",
                        "in_progress",
                        "cancelled",
                        "queued",
                        "incomplete",
                    ],
                },
                "model": _TEXT,
                "output": {"type": "array", "items": _ref("Item")},
                "error": {"type": ["object", "null"]},
                "usage": {"type": ["object", "null"]},
            },
            "additionalProperties": True,
        },
        "FunctionTool": {
            "type": "object",
            "required": ["type", "name"],
            "properties": {
                "type": {"const": "function"},
                "name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                "description": _NULLABLE_TEXT,
                "parameters": {"type": ["object", "null"]},
                "strict": {"type": ["boolean", "null"]},
            },
        },
        "CreateResponse": {
            "type": "object",
            "required": ["input"],
            "properties": {
                "model": _TEXT,
                "input": {"oneOf": [_TEXT, {"type": "array", "items": _ref("Item")}]},
                "instructions": _NULLABLE_TEXT,
                "conversation": {
                    "oneOf": [
                        _TEXT,
                        {"type": "object", "required": ["id"], "properties": {"id": _TEXT}},
                        {"type": "null"},
                    ]
                },
                "previous_response_id": _NULLABLE_TEXT,
                "stream": {"type": ["boolean", "null"]},
                "background": {"type": ["boolean", "null"]},
                "store": {"type": ["boolean", "null"]},
                "tools": {"type": "array", "items": _ref("FunctionTool")},
                "text": {"type": "object", "properties": {"format": {"type": "object"}}},
                "metadata": _METADATA,
                "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2},
                "top_p": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                "max_output_tokens": {"type": ["integer", "null"], "minimum": 16},
            },
        },
        "Model": {
            "type": "object",
            "required": ["id", "object", "created", "owned_by"],
            "properties": {
                "id": _TEXT,
                "object": {"const": "model"},
                "created": {"type": "integer"},
                "owned_by": _TEXT,
            },
        },
        "ModelList": {
            "type": "object",
            "required": ["object", "data"],
            "properties": {
                "object": {"const": "list"},
                "data": {"type": "array", "items": _ref("Model")},
            },
        },
        "Conversation": {
            "type": "object",
            "required": ["id", "object", "created_at", "metadata"],
            "properties": {
                "id": _TEXT,
                "object": {"const": "conversation"},
                "created_at": {"type": "integer"},
                "metadata": {"type": "object"},
                "status": {"enum": ["idle", "active", "awaiting_input", "archived", "terminated"]},
                "context": {
                    "type": "object",
                    "description": "threadline extension: the thread's key and persistent state",
                    "properties": {
                        "id": _TEXT,
                        "key": {"type": ["string", "null"]},
                        "status": _TEXT,
                        "content": {"type": ["object", "null"]},
                    },
                },
            },
        },
        "Deleted": {
            "type": "object",
            "required": ["id", "object", "deleted"],
            "properties": {"id": _TEXT, "object": _TEXT, "deleted": {"type": "boolean"}},
        },
        "CreateConversation": {
            "type": "object",
            "properties": {
                "items": {"type": ["array", "null"], "maxItems": 20, "items": _ref("Item")},
                "metadata": _METADATA,
            },
        },
        "UpdateConversation": {
            "type": "object",
            "required": ["metadata"],
            "properties": {"metadata": _METADATA},
        },
        "CompactResponse": {
            "type": "object",
            "required": ["model"],
            "properties": {
                "model": _TEXT,
                "input": {"type": ["string", "array", "null"], "items": _ref("Item")},
                "previous_response_id": _NULLABLE_TEXT,
                "instructions": _NULLABLE_TEXT,
                "prompt_cache_key": _NULLABLE_TEXT,
            },
        },
        "Compaction": {
            "type": "object",
            "required": ["id", "object", "output", "created_at", "usage"],
            "properties": {
                "id": _TEXT,
                "object": {"const": "response.compaction"},
                "output": {"type": "array", "items": _ref("Item")},
                "created_at": {"type": "integer"},
                "usage": {"type": "object"},
            },
        },
        "CreateItems": {
            "type": "object",
            "required": ["items"],
            "properties": {"items": {"type": "array", "maxItems": 20, "items": _ref("Item")}},
        },
    }


def openapi_schema() -> dict[str, Any]:
    """The OpenAPI document of the `/v1` routes."""
    response = _json(_ref("Response"))
    streamed = {
        "description": "The response, or its events with `stream=true`",
        "content": {
            "application/json": {"schema": _ref("Response")},
            "text/event-stream": {"schema": _TEXT},
        },
    }
    response_id = _path_param("response_id")
    conversation_id = _path_param("conversation_id")
    item_id = _path_param("item_id")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "threadline",
            "version": __version__,
            "description": "OpenAI Responses and Conversations API over durable "
            "threadline threads.",
        },
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/responses": {
                "post": _operation(
                    "createResponse",
                    "Create a response (start or continue a turn); a WebSocket to this path "
                    "takes response.create messages and sends the same events",
                    {"200": streamed},
                    body=_body(_ref("CreateResponse")),
                    parameters=[
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "maxLength": 200},
                        }
                    ],
                )
            },
            "/v1/responses/compact": {
                "post": _operation(
                    "compactResponse",
                    "Compact a conversation into its user messages and a compaction item",
                    {"200": _json(_ref("Compaction"))},
                    body=_body(_ref("CompactResponse")),
                )
            },
            "/v1/responses/{response_id}": {
                "get": _operation(
                    "getResponse",
                    "Retrieve a response, or replay its events",
                    {"200": streamed},
                    parameters=[
                        response_id,
                        _query("stream", {"type": "boolean"}),
                        _query("starting_after", {"type": "integer", "minimum": -1}),
                        _query("include", {"type": "array", "items": _TEXT}),
                    ],
                ),
                "delete": _operation(
                    "deleteResponse",
                    "Delete a response",
                    {"200": _json(_ref("Deleted"))},
                    parameters=[response_id],
                ),
            },
            "/v1/responses/{response_id}/cancel": {
                "post": _operation(
                    "cancelResponse",
                    "Cancel a response in progress",
                    {"200": response},
                    parameters=[response_id],
                )
            },
            "/v1/responses/{response_id}/input_items": {
                "get": _operation(
                    "listInputItems",
                    "The input items of a response",
                    {"200": _json(_ref("ItemList"))},
                    parameters=[response_id, *_LIST_PARAMS],
                )
            },
            "/v1/models": {
                "get": _operation(
                    "listModels", "List the agents, as models", {"200": _json(_ref("ModelList"))}
                )
            },
            "/v1/models/{model}": {
                "get": _operation(
                    "retrieveModel",
                    "Retrieve an agent, as a model",
                    {"200": _json(_ref("Model"))},
                    parameters=[_path_param("model")],
                )
            },
            "/v1/conversations": {
                "post": _operation(
                    "createConversation",
                    "Create a conversation (a thread)",
                    {"200": _json(_ref("Conversation"))},
                    body=_body(_ref("CreateConversation")),
                )
            },
            "/v1/conversations/{conversation_id}": {
                "get": _operation(
                    "getConversation",
                    "Retrieve a conversation",
                    {"200": _json(_ref("Conversation"))},
                    parameters=[conversation_id],
                ),
                "post": _operation(
                    "updateConversation",
                    "Update a conversation's metadata",
                    {"200": _json(_ref("Conversation"))},
                    parameters=[conversation_id],
                    body=_body(_ref("UpdateConversation")),
                ),
                "delete": _operation(
                    "deleteConversation",
                    "Delete a conversation",
                    {"200": _json(_ref("Deleted"))},
                    parameters=[conversation_id],
                ),
            },
            "/v1/conversations/{conversation_id}/items": {
                "get": _operation(
                    "listConversationItems",
                    "List a conversation's items",
                    {"200": _json(_ref("ItemList"))},
                    parameters=[conversation_id, *_LIST_PARAMS],
                ),
                "post": _operation(
                    "createConversationItems",
                    "Add items to a conversation",
                    {"200": _json(_ref("ItemList"))},
                    parameters=[
                        conversation_id,
                        _query("include", {"type": "array", "items": _TEXT}),
                    ],
                    body=_body(_ref("CreateItems")),
                ),
            },
            "/v1/conversations/{conversation_id}/items/{item_id}": {
                "get": _operation(
                    "getConversationItem",
                    "Retrieve a conversation item",
                    {"200": _json(_ref("Item"))},
                    parameters=[conversation_id, item_id],
                ),
                "delete": _operation(
                    "deleteConversationItem",
                    "Delete a conversation item",
                    {"200": _json(_ref("Conversation"))},
                    parameters=[conversation_id, item_id],
                ),
            },
        },
    }
