"""The Monitor's text panels: header, progress, system readings and the final evaluation.

Each panel keeps the latest state it was given and draws it in ``render`` so bars fit the current width.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from workbench.core.runs import ACTIVE, parse_iso
from workbench.ui import format as fmt
from workbench.ui.history import RunHistory
from workbench.ui.task_metrics import GENERATION_KEYS, greater_is_better, label, task_metrics, task_words


def elapsed_seconds(info: dict[str, Any], status: str, now: float) -> float | None:
    started = parse_iso(info.get("started")) or parse_iso(info.get("created"))
    if started is None:
        return None
    end = now if status in ACTIVE else (parse_iso(info.get("finished")) or parse_iso(info.get("heartbeat")) or now)
    return max(0.0, end - started)


class RunHeader(Static):
    """One line: name, status, device, elapsed time. Redrawn every second while a run is active, so it
    repaints itself rather than going through ``update`` (which would lay out the whole screen again)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.text = Text()

    def render(self) -> Text:
        return self.text

    def say(self, message: str) -> None:
        self.text = Text(message)
        self.refresh()

    def show(self, info: dict[str, Any], status: str, now: float, note: str = "") -> None:
        text = Text(" ")
        text.append(info.get("name", "?"), style="bold")
        text.append(" ─ ")
        text.append_text(fmt.status_text(status))
        if note:
            text.append(f" ({note})", style="yellow")
        device = info.get("device")
        if device:
            text.append(f" ─ {device.replace('cuda:', '')}", style="dim")
        elapsed = elapsed_seconds(info, status, now)
        if elapsed is not None:
            text.append(f" ─ {fmt.duration(elapsed)} {'elapsed' if status in ACTIVE else 'total'}", style="dim")
        if text != self.text:
            self.text = text
            self.refresh()


class ProgressPanel(Static):
    """Epoch, step, a bar and the ETA; then the numbers a user watches most."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.border_title = "Progress"
        self.info: dict[str, Any] = {}
        self.status = "queued"
        self.history = RunHistory()
        self._lines = 0

    def show(self, info: dict[str, Any], status: str, history: RunHistory) -> None:
        self.info, self.status, self.history = info, status, history
        # A new layout of the whole screen only when this panel's height changes; a repaint otherwise.
        lines = 1 + len(_wrap_items(self._number_items(), self.content_size.width))
        self.refresh(layout=lines != self._lines)
        self._lines = lines

    @property
    def step(self) -> int:
        """The latest known step: the metrics may be ahead of run.json's once-a-second progress."""
        progress = self.info.get("progress") or {}
        return max(int(progress.get("step") or 0), self.history.last_step)

    def render(self) -> Group:
        progress = self.info.get("progress") or {}
        h = self.history
        step, max_steps = self.step, progress.get("max_steps")
        epoch = h.last_epoch if h.last_epoch is not None else progress.get("epoch")
        num_epochs = progress.get("num_epochs")
        head = Text()
        head.append(f"epoch {fmt.number(epoch, 2)}/{num_epochs if num_epochs is not None else '—'}  ")
        head.append(f"step {fmt.count(step)}/{fmt.count(max_steps)}  ", style="bold")
        fraction = step / max_steps if max_steps else 0.0
        if self.status in ACTIVE:
            tail = f"  {fraction:4.0%}  ETA {fmt.duration(h.eta_seconds(step, max_steps))}"
        else:
            tail = f"  {fraction:4.0%}  {self.status}"
        width = max(10, self.content_size.width - head.cell_len - len(tail))
        head.append(fmt.bar(fraction, width), style="green" if self.status in ACTIVE else "")
        head.append(tail)

        items = self._number_items()
        return Group(head, *_wrap_items(items, self.content_size.width))

    def _number_items(self) -> list[Text]:
        """The readings, each kept whole when the line wraps (``92,300 tok/s`` never splits)."""
        h = self.history
        items: list[Text] = []
        train = h.last_train or {}
        if "loss" in train:
            item = Text(f"loss {fmt.number(train['loss'])}", style="bold")
            ema = h.ema_loss()
            if ema is not None:
                item.append(f" (ema {fmt.number(ema)})", style="dim")
            items.append(item)
        tm = task_metrics(self.info.get("task"))
        main = h.main_metric(tm)
        if h.last_eval and main:
            series = h.eval_series(main)
            name = label(main, task=tm.task)
            item = Text(f"{name if name.startswith('eval') else 'eval ' + name} {fmt.number(series[-1])}", style="bold")
            if len(series) > 1 and series[-1] == series[-1] and series[-2] == series[-2]:
                item.append(" ▲" if series[-1] > series[-2] else (" ▼" if series[-1] < series[-2] else " ="))
            best = h.best(main, greater_is_better(main, tm))
            if best:
                item.append(f" best {fmt.number(best[0], 3)} @{fmt.count(best[1])}", style="dim")
            items.append(item)
            # The task's other metrics at the latest evaluation, each named (token accuracy is not entity F1).
            others = [k for k in (*tm.scalars, "perplexity", *GENERATION_KEYS) if k not in (main, tm.main)
                      and isinstance(h.last_eval.get(k), (int, float))]
            if others:
                items.append(Text(" ".join(f"{label(k, short=True, task=tm.task)} {fmt.number(h.last_eval[k], 3)}" for k in others)))
        if train.get("epsilon") is not None:  # differential privacy: the budget spent so far, and the target
            target = (self.info.get("privacy") or {}).get("target_epsilon") or (self.info.get("config") or {}).get("dp_epsilon")
            item = Text(f"ε {fmt.number(train['epsilon'], 3)}", style="bold")
            if target:
                item.append(f" of {float(target):g}", style="dim")
            items.append(item)
        if train.get("lr") is not None:
            items.append(Text(f"lr {fmt.sci(train['lr'])}"))
        if train.get("samples_per_s") is not None:
            items.append(Text(f"{fmt.rate(train['samples_per_s'])} samples/s"))
        if train.get("tokens_per_s") is not None:
            items.append(Text(f"{fmt.rate(train['tokens_per_s'])} tok/s"))
        if not items:
            items.append(Text("waiting for the first logged step…" if self.status in ACTIVE else "no steps logged",
                              style="dim"))
        return items


def _wrap_items(items: list[Text], width: int, gap: str = "   ") -> list[Text]:
    """Lay ``items`` out on as few lines as fit ``width``, breaking only between items."""
    lines: list[Text] = []
    line = Text()
    for item in items:
        if line.cell_len and line.cell_len + len(gap) + item.cell_len > width:
            lines.append(line)
            line = Text()
        if line.cell_len:
            line.append(gap)
        line.append_text(item)
    lines.append(line)
    return lines


SPARK = "▁▂▃▄▅▆▇█"
TREND_POINTS = 8


def sparkline(values: list[float], lo: float, hi: float) -> str:
    """One cell per value on a shared scale (``lo``..``hi``), a space where an evaluation lacked it."""
    span = hi - lo
    out = []
    for v in values:
        if v != v:
            out.append(" ")
        else:
            out.append(SPARK[min(len(SPARK) - 1, int((v - lo) / span * len(SPARK))) if span > 0 else len(SPARK) // 2])
    return "".join(out)


class PerClassPanel(Static):
    """Per-class scores during training (token classification: entity F1 per type), one row each under
    the overall main metric: the latest value, the best and a sparkline of the last evaluations (on one
    scale for all rows, so they compare).
    A table rather than more curves on the Eval chart, where six curves and a legend over a 40-column
    plot read as one band of dots."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.border_title = "F1 by type"
        self.rows: list[tuple[str, float, float | None]] = []  # (name, latest, best): what the tests read

    def show(self, info: dict[str, Any], history: RunHistory) -> bool:
        """Draw the table; False when the run logs no per-class scores."""
        per_class = history.per_class()
        if not per_class:
            self.rows = []
            return False
        tm = task_metrics(info.get("task"))
        main = history.main_metric(tm)
        words = task_words(tm.task)
        self.border_title = f"F1 by {words.label} ({len(per_class)})"
        series = ([(label(main, task=tm.task), history.eval_series(main))] if main else []) + list(per_class.items())
        recent = [v for _, values in series for v in values[-TREND_POINTS:] if v == v]
        lo, hi = (min(recent), max(recent)) if recent else (0.0, 1.0)
        table = Table(box=None, padding=(0, 1), pad_edge=False, show_edge=False, header_style="bold")
        table.add_column(words.label, no_wrap=True, max_width=16)
        table.add_column(words.per_label_score, justify="right", no_wrap=True)
        table.add_column("best", justify="right", no_wrap=True)
        table.add_column(f"last {min(TREND_POINTS, len(history.eval_steps))}", no_wrap=True)
        self.rows = []
        for i, (name, values) in enumerate(series):
            known = [v for v in values if v == v]
            latest = values[-1] if values else float("nan")
            lower = i == 0 and main and not greater_is_better(main, tm)  # per-class scores: higher is better
            best = (min(known) if lower else max(known)) if known else None
            self.rows.append((name, latest, best))
            table.add_row(Text(name, style="bold" if i == 0 and main else ""), fmt.number(latest, 3), fmt.number(best, 3),
                          sparkline(values[-TREND_POINTS:], lo, hi), style="bold" if i == 0 and main else "")
        self.update(table)
        return True


class SystemPanel(Static):
    """GPU utilisation, memory, temperature and power when the worker saw a GPU; CPU and RAM otherwise."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.border_title = "System"
        self.reading: dict[str, Any] | None = None

    def show(self, reading: dict[str, Any] | None) -> None:
        if reading is self.reading:
            return
        self.reading = reading
        gpus = (reading or {}).get("gpus") or []
        if gpus:
            name = gpus[0].get("name", "").replace("NVIDIA ", "")
            self.border_title = f"GPU {gpus[0].get('index', 0)} · {name}" if len(gpus) == 1 else f"{len(gpus)} GPUs"
        else:
            self.border_title = "System"
        self.refresh(layout=True)

    def render(self) -> Text:
        r = self.reading
        if not r:
            return Text("no system readings yet", style="dim")
        width = max(6, min(24, self.content_size.width - 30))
        text = Text()
        gpus = r.get("gpus") or []
        for i, g in enumerate(gpus):
            if len(gpus) > 1:
                text.append(f"GPU {g.get('index', i)} {g.get('name', '')}\n", style="bold")
            util = g.get("util")
            text.append("util ")
            text.append(fmt.bar((util or 0) / 100, width), style="green")
            text.append(f" {fmt.number(util, 0):>3}%")
            if g.get("temp") is not None:
                text.append(f"   {g['temp']:.0f}°C")
            text.append("\nmem  ")
            used, total = g.get("mem_used"), g.get("mem_total")
            text.append(fmt.bar(used / total if used and total else 0, width), style="cyan")
            text.append(f" {_gib(used)}/{_gib(total)} GiB")
            if g.get("power") is not None:
                text.append(f"   {g['power']:.0f} W")
            if i < len(gpus) - 1:
                text.append("\n")
        if not gpus:
            cpu = r.get("cpu_percent")
            text.append("CPU  ")
            text.append(fmt.bar((cpu or 0) / 100, width), style="green")
            text.append(f" {fmt.number(cpu, 0):>3}%")
            if r.get("cpu_count"):
                text.append(f"  of {r['cpu_count']} cores", style="dim")
            used, total = r.get("ram_used"), r.get("ram_total")
            text.append("\nRAM  ")
            text.append(fmt.bar(used / total if used and total else 0, width), style="cyan")
            text.append(f" {_gib(used)}/{_gib(total)} GiB")
        if r.get("rss"):
            text.append(f"\nworker RSS {fmt.size_bytes(r['rss'])}", style="dim")
        return text


def _gib(n: float | None) -> str:
    return "—" if n is None else f"{n / (1 << 30):.1f}"


class FinalPanel(Static):
    """Final metrics, per-class scores and the confusion matrix, once the run has finished."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.border_title = "Final evaluation"

    def show(self, info: dict[str, Any]) -> bool:
        """Draw the final evaluation from run.json; False when there is none (yet)."""
        metrics, evaluation = info.get("metrics") or {}, info.get("evaluation") or {}
        if not metrics:
            return False
        parts: list[Any] = []
        line = Text()
        tm = task_metrics(info.get("task"))
        for key in tm.shown():
            if key in metrics:
                line.append(f"{label(key, short=key != tm.main, task=tm.task)} ", style="dim")
                line.append(f"{fmt.number(metrics[key])}   ", style="bold")
        best = info.get("best_metric") or {}
        if best.get("checkpoint"):
            name = best.get("name") if isinstance(best.get("name"), str) else tm.main
            line.append(f"best {label(name, task=tm.task)} from {best['checkpoint']}", style="dim")
        parts.append(line)
        labels, matrix = evaluation.get("labels") or [], evaluation.get("confusion_matrix") or []
        if labels and matrix:
            table = Table(box=None, padding=(0, 1), show_edge=False, title="rows: gold · columns: predicted",
                          title_justify="left", title_style="dim")
            table.add_column("", style="bold", no_wrap=True, max_width=14)
            for name in labels:
                table.add_column(name[:10], justify="right")
            per_class = evaluation.get("per_class") or {}
            table.add_column("P / R / F1", justify="right", style="dim")
            for name, row in zip(labels, matrix):
                pc = per_class.get(name) or {}
                table.add_row(name, *(str(v) for v in row),
                              f"{fmt.number(pc.get('precision'), 2)} {fmt.number(pc.get('recall'), 2)} "
                              f"{fmt.number(pc.get('f1'), 2)}")
            parts.append(table)
        elif evaluation.get("per_class") and not matrix:  # token classification: entity scores per type
            table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
            for col in ("entity type", "P", "R", "F1", "n"):
                table.add_column(col, justify="left" if col == "entity type" else "right")
            for kind, pc in evaluation["per_class"].items():
                table.add_row(kind, fmt.number(pc.get("precision"), 3), fmt.number(pc.get("recall"), 3),
                              fmt.number(pc.get("f1"), 3), str(pc.get("support", "")))
            parts.append(table)
        self.update(Group(*parts))
        return True
