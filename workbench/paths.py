"""The workspace: where runs/ and exports/ live.

Resolution: an explicit path (``--workspace``) → ``$SFT_WORKBENCH_HOME`` → the current directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "SFT_WORKBENCH_HOME"


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def resolve(cls, path: str | os.PathLike | None = None) -> "Workspace":
        raw = path or os.environ.get(ENV_VAR) or os.getcwd()
        return cls(expand_user(raw).resolve())

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def exports_dir(self) -> Path:
        return self.root / "exports"

    def ensure(self) -> "Workspace":
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        return self


def path_exists(path: str | os.PathLike, test: str = "exists") -> bool:
    """``Path(path).exists()`` (or ``is_dir``/``is_file`` with ``test``) that answers False for a path the OS
    refuses, such as a name longer than 255 bytes or one holding a NUL character, instead of raising."""
    try:
        return bool(getattr(Path(path), test)())
    except (OSError, ValueError):
        return False


def expand_user(path: str | os.PathLike) -> Path:
    """``Path(path).expanduser()`` that leaves a ``~name`` of no known user as it is (pathlib raises RuntimeError
    for one, "Could not determine home directory"; ``os.path.expanduser`` returns it unchanged), so a typo reads
    as "not found" rather than a traceback."""
    return Path(os.path.expanduser(os.fspath(path)))
