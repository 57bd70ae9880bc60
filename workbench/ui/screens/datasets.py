"""Datasets: browse data files, preview them page by page (a million-row CSV opens at once), see the
schema, label distribution, token lengths and health warnings, and carry a choice to Configure.

Three thread workers do the blocking work: discovery (walking folders), the preview (indexing the file,
then reading pages) and the inspection (``inspect_source``: a quick pass without a tokenizer for the
label counts and warnings, then a second one that counts tokens).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static, TabbedContent, TabPane, Tree
from textual.worker import get_current_worker

from workbench.core.errors import WorkbenchError
from workbench.ui import format as fmt
from workbench.ui.messages import ActionFailed, DatasetInspected, PreviewPageLoaded, SourcesFound
from workbench.ui.screens.base import Notice, WorkbenchScreen
from workbench.ui.sources import DataEntry, SourceRoot, default_roots, discover_all
from workbench.ui.widgets.data_preview import PAGE_ROWS, DataPreview
from workbench.ui.widgets.dataset_stats import DatasetStats
from workbench.paths import expand_user

PROGRESS_EVERY_S = 0.25
_PAGING = Binding.Group("page", compact=True)
TOKENIZER = "default"
# inspect_source reads a whole data set into memory; above this size it waits until the stats are asked for.
AUTO_INSPECT_BYTES = 16 << 20
MAX_LENGTH = None  # the data's task default (128; 384 windows for question answering)


class DatasetsScreen(WorkbenchScreen):
    MODE = "datasets"
    BINDINGS = [
        Binding("t", "train", "Train"),
        Binding("a", "add_folder", "Add path"),
        Binding("p", "tab('preview')", "Preview"),
        Binding("i", "tab('stats')", "Stats"),
        Binding("left_square_bracket", "page(-1)", "Previous page", group=_PAGING),
        Binding("right_square_bracket", "page(1)", "Next page", group=_PAGING),
        Binding("left_curly_bracket", "page_to('first')", "First page", show=False),
        Binding("right_curly_bracket", "page_to('last')", "Last page", show=False),
        Binding("g", "goto_row", "Go to row", show=False),
        Binding("escape", "leave_field", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.extra_roots: list[Path] = []
        self.selected: Path | None = None
        # (path, RecordIndex/TablePreview) of the selected data set; page workers read pages from it.
        self.preview: tuple[Path, Any] | None = None
        self.report: dict[str, Any] | None = None
        self.inspected = False
        self.columns_override: tuple[str | None, str | None] = (None, None)

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="ds-main"):
            with Vertical(id="ds-side"):
                yield Tree("data", id="ds-tree")
                yield Input(placeholder="add a folder or file: type a path, ⏎", compact=True, id="ds-add")
            with Vertical(id="ds-detail"):
                yield Static(id="ds-title")
                yield Notice(id="ds-notice")
                with TabbedContent(id="ds-tabs", initial="preview"):
                    with TabPane("Preview", id="preview"):
                        yield DataPreview(id="ds-preview")
                    with TabPane("Schema & stats", id="stats"):
                        yield DatasetStats(id="ds-stats")

    def on_mount(self) -> None:
        tree = self.query_one(Tree)
        tree.show_root = False
        tree.border_title = "Data sets"
        self.query_one("#ds-title", Static).update(Text(" Choose a data set on the left and press ⏎.", style="dim"))
        self.query_one(DataPreview).clear()
        self.query_one(DatasetStats).clear()
        tree.focus()
        self.discover()

    # --- discovery ------------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="discover", exit_on_error=False)
    def discover(self) -> None:
        roots = default_roots(self.wb.workspace.root) + [(str(p), p) for p in self.extra_roots]
        try:
            found = discover_all(roots)
        except OSError as exc:
            self.post_message(ActionFailed("discover", f"cannot list data files: {exc}"))
            return
        self.post_message(SourcesFound(found))

    def on_sources_found(self, message: SourcesFound) -> None:
        tree: Tree = self.query_one(Tree)
        tree.clear()
        for root in message.roots:
            self._add_root(tree, root)
        if self.selected is not None:
            self._move_to(self.selected)

    def _add_root(self, tree: Tree, root: SourceRoot) -> None:
        label = Text(root.name, style="bold")
        node = tree.root.add(label, data=root.path, expand=True)
        if root.problem:
            node.add_leaf(Text(root.problem, style="red"))
        elif not root.entries:
            node.add_leaf(Text("no data files", style="dim"))
        for entry in root.entries:
            self._add_entry(node, entry, root.path)
        if root.truncated:
            node.add_leaf(Text("… more not shown (add the folder itself)", style="dim"))

    def _add_entry(self, parent, entry: DataEntry, root: Path) -> None:
        size = Text(f"  {fmt.size_bytes(entry.size)}" if entry.size else "", style="dim")
        label = Text(entry.label(root)) + size
        if entry.kind == "folder":
            node = parent.add(label, data=entry.path, expand=False)
            for f in entry.files:
                node.add_leaf(Text(f.name) + Text(f"  {fmt.size_bytes(f.stat().st_size)}", style="dim"), data=f)
        else:
            parent.add_leaf(label, data=entry.path)

    def _move_to(self, path: Path) -> None:
        tree = self.query_one(Tree)
        for node in _walk(tree.root):
            if node.data == path and node is not tree.root and node.parent is not tree.root:
                tree.move_cursor(node)
                return

    # --- choosing -------------------------------------------------------------------------------------
    @on(Tree.NodeSelected, "#ds-tree")
    def _node_selected(self, event: Tree.NodeSelected) -> None:
        path = event.node.data
        if isinstance(path, Path) and event.node.parent is not self.query_one(Tree).root:
            self.choose(path)

    def choose(self, path: Path, columns: tuple[str | None, str | None] = (None, None)) -> None:
        self.selected = Path(path)
        self.columns_override = columns
        self.report = None
        self.preview = None
        self.query_one(Notice).clear()
        try:
            size = fmt.size_bytes(self.selected.stat().st_size) if self.selected.is_file() else "folder"
        except OSError:
            size = "?"
        title = Text(f" {self._display(self.selected)}", style="bold")
        title.append(f"  {size}", style="dim")
        self.query_one("#ds-title", Static).update(title)
        self.query_one(DataPreview).clear("reading…")
        self.load_preview(self.selected)
        self.inspected = False
        if _size_of(self.selected) <= AUTO_INSPECT_BYTES or self._stats_visible():
            self._start_inspection()
        else:
            self.query_one(DatasetStats).clear(
                f"Statistics read the whole data set ({fmt.size_bytes(_size_of(self.selected))}) into memory; "
                "they are computed when you open this tab.")

    def _stats_visible(self) -> bool:
        return self.query_one("#ds-tabs", TabbedContent).active == "stats"

    def _start_inspection(self) -> None:
        if self.selected is None or self.inspected:
            return
        self.inspected = True
        self.query_one(DatasetStats).clear("inspecting…")
        self.inspect(self.selected, *self.columns_override)

    @on(TabbedContent.TabActivated, "#ds-tabs")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if self._stats_visible():
            self._start_inspection()

    def _display(self, path: Path) -> str:
        """A path as its root's name plus the rest (``sample_data/sentiment``): short, and the same on every machine."""
        for name, root in default_roots(self.wb.workspace.root):
            try:
                rel = path.resolve().relative_to(root.resolve())
            except ValueError:
                continue
            return f"{name}/{rel}" if str(rel) != "." else name
        return str(path)

    @on(Input.Submitted, "#ds-add")
    def _add_submitted(self, event: Input.Submitted) -> None:
        raw = event.value.strip()
        if not raw:
            return
        path = expand_user(raw)
        if not path.exists():
            self.query_one(Notice).show(f"No such file or folder: {raw}")
            return
        path = path.resolve()
        event.input.value = ""
        if path.is_dir() and path not in self.extra_roots:
            self.extra_roots.append(path)
            self.discover()
        self.query_one(Notice).show(f"Added {path}.", "ok")
        if path.is_file():
            self.choose(path)
        self.query_one(Tree).focus()

    # --- preview --------------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="preview", exit_on_error=False)
    def load_preview(self, path: Path) -> None:
        from workbench.core.preview import open_preview

        worker = get_current_worker()
        try:
            preview = open_preview(path)
        except WorkbenchError as exc:
            self.post_message(ActionFailed("preview", str(exc)))
            return
        self.preview = (path, preview)
        first_page_sent = False
        last_progress = 0.0

        def on_chunk() -> None:
            # Show the first page as soon as it is indexed, then the indexing progress now and then.
            nonlocal first_page_sent, last_progress
            if not first_page_sent and preview.rows >= PAGE_ROWS:
                first_page_sent = True
                self._post_page(path, preview, 0)
            elif time.monotonic() - last_progress > PROGRESS_EVERY_S:
                last_progress = time.monotonic()
                self.post_message(PreviewPageLoaded(str(path), -1, [], [], preview.rows, preview.progress, False))

        try:
            preview.build(cancelled=lambda: worker.is_cancelled, on_chunk=on_chunk)
            if not worker.is_cancelled:
                self._post_page(path, preview, None if first_page_sent else 0)
        except WorkbenchError as exc:
            self.post_message(ActionFailed("preview", str(exc)))
        except (OSError, ValueError) as exc:
            self.post_message(ActionFailed("preview", f"cannot read {path.name}: {exc}"))

    def _post_page(self, path: Path, preview, start: int | None) -> None:
        """Post rows from ``start`` (None: only the new row count and progress)."""
        if start is None:
            self.post_message(PreviewPageLoaded(str(path), -1, [], [], preview.rows, preview.progress, preview.done))
            return
        rows = preview.read_rows(start, PAGE_ROWS)
        self.post_message(PreviewPageLoaded(str(path), start, preview.columns, rows, preview.rows, preview.progress,
                                            preview.done))

    @work(thread=True, exclusive=True, group="page", exit_on_error=False)
    def load_page(self, start: int) -> None:
        if self.preview is None or self.preview[0] != self.selected:
            return
        path, preview = self.preview
        try:
            self._post_page(path, preview, start)
        except (OSError, ValueError) as exc:
            self.post_message(ActionFailed("preview", f"cannot read that page: {exc}"))

    def on_preview_page_loaded(self, message: PreviewPageLoaded) -> None:
        if self.selected is None or message.path != str(self.selected):
            return
        view = self.query_one(DataPreview)
        if message.start < 0:
            view.show_progress(message.total, message.progress, message.done)
        else:
            view.show_page(message.start, message.columns, message.rows, message.total, message.progress,
                           message.done)
            if self.report is None and message.columns:
                self.query_one(DatasetStats).set_columns(message.columns, *self.columns_override)

    def action_page(self, delta: int) -> None:
        view = self.query_one(DataPreview)
        if self.preview is None or not view.total:
            return
        start = min(max(0, view.start + delta * PAGE_ROWS), max(0, (view.total - 1) // PAGE_ROWS * PAGE_ROWS))
        if start != view.start:
            self.load_page(start)

    def action_page_to(self, where: str) -> None:
        view = self.query_one(DataPreview)
        if self.preview is None or not view.total:
            return
        self.load_page(0 if where == "first" else max(0, (view.total - 1) // PAGE_ROWS * PAGE_ROWS))

    def action_goto_row(self) -> None:
        self.query_one("#ds-tabs", TabbedContent).active = "preview"
        self.query_one("#pv-goto", Input).focus()

    @on(Input.Submitted, "#pv-goto")
    def _goto_submitted(self, event: Input.Submitted) -> None:
        view = self.query_one(DataPreview)
        digits = "".join(ch for ch in event.value if ch.isdigit())
        if not digits or self.preview is None:
            return
        row = int(digits)
        if not 1 <= row <= max(1, view.total):
            self.query_one(Notice).show(f"Row {row:,} is outside 1–{view.total:,}"
                                        + ("" if view.done else " (still indexing)") + ".")
            return
        self.query_one(Notice).clear()
        self.load_page((row - 1) // PAGE_ROWS * PAGE_ROWS)
        event.input.value = ""

    # --- inspection -----------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="inspect", exit_on_error=False)
    def inspect(self, path: Path, text_column: str | None, label_column: str | None) -> None:
        from workbench.core.tasks import inspect_source

        worker = get_current_worker()
        for model in (None, TOKENIZER):  # quick numbers first; counting tokens needs transformers (seconds)
            try:
                if model is not None:
                    from workbench.ui.actions import quiet_transformers

                    quiet_transformers()
                report = inspect_source(path, text_column=text_column, label_column=label_column, model=model,
                                        max_length=MAX_LENGTH)
            except WorkbenchError as exc:
                if model is None:
                    self.post_message(ActionFailed("inspect", str(exc)))
                else:  # the counts are shown already; say why the lengths are missing
                    self.post_message(ActionFailed("tokens", f"token lengths unavailable: {exc}"))
                return
            except Exception as exc:  # a malformed file can break a parser in ways no one anticipated
                self.post_message(ActionFailed("inspect", f"cannot inspect {path.name}: {type(exc).__name__}: {exc}"))
                return
            if worker.is_cancelled:
                return
            self.post_message(DatasetInspected(str(path), report, with_tokens=model is not None))

    def on_dataset_inspected(self, message: DatasetInspected) -> None:
        if self.selected is None or message.path != str(self.selected):
            return
        report = message.report
        self.report = report
        stats = self.query_one(DatasetStats)
        if not message.with_tokens:
            stats.set_columns(list(report.get("columns") or {}), report["text_column"], report["label_column"])
        stats.show_report(report, tokens_pending=not message.with_tokens)

    @on(DatasetStats.ColumnsChosen)
    def _columns_chosen(self, event: DatasetStats.ColumnsChosen) -> None:
        chosen = (event.text_column, event.label_column)
        current = (self.report["text_column"], self.report["label_column"]) if self.report else self.columns_override
        if self.selected is None or chosen == current:
            return
        if event.text_column and event.text_column == event.label_column:
            self.query_one(Notice).show("The text column and the label column must differ.")
            return
        self.columns_override = (event.text_column, event.label_column)
        self.query_one(Notice).clear()
        self.query_one(DatasetStats).clear("inspecting with the chosen columns…")
        self.inspected = True
        self.inspect(self.selected, event.text_column, event.label_column)

    def on_action_failed(self, message: ActionFailed) -> None:
        self.query_one(Notice).show(message.message)
        if message.action == "preview":
            self.query_one(DataPreview).clear("no preview")
        elif message.action == "inspect":
            self.query_one(DatasetStats).clear("Choose the text and label columns above to inspect this data set."
                                               if "column" in message.message else "")

    # --- actions --------------------------------------------------------------------------------------
    def action_train(self) -> None:
        if self.selected is None:
            self.query_one(Notice).show("Choose a data set first (⏎ on the list).")
            return
        text_column, label_column = self.columns_override
        self.wb.open_configure({"path": str(self.selected), "text_column": text_column, "label_column": label_column})

    def action_add_folder(self) -> None:
        self.query_one("#ds-add", Input).focus()

    def action_tab(self, tab: str) -> None:
        self.query_one("#ds-tabs", TabbedContent).active = tab

    def action_leave_field(self) -> None:
        self.query_one(Tree).focus()

    def palette_commands(self) -> Iterable[SystemCommand]:
        if self.selected is not None:
            yield SystemCommand("Train on this data set", "Carry the chosen data set to Configure (t)", self.action_train)
        yield SystemCommand("Add a data folder", "Type a folder or file to browse (a)", self.action_add_folder)


def _size_of(path: Path) -> int:
    """Bytes of a data file, or of the data files of a folder (0 when unreadable)."""
    try:
        if path.is_file():
            return path.stat().st_size
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    except OSError:
        return 0


def _walk(node):
    yield node
    for child in node.children:
        yield from _walk(child)
