"""The OpenAI Responses and Conversations HTTP API over threadline threads."""

from ._access import Access
from ._conversations_api import ConversationsAPI
from ._openapi import openapi_schema
from ._responses_api import ResponsesAPI
from ._runs import Drivers

__all__ = ["Access", "ConversationsAPI", "Drivers", "ResponsesAPI", "openapi_schema"]
