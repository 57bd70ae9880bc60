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
        return cls(Path(raw).expanduser().resolve())

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def exports_dir(self) -> Path:
        return self.root / "exports"

    def ensure(self) -> "Workspace":
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        return self
