"""What every workbench screen shares: the nav bar, the footer, an in-place message line."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from workbench.ui.widgets.nav import NavBar

if TYPE_CHECKING:
    from workbench.ui.app import WorkbenchApp


class Notice(Static):
    """One line that says what just went wrong (or right), in place, until the next action."""

    DEFAULT_CSS = """
    Notice { height: auto; padding: 0 1; display: none; }
    Notice.-shown { display: block; }
    Notice.-error { color: $text-error; background: $error-muted; }
    Notice.-ok { color: $text-success; }
    Notice.-info { color: $text-muted; }
    """

    def show(self, message: str | None, kind: str = "error") -> None:
        self.set_class(bool(message), "-shown")
        for k in ("error", "ok", "info"):
            self.set_class(k == kind, f"-{k}")
        # Text, not markup: messages quote what the user typed and what files hold ("[/" is no tag).
        self.update(Text(message or ""))

    def clear(self) -> None:
        self.show(None)


class WorkbenchScreen(Screen):
    MODE: ClassVar[str] = ""

    @property
    def wb(self) -> "WorkbenchApp":
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield NavBar(self.MODE)
        yield from self.compose_body()
        yield Footer(compact=True)

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The safety net under every worker (they run with exit_on_error=False): an exception nobody
        caught is a bug, but it must show up in place rather than leave the screen waiting forever."""
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            notices = self.query(Notice)
            message = f"Unexpected error ({event.worker.name}): {type(error).__name__}: {error}"
            if notices:
                notices.first().show(message)
            else:
                self.notify(message, severity="error", timeout=10)
