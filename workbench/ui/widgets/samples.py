"""Sample generations of causal-LM SFT runs: one run's panel (Monitor) and runs side by side (Compare)."""

from __future__ import annotations

from typing import Any, Sequence

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from workbench.core.format import one_line
from workbench.core.tasks.causal_lm_sft.samples import run_samples, side_by_side


class SamplesPanel(Static):
    """Greedy generations on held-out prompts, saved with the run when it finished."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.border_title = "Sample generations"
        self.count = 0

    def show(self, info: dict[str, Any]) -> bool:
        """Draw the run's samples; False when it has none (not an SFT run, or not finished)."""
        samples = run_samples(info)
        self.count = len(samples)
        if not samples:
            return False
        parts: list[Any] = []
        for i, s in enumerate(samples):
            block = Text()
            block.append(f"{i + 1}. ", style="bold")
            block.append(one_line(s.get("prompt"), 200) + "\n", style="bold")
            block.append("   reference  ", style="dim")
            block.append(one_line(s.get("reference"), 200) + "\n", style="dim")
            block.append("   generated  ", style="dim")
            block.append(one_line(s.get("generated"), 300) or "(empty)", style="green")
            parts.append(block)
        self.update(Group(*parts))
        return True


def samples_table(infos: Sequence[dict[str, Any]], letters: Sequence[str], colors: Sequence[str]) -> Table | Text:
    """Compare: per prompt, the reference and each run's generation side by side."""
    rows = side_by_side(infos)
    if not rows:
        return Text("No sample generations: they are saved by causal-lm-sft runs when they finish.", style="dim")
    t = Table(box=None, header_style="bold", padding=(0, 1), show_lines=True, expand=True)
    t.add_column("prompt / reference", ratio=2, overflow="fold")
    for letter, color in zip(letters, colors):
        t.add_column(Text(letter, style=f"bold {color}"), ratio=2, overflow="fold")
    for row in rows:
        head = Text(one_line(row["prompt"], 160), style="bold")
        head.append("\n" + one_line(row["reference"], 160), style="dim")
        t.add_row(head, *(Text(one_line(g, 200) or "(empty)") if g is not None else Text("—", style="dim")
                          for g in row["generated"]))
    return t
