"""Charts drawn with textual-plotext: line curves for the Monitor, bars and a histogram for Datasets.

Each chart keeps its data and redraws only in ``render`` (plotext's ``build``), which Textual calls
only for visible, changed widgets; series are downsampled to about two points per cell, so a run with a
hundred thousand logged steps costs the same to draw as one with a hundred.

A line chart's legend is its bottom border, never plotext's legend: that one is drawn inside the plot,
over the points. Each series has its own glyph (a braille line, "•" points, "◆" for a marked point),
so the legend and the curves read without colour too.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from textual.markup import escape
from textual_plotext import PlotextPlot

from workbench.ui.history import downsample

# How often a growing curve redraws. A frame costs ~15 ms of CPU (plotext, then ANSI parsing). With
# cores to spare (GPU training) that is nothing, so curves redraw every second; when the CPU is the
# bottleneck (CPU training keeps every core busy) each frame is taken from the trainer, so they back
# off to every 5 s (benchmarks/tui.py: the Monitor then costs training under 2 %). Text readings
# (step, loss, ETA) update on every poll regardless.
FAST_REDRAW_S, SLOW_REDRAW_S = 1.0, 5.0


def redraw_interval() -> float:
    try:
        busy = os.getloadavg()[0] >= (os.cpu_count() or 1) - 0.5
    except OSError:  # no load average on this platform
        busy = False
    return SLOW_REDRAW_S if busy else FAST_REDRAW_S


@dataclass
class Series:
    label: str
    xs: list[float]
    ys: list[float]
    color: str = "cyan"
    marker: str = "braille"
    # "line": a curve through the points; "points": the points alone (a few evaluations joined by a
    # line of dots read as a band); "line+points": a thin curve with each point on it.
    style: str = "line"


@dataclass(frozen=True)
class Mark:
    """One point called out on a chart, such as the best evaluation."""

    label: str
    x: float
    y: float
    marker: str = "◆"
    color: str = "red"


POINT = "•"


def legend_glyph(s: Series) -> str:
    if s.style == "points":
        return POINT
    line = "─" if s.marker in ("braille", "hd", "fhd", "sd") else s.marker
    return f"{line}{POINT}{line}" if s.style == "line+points" else line * 2


def legend_markup(series: list[Series], marks: list[Mark]) -> str:
    """The legend line for the bottom border: each series' glyph in its colour, then its label."""
    items = [f"[{s.color}]{legend_glyph(s)}[/] {escape(s.label)}" for s in series]
    items += [f"[{m.color}]{m.marker}[/] {escape(m.label)}" for m in marks]
    return "  ".join(items)


class LineChart(PlotextPlot):
    """Named series against a shared x axis, with a message in place of an empty plot."""

    def __init__(self, title: str, xlabel: str = "step", *, empty: str = "no data yet", id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.xlabel = xlabel
        self.empty_message = empty
        self.series: list[Series] = []
        self.marks: list[Mark] = []
        self._drawn_at = 0.0
        self._pending = None
        self._shape: tuple | None = None
        self.border_title = title

    def show(self, series: list[Series], marks: list[Mark] | tuple[Mark, ...] = ()) -> None:
        series = [s for s in series if s.xs]
        marks = list(marks) if series else []
        # The Monitor passes every series on every poll; most polls add nothing to most charts (the eval
        # curve grows once an evaluation), and an unchanged chart must cost nothing.
        # The list's identity counts too: after a rewrite (resume) the history is rebuilt in new lists.
        shape = (tuple((s.label, id(s.xs), len(s.xs)) for s in series), tuple(marks))
        if shape == self._shape:
            return
        self._shape = shape
        was_empty = not self.series
        self.series, self.marks = series, marks
        self.border_subtitle = legend_markup(series, marks) if series else ""
        wait = redraw_interval() - (time.monotonic() - self._drawn_at)
        # The first curve (or a cleared chart) shows at once; only a growing curve waits its turn.
        if wait <= 0 or was_empty or not self.series:
            self._redraw()
        elif self._pending is None:
            self._pending = self.set_timer(wait, self._redraw)

    def _redraw(self) -> None:
        self._pending = None
        self._drawn_at = time.monotonic()
        self.refresh()

    @property
    def points(self) -> int:
        """How many points the longest series holds (what the tests watch grow)."""
        return max((len(s.xs) for s in self.series), default=0)

    def render(self):
        plt = self.plt
        plt.clear_figure()
        limit = max(8, self.size.width * 2)
        if not self.series:
            plt.title(self.empty_message)
        for s in self.series:
            xs, ys = downsample(s.xs, s.ys, limit)
            # NaN gaps (a metric missing from an eval) would break plotext's axis scaling.
            pairs = [(x, y) for x, y in zip(xs, ys) if y == y]
            if not pairs:
                continue
            px, py = [p[0] for p in pairs], [p[1] for p in pairs]
            # No label: plotext would draw its legend inside the plot (the legend is the border instead).
            if s.style != "points":
                plt.plot(px, py, marker=s.marker, color=s.color)
            if s.style != "line":
                plt.scatter(px, py, marker=POINT, color=s.color)
        for m in self.marks:  # last, so a mark is drawn over the curve it calls out
            plt.scatter([m.x], [m.y], marker=m.marker, color=m.color)
        ys = {y for s in self.series for y in s.ys if y == y}
        if len(ys) == 1:  # one value (one evaluation): plotext would pad the axis by half, to 1.24 accuracy
            y = ys.pop()
            pad = max(abs(y) * 0.02, 1e-3)
            plt.ylim(y - pad, y + pad)
        plt.xlabel(self.xlabel if self.series else "")
        return super().render()


class BarChart(PlotextPlot):
    """Horizontal bars: one per category (label counts), with the counts as the x axis."""

    def __init__(self, title: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = title
        self.names: list[str] = []
        self.values: list[float] = []

    def show(self, names: list[str], values: list[float]) -> None:
        self.names, self.values = list(names), list(values)
        self.refresh()

    def render(self):
        plt = self.plt
        plt.clear_figure()
        if self.names:
            # Longest label names are cut so the bars keep most of the width.
            names = [n if len(n) <= 14 else n[:13] + "…" for n in self.names]
            plt.bar(names, self.values, orientation="horizontal", width=0.3, color="cyan")
        else:
            plt.title("no data yet")
        return super().render()


class Histogram(PlotextPlot):
    """A histogram of values (token lengths), with an optional vertical marker (max_length)."""

    def __init__(self, title: str, xlabel: str = "", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = title
        self.xlabel = xlabel
        self.values: list[float] = []
        self.marker: float | None = None
        self.message = "no data yet"

    def show(self, values: list[float], marker: float | None = None, message: str = "no data yet") -> None:
        self.values, self.marker, self.message = list(values), marker, message
        self.refresh()

    def render(self):
        plt = self.plt
        plt.clear_figure()
        if self.values:
            lo, hi = min(self.values), max(self.values)
            # Integer data (token counts) gets at most one bin per value, so no empty comb teeth.
            bins = int(max(1, min(40, self.size.width - 12, hi - lo + 1)))
            plt.hist(self.values, bins=bins, color="cyan")
            # The marker (max_length) only when the data reaches near it; otherwise it squashes the bars.
            if self.marker is not None and hi >= 0.8 * self.marker:
                plt.vline(self.marker, color="red")
            plt.xlabel(self.xlabel)
        else:
            plt.title(self.message)
        return super().render()


class ScatterChart(PlotextPlot):
    """Points against an x axis that may be logarithmic or categorical (a sweep's metric against one parameter).

    Each ``Series`` is drawn as points alone, with its ``marker`` as the glyph (not a plotext line marker), so
    groups such as completed and pruned trials read apart without colour; the legend is the bottom border."""

    def __init__(self, title: str = "", *, empty: str = "no data yet", id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.empty_message = empty
        self.series: list[Series] = []
        self.xlog = False
        self.xticks: tuple[list[float], list[str]] | None = None
        self.xlim: tuple[float, float] | None = None
        self._shape: tuple | None = None
        self.border_title = title

    def show(self, series: list[Series], *, title: str, xlog: bool = False,
             xticks: tuple[list[float], list[str]] | None = None, xlim: tuple[float, float] | None = None,
             empty: str | None = None) -> None:
        """Show ``series`` (x values as they are: plotext takes log10 itself when ``xlog``); ``xlim`` in data
        units. Unchanged data costs nothing (the screen calls this on every poll)."""
        series = [s for s in series if s.xs]
        empty = empty or self.empty_message
        shape = (tuple((s.label, s.marker, s.color, tuple(s.xs), tuple(s.ys)) for s in series), title, xlog,
                 None if xticks is None else (tuple(xticks[0]), tuple(xticks[1])), xlim, empty)
        if shape == self._shape:
            return
        self._shape = shape
        self.series, self.xlog, self.xticks, self.xlim, self.empty_message = series, xlog, xticks, xlim, empty
        self.border_title = title
        self.border_subtitle = "  ".join(f"[{s.color}]{escape(s.marker)}[/] {escape(s.label)}" for s in series)
        self.refresh()

    @property
    def points(self) -> int:
        return sum(len(s.xs) for s in self.series)

    def render(self):
        import math

        plt = self.plt
        plt.clear_figure()
        if not self.series:
            plt.title(self.empty_message)
            return super().render()
        for s in self.series:
            plt.scatter(s.xs, s.ys, marker=s.marker, color=s.color)
        if self.xlog:
            plt.xscale("log")
        if self.xlim is not None:
            lo, hi = self.xlim
            # With a log axis plotext takes the limits as log10 values (the points and ticks in data units).
            plt.xlim(*((math.log10(lo), math.log10(hi)) if self.xlog else (lo, hi)))
        if self.xticks is not None:
            plt.xticks(*self.xticks)
        ys = {y for s in self.series for y in s.ys}
        if len(ys) == 1:  # one value: plotext would pad the axis by half of it
            y = ys.pop()
            pad = max(abs(y) * 0.02, 1e-3)
            plt.ylim(y - pad, y + pad)
        return super().render()
