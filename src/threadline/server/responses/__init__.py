"""The OpenAI Responses and Conversations HTTP API over threadline threads."""

from ._access import Access
from ._compact import CompactAPI
from ._conversations_api import ConversationsAPI
from ._models_api import ModelsAPI
from ._openapi import openapi_schema
from ._responses_api import ResponsesAPI
from ._runs import Drivers
from ._websocket import ResponsesSocket

__all__ = [
    "Access",
    "CompactAPI",
    "ConversationsAPI",
    "Drivers",
    "ModelsAPI",
    "ResponsesAPI",
    "ResponsesSocket",
    "openapi_schema",
]
