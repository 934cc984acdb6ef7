"""IRC lines (RFC 1459 / 2812): parsing what the server sends, and cutting what the bot says
into lines the server accepts."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LINE_BYTES = 510  # a line's limit (512) without its CRLF
PAYLOAD_BYTES = 400  # what a PRIVMSG's text may take, leaving room for the prefix others see
_FORMATTING = re.compile(r"\x03(\d{1,2}(,\d{1,2})?)?|[\x02\x0f\x11\x16\x1d\x1e\x1f]")


@dataclass(frozen=True, kw_only=True)
class Line:
    prefix: str | None
    command: str
    params: tuple[str, ...]

    @property
    def nick(self) -> str | None:
        """The sender's nick, from a `nick!user@host` prefix."""
        if self.prefix is None:
            return None
        return self.prefix.split("!", 1)[0]


def parse(raw: str) -> Line | None:
    """One line from the server (without CRLF); None for an empty line."""
    line = raw.rstrip("\r\n")
    if line.startswith("@"):  # IRCv3 message tags: not asked for, skipped if sent
        _, _, line = line.partition(" ")
    prefix = None
    if line.startswith(":"):
        prefix, _, line = line[1:].partition(" ")
    line = line.lstrip(" ")
    if not line:
        return None
    trailing = None
    if " :" in line:
        line, trailing = line.split(" :", 1)
    elif line.startswith(":"):
        line, trailing = "", line[1:]
    words = [w for w in line.split(" ") if w]
    if not words:
        return None
    params = words[1:] + ([trailing] if trailing is not None else [])
    return Line(prefix=prefix, command=words[0].upper(), params=tuple(params))


def plain(text: str) -> str:
    """`text` without IRC colours and formatting codes."""
    return _FORMATTING.sub("", text)


def message_lines(text: str, *, limit: int = PAYLOAD_BYTES) -> list[str]:
    """`text` as PRIVMSG payloads: one per line of text (blank lines dropped), each cut at
    word boundaries to at most `limit` bytes of UTF-8, with no control characters."""
    lines: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = "".join(c for c in line if c == "\t" or c >= " ").replace("\t", " ")
        if line.strip():
            lines.extend(_cut(line.rstrip(), limit))
    return lines


def _cut(line: str, limit: int) -> list[str]:
    pieces: list[str] = []
    current = ""
    for word in re.findall(r"\S+\s*", line):
        if len((current + word).rstrip().encode()) <= limit:
            current += word
            continue
        if current.strip():
            pieces.append(current.rstrip())
        current = ""
        for character in word:  # a word longer than a line is cut between characters
            if len((current + character).encode()) > limit:
                pieces.append(current)
                current = ""
            current += character
    if current.strip():
        pieces.append(current.rstrip())
    return pieces
