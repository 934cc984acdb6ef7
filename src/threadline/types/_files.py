"""A thread's files: what one is (`FileInfo`), which paths name one (`check_path`), which
globs find them (`check_glob`, `glob_pattern`), and the media type a name suggests.

The path rule, in one place (every entry point calls `check_path`):

- A path is relative to the thread's root, its components separated by `/`: `notes/todo.md`.
  The root itself is `""` (for `readdir_file`, `stat_file`); it has no other spelling.
- Paths are case-sensitive and compared exactly as given (no Unicode normalization).
- Refused, with `InvalidInputError`: a leading `/`; a backslash; `:` (drive letters, URL
  schemes, alternate streams); `%` followed by two hex digits (percent-encoding, so `%2e%2e`,
  `%2f`, `%5c` and the double-encoded `%252e` are all refused); `*` and `?` (glob syntax);
  control, format (bidi, zero-width) and line-separator characters, NUL included; a character
  whose NFKC compatibility form contains any of ``/\\.:%~*?`` (a fullwidth dot or slash, a
  one-dot leader...) or a control character; empty components (`a//b`, a trailing `/`); the
  components `.` and `..`, and any made of dots only (`...`); a component ending in `.` or a
  space or starting with a space (names some file systems silently alias); a first component
  starting with `~` (a home directory); a component over 255 UTF-8 bytes; a path over 4096.
- There are no links of any kind: a path names a stored file or the directory its files imply.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ._errors import InvalidInputError

FileKind = Literal[
    "file",  # stored content
    "directory",  # implied by the paths of the files under it
]

MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255
_SYNTAX = frozenset("/\\.:%~*?")  # what a compatibility form must not smuggle in
_PERCENT_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


@dataclass(frozen=True, kw_only=True, slots=True)
class FileInfo:
    """A file, or a directory implied by the files under it, of a thread's files.

    `size` is in bytes (for a directory, of every file under it); `file_id` names a file
    for attachments (`{"type": "file", "file_id": ...}`) and stays the same when it is
    rewritten, appended to or moved; directories have none. `media_type` is guessed from
    the name. For a directory, `created_at` and `updated_at` are those of its oldest and
    most recently changed file.
    """

    path: str
    kind: FileKind
    size: int
    file_id: str | None
    media_type: str | None
    created_at: float
    updated_at: float


def directory_info(path: str, files: Sequence[FileInfo], created_at: float = 0.0) -> FileInfo:
    """The directory `path` as the files under it make it (`created_at`: when it has none)."""
    return FileInfo(
        path=path,
        kind="directory",
        size=sum(f.size for f in files),
        file_id=None,
        media_type=None,
        created_at=min((f.created_at for f in files), default=created_at),
        updated_at=max((f.updated_at for f in files), default=created_at),
    )


def _shown(path: str) -> str:
    return repr(path[:80] + ("..." if len(path) > 80 else ""))


def _refuse(path: str, why: str) -> InvalidInputError:
    return InvalidInputError(
        f"invalid file path {_shown(path)}: {why}. Paths are relative to the thread's root, "
        "with components separated by '/', e.g. 'notes/todo.md'",
        path=path[:200],
    )


def check_path(path: object, *, root: bool = False) -> str:
    """`path` if it names a place inside a thread's root (see the module's rule); `root`: the
    root itself, `""`, is accepted too. Raises `InvalidInputError`."""
    return _check(path, root=root, wildcards=False)


def check_glob(pattern: object) -> str:
    """`pattern` if it is a glob over a thread's paths: a path (see the rule) whose components
    may use `*` (any characters but `/`) and `?` (one such character), or be `**` (any number
    of components, none included). Raises `InvalidInputError`."""
    checked = _check(pattern, root=False, wildcards=True)
    for name in checked.split("/"):
        if "**" in name and name != "**":
            raise _refuse(checked, "'**' must be a whole component, as in 'notes/**/*.md'")
    return checked


def _check(path: object, *, root: bool, wildcards: bool) -> str:
    if not isinstance(path, str):
        raise InvalidInputError(f"a file path must be a string, not {type(path).__name__}")
    if path == "":
        if root:
            return path
        raise _refuse(path, "it is empty")
    if not path.isascii():
        try:
            size = len(path.encode())
        except UnicodeEncodeError:
            raise _refuse(path, "it contains a lone surrogate") from None
    else:
        size = len(path)
    if size > MAX_PATH_BYTES:
        raise _refuse(path, f"it is longer than {MAX_PATH_BYTES} bytes")
    for character in path:
        _check_character(path, character, wildcards)
    if path.startswith("/"):
        raise _refuse(path, "it is absolute")
    if _PERCENT_ENCODED.search(path) is not None:
        raise _refuse(path, "it contains percent-encoding")
    names = path.split("/")
    if names[0].startswith("~"):
        raise _refuse(path, "it starts with '~', a home directory")
    for name in names:
        _check_name(path, name)
    return path


def _check_character(path: str, character: str, wildcards: bool) -> None:
    if character in "\\:" or (character in "*?" and not wildcards):
        raise _refuse(path, f"it contains {character!r}")
    if character.isascii():
        if not character.isprintable():
            raise _refuse(path, "it contains a control character")
        return
    if unicodedata.category(character) in _REFUSED_CATEGORIES:
        raise _refuse(
            path, f"it contains the invisible or control character U+{ord(character):04X}"
        )
    compatible = unicodedata.normalize("NFKC", character)
    if compatible != character and any(c in _SYNTAX or not c.isprintable() for c in compatible):
        raise _refuse(
            path, f"U+{ord(character):04X} stands for {compatible!r}, which paths may not use"
        )


def _check_name(path: str, name: str) -> None:
    if name == "":
        raise _refuse(path, "it has an empty component ('a//b', or a trailing '/')")
    if name.strip(".") == "":
        raise _refuse(path, f"{name!r} is not a file name")
    if name.endswith((".", " ")) or name.startswith(" "):
        raise _refuse(path, f"the name {name!r} starts with a space or ends with '.' or a space")
    if len(name.encode()) > MAX_NAME_BYTES:
        raise _refuse(path, f"a component is longer than {MAX_NAME_BYTES} bytes")


def glob_pattern(pattern: str) -> re.Pattern[str]:
    """The regular expression a checked glob (`check_glob`) matches whole paths with."""
    parts: list[str] = []
    names = pattern.split("/")
    for index, name in enumerate(names):
        last = index == len(names) - 1
        if name == "**":
            parts.append(".*" if last else "(?:[^/]+/)*")
            continue
        translated = "".join(
            "[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in name
        )
        parts.append(translated if last else translated + "/")
    return re.compile("".join(parts), re.DOTALL)


def parent_paths(path: str) -> list[str]:
    """The directories above `path`, nearest the root first: `a/b/c` -> `a`, `a/b`."""
    names = path.split("/")
    return ["/".join(names[:n]) for n in range(1, len(names))]


def under(directory: str) -> tuple[str, str]:
    """The bounds of the paths strictly inside `directory` (not the root): those with
    `low <= path < high`. Stores compare text bytewise, and `0` follows `/`."""
    return directory + "/", directory + "0"


_MEDIA_TYPES = {
    "txt": "text/plain",
    "text": "text/plain",
    "log": "text/plain",
    "ini": "text/plain",
    "cfg": "text/plain",
    "md": "text/markdown",
    "markdown": "text/markdown",
    "rst": "text/x-rst",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "html": "text/html",
    "htm": "text/html",
    "css": "text/css",
    "js": "text/javascript",
    "mjs": "text/javascript",
    "ts": "text/x-typescript",
    "tsx": "text/x-typescript",
    "jsx": "text/javascript",
    "py": "text/x-python",
    "rb": "text/x-ruby",
    "rs": "text/x-rust",
    "go": "text/x-go",
    "java": "text/x-java",
    "kt": "text/x-kotlin",
    "c": "text/x-c",
    "h": "text/x-c",
    "cc": "text/x-c++",
    "cpp": "text/x-c++",
    "hpp": "text/x-c++",
    "cs": "text/x-csharp",
    "swift": "text/x-swift",
    "php": "text/x-php",
    "sh": "text/x-shellscript",
    "bash": "text/x-shellscript",
    "sql": "application/sql",
    "json": "application/json",
    "jsonl": "application/jsonl",
    "ndjson": "application/jsonl",
    "yaml": "application/yaml",
    "yml": "application/yaml",
    "toml": "application/toml",
    "xml": "application/xml",
    "pdf": "application/pdf",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "svg": "image/svg+xml",
    "bmp": "image/bmp",
    "ico": "image/vnd.microsoft.icon",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "mp4": "video/mp4",
    "webm": "video/webm",
    "zip": "application/zip",
    "gz": "application/gzip",
    "tar": "application/x-tar",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
UNKNOWN_MEDIA_TYPE = "application/octet-stream"


def media_type_of(path: str) -> str:
    """The media type a file's name suggests (by its extension, whatever its case), the same
    on every machine; `application/octet-stream` when the name says nothing."""
    name = path.rsplit("/", 1)[-1]
    _, dot, extension = name.rpartition(".")
    if not dot:
        return UNKNOWN_MEDIA_TYPE
    return _MEDIA_TYPES.get(extension.lower(), UNKNOWN_MEDIA_TYPE)
