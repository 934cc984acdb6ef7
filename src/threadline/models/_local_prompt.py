"""The ChatML function-calling prompt of llama-cpp-python's `chatml-function-calling` handler.

The handler itself cannot stream a tool call it chose on its own (it raises), and when tools
are offered it constrains a text answer with a grammar that only allows a function name, so
every text answer comes back empty. The local backend therefore renders the same prompt here
and drives the two phases (choose, then write) itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ._chat_format import ChatMessage
from ._protocol import ToolSpec

END = "<|im_end|>"
MESSAGE_PREFIX = "message:"
FUNCTION_PREFIX = "functions."
DEFAULT_SYSTEM = "You are a helpful assistant."

# Verbatim from llama-cpp-python's handler: the bundled model was exercised against this text.
_TOOLS_HEADER = "\n\nYou have access to the following functions:\n"
_TOOLS_FOOTER = (
    "\n\nYou can respond to users messages with either a single message or one or more function"
    " calls."
    "\n\nTo respond with a message begin the message with 'message:', use the following format:"
    "\n\nmessage:"
    "\n<message>"
    "\n\nTo respond with one or more function calls begin the message with"
    " 'functions.<function_name>:', use the following format:"
    "\n\nfunctions.<function_name>:"
    '\n{ "arg1": "value1", "arg2": "value2" }'
    "\nfunctions.<function_name>:"
    '\n{ "arg1": "value1", "arg2": "value2" }'
)


def render_prompt(messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]) -> str:
    """The whole prompt, ending where the assistant's next message starts."""
    if tools and (not messages or messages[0]["role"] != "system"):
        messages = [{"role": "system", "content": DEFAULT_SYSTEM}, *messages]
    blocks: list[str] = []
    for index, message in enumerate(messages):
        role: str = message["role"]
        if role == "system":
            body = _text(message.get("content"))
            if tools and index == 0:
                body += _tools_block(tools)
        elif role == "assistant":
            body = _assistant_body(message, with_prefix=bool(tools))
        else:
            body = _text(message.get("content"))
        blocks.append(f"<|im_start|>{role}\n{body}{END}\n")
    blocks.append("<|im_start|>assistant\n")
    return "".join(blocks)


def choice_grammar(tools: Sequence[ToolSpec]) -> str:
    """GBNF that lets the model say only `message:` or `functions.<name>:`."""
    names = " | ".join(json.dumps(f"{FUNCTION_PREFIX}{tool.name}:") for tool in tools)
    return f'root ::= functions | "{MESSAGE_PREFIX}"\nfunctions ::= {names}\n'


def _tools_block(tools: Sequence[ToolSpec]) -> str:
    listing = "".join(
        f"\n{FUNCTION_PREFIX}{tool.name}:\n{json.dumps(tool.parameters)}\n" for tool in tools
    )
    return _TOOLS_HEADER + listing + _TOOLS_FOOTER


def _assistant_body(message: ChatMessage, *, with_prefix: bool) -> str:
    lines: list[str] = []
    text = _text(message.get("content"))
    if text:
        lines.append(f"{MESSAGE_PREFIX}\n{text}" if with_prefix else text)
    calls: list[dict[str, Any]] = message.get("tool_calls") or []
    for call in calls:
        function = call["function"]
        lines.append(f"{FUNCTION_PREFIX}{function['name']}:\n{function['arguments']}")
    return "\n".join(lines)


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    # A text-only model cannot see images or documents; a marker tells it one was there.
    return "\n".join(_part_text(part) for part in content)


def _part_text(part: dict[str, Any]) -> str:
    kind = part.get("type")
    if kind == "text":
        return str(part["text"])
    if kind == "file":
        name = part.get("file", {}).get("filename", "a file")
        return f"[attached file: {name}; this model cannot read files of this kind]"
    return "[image]"
