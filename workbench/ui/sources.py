"""Finding data sets to browse: data files and data-set folders under a few roots.

A *root* is the workspace, the repository's ``sample_data/`` (when running from a checkout) or a folder
the user adds. Walking is bounded (depth, number of files) because the workspace defaults to the
current directory, which may be a home directory. No Textual here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from workbench.core.datasets import FORMATS, find_parallel_splits, find_split_files, is_saved_dataset
from workbench.core.errors import WorkbenchError

# Folders that never hold a user's data sets, or hold our own outputs (run directories carry
# predictions.jsonl files that would look like data).
SKIP_DIRS = {"runs", "exports", "checkpoints", "model", "__pycache__", "node_modules", "site-packages",
             "build", "dist", "venv", "env"}
MAX_DEPTH = 3
MAX_ENTRIES = 300


@dataclass
class DataEntry:
    """A selectable data set: one file, a folder of split files, or a ``save_to_disk`` folder."""

    path: Path
    kind: str  # "file" | "folder" | "saved"
    files: list[Path] = field(default_factory=list)  # a folder's split files
    size: int = 0

    def label(self, root: Path) -> str:
        try:
            rel = self.path.relative_to(root)
        except ValueError:
            rel = self.path
        if rel == Path("."):
            return f"{self.path.name}/"
        return f"{rel}/" if self.kind != "file" else str(rel)


@dataclass
class SourceRoot:
    name: str
    path: Path
    entries: list[DataEntry] = field(default_factory=list)
    problem: str | None = None
    truncated: bool = False


def sample_data_dir() -> Path | None:
    """The repository's sample_data/, next to the package, when running from a checkout."""
    import workbench

    path = Path(workbench.__file__).resolve().parent.parent / "sample_data"
    return path if path.is_dir() else None


def _skip(entry: os.DirEntry) -> bool:
    if entry.name.startswith(".") or entry.name in SKIP_DIRS:
        return True
    # A virtual environment is never data.
    return os.path.exists(os.path.join(entry.path, "pyvenv.cfg"))


def discover(root: Path, *, max_depth: int = MAX_DEPTH, limit: int = MAX_ENTRIES) -> SourceRoot:
    """The data sets under ``root``, folders of split files grouped as one entry, sorted by path."""
    root = Path(root).expanduser()
    result = SourceRoot(root.name or str(root), root)
    if not root.exists():
        result.problem = f"{root} does not exist."
        return result
    if not root.is_dir():
        result.problem = f"{root} is not a folder."
        return result

    def walk(folder: Path, depth: int) -> None:
        if len(result.entries) >= limit:
            result.truncated = True
            return
        try:
            children = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        files = [Path(c.path) for c in children if c.is_file(follow_symlinks=True) and Path(c.name).suffix.lower() in FORMATS]
        grouped: set[Path] = set()
        parallel = find_parallel_splits(folder)  # train.en + train.de …: one data set, as read_source reads it
        if parallel:
            members = [f for fs in parallel.values() for f in fs]
            grouped |= set(members)
            result.entries.append(DataEntry(folder, "folder", members, sum(f.stat().st_size for f in members)))
        if files and not parallel:
            try:
                splits = find_split_files(folder)
            except (WorkbenchError, OSError):
                splits = {}
            if splits:
                grouped = set(splits.values())
                result.entries.append(DataEntry(folder, "folder", list(splits.values()), sum(f.stat().st_size for f in grouped)))
        for f in files:
            if f not in grouped:
                try:
                    result.entries.append(DataEntry(f, "file", size=f.stat().st_size))
                except OSError:
                    continue
        if depth >= max_depth:
            return
        for c in children:
            if c.is_dir(follow_symlinks=False) and not _skip(c):
                sub = Path(c.path)
                if is_saved_dataset(sub):
                    result.entries.append(DataEntry(sub, "saved"))
                else:
                    walk(sub, depth + 1)

    walk(root, 0)
    del result.entries[limit:]
    result.entries.sort(key=lambda e: str(e.path))
    return result


def default_roots(workspace: Path) -> list[tuple[str, Path]]:
    roots = [("workspace", Path(workspace))]
    sample = sample_data_dir()
    if sample is not None:
        roots.append(("sample_data", sample))
    return roots


def discover_all(roots: list[tuple[str, Path]]) -> list[SourceRoot]:
    """Every root's entries, in the order given. A data set under two roots (sample_data/ inside the
    workspace) is listed under the more specific (deeper) root only."""
    seen: set[Path] = set()
    found: dict[int, SourceRoot] = {}
    for i, (name, path) in sorted(enumerate(roots), key=lambda item: -len(Path(item[1][1]).expanduser().resolve().parts)):
        result = discover(path)
        result.name = name
        result.entries = [e for e in result.entries if e.path.resolve() not in seen]
        seen |= {e.path.resolve() for e in result.entries} | {f.resolve() for e in result.entries for f in e.files}
        found[i] = result
    return [found[i] for i in range(len(roots))]
