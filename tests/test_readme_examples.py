"""Every README example marked `<!-- example: NAME -->` runs, as a whole script, and exits 0."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
_EXAMPLE = re.compile(r"<!-- example: ([\w-]+) -->\s*\n```python\n(.*?)\n```", re.DOTALL)


def _examples() -> dict[str, str]:
    return {name: code for name, code in _EXAMPLE.findall(README.read_text())}


@pytest.mark.parametrize("name", sorted(_examples()) or ["none"])
def test_readme_example_runs(name: str, tmp_path: Path) -> None:
    examples = _examples()
    if not examples:
        pytest.skip("the README marks no examples")
    script = tmp_path / f"{name}.py"
    script.write_text(examples[name])
    from cryptography.fernet import Fernet

    env = {
        **os.environ,
        "PYTHONPATH": str(README.parent / "src"),
        "THREADLINE_SECRET_KEY": Fernet.generate_key().decode(),
    }
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
