"""How a comparison reads: the plain-words verdicts of the paired tests, the number formats, and the two
renderers (``render_markdown`` for a pull request, ``render_rich`` for the terminal). Everything here only
formats a computed ``Comparison``; rich is imported inside ``render_rich``, not at module import."""

from __future__ import annotations

import math
import re
from typing import Any

from workbench.core.compare.data import CLASS_METRICS, Comparison, PairTest, RunPrediction, filter_disagreements


# ------------------------------------------------------------------------------------------ verdicts
def format_p(p: float) -> str:
    """p-values as people read them: "= 0.71", "= 0.035", "< 0.001" (with the comparison sign).

    Below 0.1 three decimals are kept so that a value near the usual 0.05 threshold is not rounded across it.
    """
    if p < 0.001:
        return "< 0.001"
    if p < 0.1:
        return f"= {p:.3f}"
    return f"= {p:.2f}"


def _pt(value: float, signed: bool = True) -> str:
    return f"{value:+.1f}" if signed else f"{value:.1f}"


GENERATION_NAMES = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L", "bleu": "sentence BLEU",
                    "chrf": "chrF", "exact_match": "exact match"}


def verdict_text(test: PairTest, name_a: str, name_b: str, *, confidence: float = 0.95) -> str:
    """The plain-words verdict for a computed ``PairTest`` (names are how the runs are called)."""
    level = f"{confidence * 100:g}%"
    p, lo, hi, diff = test.p_value, test.ci_low_pt, test.ci_high_pt, test.diff_pt
    on, test_name = {"entity_f1": (" on entity F1", "randomization"), "qa_f1": (" on F1", "permutation"),
                     "generation": (f" on {GENERATION_NAMES.get(test.metric or '', test.metric)}", "permutation"),
                     }.get(test.measure, ("", "McNemar"))
    if test.significant:
        # Speak from the winner's side, so the difference is always positive.
        if diff > 0:
            return f"{name_b} is better than {name_a}{on}: {_pt(diff)} pt, {level} CI [{_pt(lo, False)}, {_pt(hi, False)}], p {format_p(p)}"
        return f"{name_a} is better than {name_b}{on}: {_pt(-diff)} pt, {level} CI [{_pt(-hi, False)}, {_pt(-lo, False)}], p {format_p(p)}"
    ci = f"bootstrap {level} CI [{_pt(lo)}, {_pt(hi)}] pt"
    alpha = 1.0 - confidence
    if p < alpha:
        return (f"inconclusive: {test_name} p {format_p(p)} but the {ci} includes 0 "
                f"({name_b} − {name_a}{on}: {_pt(diff)} pt)")
    if lo > 0 or hi < 0:
        return (f"inconclusive: the {ci} excludes 0 but {test_name} p {format_p(p)} "
                f"({name_b} − {name_a}{on}: {_pt(diff)} pt)")
    return f"no significant difference{on} ({test_name} p {format_p(p)}; {ci})"


def loss_verdict_text(test: PairTest, name_a: str, name_b: str, *, confidence: float = 0.95) -> str:
    """The plain-words verdict for a computed loss ``PairTest`` (lower loss is better)."""
    level = f"{confidence * 100:g}%"
    p, lo, hi, diff = test.p_value, test.ci_low_loss, test.ci_high_loss, test.diff_loss
    ppl = lambda loss: f"{math.exp(loss):.4g}" if loss < 700 else "inf"
    if test.significant:
        (better, worse, d, l, h, lb, lw) = ((name_b, name_a, -diff, -hi, -lo, test.loss_b, test.loss_a) if diff < 0
                                            else (name_a, name_b, diff, lo, hi, test.loss_a, test.loss_b))
        return (f"{better} has the lower eval loss: {d:.4f} nats/token less than {worse} (perplexity {ppl(lb)} vs "
                f"{ppl(lw)}), {level} CI [{l:.4f}, {h:.4f}], p {format_p(p)}")
    ci = f"bootstrap {level} CI [{lo:+.4f}, {hi:+.4f}] nats/token"
    if p < 1.0 - confidence:
        return f"inconclusive: permutation p {format_p(p)} but the {ci} includes 0 ({name_b} − {name_a}: {diff:+.4f})"
    if lo > 0 or hi < 0:
        return f"inconclusive: the {ci} excludes 0 but permutation p {format_p(p)} ({name_b} − {name_a}: {diff:+.4f})"
    return f"no significant difference in eval loss (permutation p {format_p(p)}; {ci})"


# ------------------------------------------------------------------------------------------ rendering
def format_metric(key: str, value: float | None) -> str:
    """A metrics-table value as shown to people."""
    if value is None:
        return "—"
    if key == "parameters":
        return f"{value / 1e6:.1f} M" if value >= 1e5 else f"{value:,.0f}"
    if key == "train_runtime":
        return f"{value:.1f}"
    if key == "samples_per_s":
        return f"{value:.1f}"
    if key == "epsilon":
        return f"{value:.2f}"
    return f"{value:.4f}"


def format_delta(key: str, delta: float | None) -> str:
    """A delta vs run A: points for accuracy and F1, the metric's own unit otherwise."""
    if delta is None:
        return "—"
    if key in ("accuracy", "macro_f1", "precision", "recall", "f1", "token_accuracy"):
        return f"{delta * 100:+.1f} pt"
    if key == "parameters":
        return f"{delta / 1e6:+.1f} M" if abs(delta) >= 1e5 else f"{delta:+,.0f}"
    if key == "eval_loss":
        return f"{delta:+.4f}"
    return f"{delta:+.1f}"


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _md(text: Any, limit: int | None = None) -> str:
    """Text safe inside a markdown table cell."""
    s = " ".join(str(text).split())
    if limit and len(s) > limit:
        s = s[: limit - 1] + "…"
    s = s.replace("\\", "\\\\").replace("|", "\\|")
    # Only what could open an HTML tag is escaped, so "p < 0.001" stays readable in the raw text.
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", s)


def _table(header: list[str], rows: list[list[str]], align: list[str] | None = None) -> list[str]:
    align = align or ["l"] + ["r"] * (len(header) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    return ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"] + ["| " + " | ".join(r) + " |" for r in rows]


def _prediction_cell(p: RunPrediction | None) -> str:
    if p is None:
        return "—"
    score = f" ({p.score:.2f})" if p.score is not None else ""
    return f"{'✔' if p.correct else '✘'} {p.predicted}{score}"


def tests_footnote(c: Comparison) -> str:
    """How the pairs of ``c`` were tested, naming only the tests that were used."""
    level = f"{c.settings['confidence'] * 100:g}%"
    used = {p.measure for p in c.pairs if not p.refused} or {"accuracy"}
    resamples = f"{c.settings['n_boot']:,} resamples, seed {c.settings['seed']}"
    parts = {
        "accuracy": f"McNemar exact test on the examples where exactly one run is right; paired bootstrap {level} "
                    "interval of the accuracy difference",
        "entity_f1": f"entity F1 (NER): approximate randomization, swapping whole sentences between the runs; paired "
                     f"bootstrap {level} interval over sentences",
        "loss": f"eval loss (SFT): sign-flip permutation test and paired bootstrap {level} interval of the "
                "token-weighted loss difference per response token",
        "qa_f1": f"F1 (question answering): sign-flip permutation test and paired bootstrap {level} interval of the "
                 "per-question F1 difference; exact match: McNemar exact test",
    }
    return "; ".join(parts[m] for m in ("accuracy", "entity_f1", "qa_f1", "loss") if m in used) + f" ({resamples})."


def render_markdown(comparison: Comparison, *, top: int = 10, gold: str | None = None) -> str:
    """A Markdown report to paste into a pull request: verdicts first, then the evidence.

    ``top`` caps the disagreement list; ``gold`` keeps only disagreements of that gold class.
    """
    c = comparison
    letters = [r.letter for r in c.runs]
    out = [f"## Run comparison: {' vs '.join(f'{r.letter} `{_md(r.label)}`' for r in c.runs)}", ""]
    out += _table(["", "run", "id", "status", "model", "eval set"],
                  [[r.letter, _md(r.label), f"`{r.id}`", r.status, _md(r.model or "—"),
                    _md(f"{r.eval_source or '—'} ({r.eval_rows if r.eval_rows is not None else '?'} rows)")]
                   for r in c.runs], align=["l"] * 6)
    out.append("")
    if c.same_eval:
        out.append(f"All runs were evaluated on the same {c.eval_rows} examples.")
    if c.notes:
        out += [""] + [f"> - ⚠ {_md(note)}" for note in c.notes]
    out += ["", "### Verdict", ""]
    for p in c.pairs:
        line = f"- **{letters[p.b]} vs {letters[p.a]}**: {_md(p.verdict)}"
        if not p.refused and p.measure == "loss":
            line += (f" — {p.n} examples; lower loss: {letters[p.a]} on {p.a_only}, {letters[p.b]} on {p.b_only}")
        elif not p.refused:
            line += (f" — {p.n} {'sentences' if p.measure == 'entity_f1' else 'examples'}; "
                     f"{letters[p.a]} right/{letters[p.b]} wrong: {p.a_only}, {letters[p.b]} right/{letters[p.a]} wrong: {p.b_only}"
                     + (f"; entity F1 {p.f1_a:.4f} vs {p.f1_b:.4f}" if p.measure == "entity_f1" else "")
                     + (f"; exact match {p.accuracy_a:.4f} vs {p.accuracy_b:.4f} (McNemar p {format_p(p.p_exact_match)})"
                        if p.measure == "qa_f1" else ""))
        out.append(line)
    out += ["", f"<sub>{tests_footnote(c)}</sub>", "", "### Metrics", ""]
    header = ["metric"] + [f"{r.letter} {_md(r.label)}" for r in c.runs] + [f"Δ {r.letter}−A" for r in c.runs[1:]]
    rows = []
    for m in c.metrics:
        cells = [format_metric(m.key, v) for v in m.values]
        cells = [f"**{s}**" if i in m.best else s for i, s in enumerate(cells)]
        rows.append([m.label + (" (main)" if m.main else "")] + cells + [format_delta(m.key, d) for d in m.deltas[1:]])
    out += _table(header, rows)
    out += ["", "<sub>Best value per row in bold.</sub>", "", "### Config diff", ""]
    if c.config_diff:
        out += _table(["field"] + letters, [[f"`{d.key}`"] + [_md(_value(v)) for v in d.values] for d in c.config_diff],
                      align=["l"] * (len(letters) + 1))
    else:
        out.append("The configs are identical (apart from the run name).")
    if c.per_class:
        out += ["", "### Per class", ""]
        header = ["class", "metric"] + letters + [f"Δ {x}−A" for x in letters[1:]]
        rows = []
        for row in c.per_class:
            support = "/".join("—" if s is None else str(s) for s in dict.fromkeys(row.support))
            for m in CLASS_METRICS:
                rows.append([f"{_md(row.label)} (n={support})" if m == CLASS_METRICS[0] else "", m]
                            + ["—" if v is None else f"{v:.3f}" for v in row.scores[m]]
                            + [format_delta(m, d) for d in row.deltas[m][1:]])
        out += _table(header, rows, align=["l", "l"] + ["r"] * (len(header) - 2))
    matrices = [(c.runs[i], cm) for i, cm in enumerate(c.confusion) if cm is not None]
    if matrices:
        out += ["", "<details><summary>Confusion matrices (rows gold, columns predicted)</summary>", ""]
        for r, cm in matrices:
            out += [f"**{r.letter} {_md(r.label)}**", ""]
            out += _table(["gold \\ predicted"] + [_md(x) for x in cm.labels],
                          [[_md(label)] + [str(v) for v in row] for label, row in zip(cm.labels, cm.matrix)])
            out.append("")
        out.append("</details>")
    items = filter_disagreements(c.disagreements, gold=gold)
    if len(c.disagreement_runs) >= 2:
        shown = items[:top]
        scope = f" with gold class {_md(gold)}" if gold else ""
        out += ["", f"<details><summary>Disagreements{scope}: {len(items)} examples "
                f"(showing {len(shown)}, most confident mistakes first)</summary>", ""]
        if shown:
            out += _table(["id", "gold"] + [letters[i] for i in c.disagreement_runs] + ["text"],
                          [[_md(d.id), _md(d.gold)] + [_prediction_cell(d.predictions[i]) for i in c.disagreement_runs]
                           + [_md(d.input, 160)] for d in shown], align=["l"] * (len(c.disagreement_runs) + 3))
        else:
            out.append("None.")
        out += ["", "</details>"]
    return "\n".join(out) + "\n"


def render_rich(comparison: Comparison, *, top: int = 10, gold: str | None = None) -> list[Any]:
    """Rich renderables for a terminal: header, verdicts, metrics, config diff, per class, confusion and
    the top disagreements (``gold`` keeps one gold class). rich is imported here, not at module import."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    c = comparison
    letters = [r.letter for r in c.runs]
    parts: list[Any] = []
    title = Text.assemble(*[x for r in c.runs for x in ((f" {r.letter} ", "bold reverse"), (f" {r.label} ", "bold"),
                                                        (f"{r.status}  ", "dim"))])
    parts.append(title)
    if c.same_eval:
        parts.append(Text(f"same eval set ✔ ({c.eval_rows} examples)", style="green"))
    for note in c.notes:
        parts.append(Text(f"⚠ {note}", style="yellow"))

    losses = any(p.measure == "loss" for p in c.pairs)
    what = ("eval loss per token, nats; A✔B✘ = A lower" if losses else
            "entity F1; A✔B✘ counts whole sentences" if any(p.measure == "entity_f1" for p in c.pairs) else
            "per-question F1; A✔B✘ counts exact matches" if any(p.measure == "qa_f1" for p in c.pairs) else "accuracy")
    verdicts = Table(title=f"significance (paired on the same examples: {what})",
                     title_justify="left", box=None, header_style="bold")
    unit = "nats" if losses else "pt"
    for col in ("pair", "n", "A✔B✘", "A✘B✔", f"Δ {unit}", f"{c.settings['confidence'] * 100:g}% CI {unit}", "p", "verdict"):
        verdicts.add_column(col, justify="left" if col in ("pair", "verdict") else "right", overflow="fold")
    for p in c.pairs:
        style = "green" if p.significant else ("dim" if p.refused else "")
        if p.refused:
            verdicts.add_row(f"{letters[p.b]} vs {letters[p.a]}", "—", "—", "—", "—", "—", "—", Text(p.verdict, style=style))
        elif p.measure == "loss":
            verdicts.add_row(f"{letters[p.b]} vs {letters[p.a]}", str(p.n), str(p.a_only), str(p.b_only),
                             f"{p.diff_loss:+.4f}", f"[{p.ci_low_loss:+.4f}, {p.ci_high_loss:+.4f}]",
                             format_p(p.p_value).lstrip("= "), Text(p.verdict, style=style))
        else:
            verdicts.add_row(f"{letters[p.b]} vs {letters[p.a]}", str(p.n), str(p.a_only), str(p.b_only),
                             f"{p.diff_pt:+.1f}", f"[{p.ci_low_pt:+.1f}, {p.ci_high_pt:+.1f}]", format_p(p.p_value).lstrip("= "),
                             Text(p.verdict, style=style))
    parts.append(verdicts)

    metrics = Table(title="metrics (best in bold green)", title_justify="left", box=None, header_style="bold")
    metrics.add_column("metric")
    for r in c.runs:
        metrics.add_column(f"{r.letter} {r.label}", justify="right")
    for r in c.runs[1:]:
        metrics.add_column(f"Δ {r.letter}−A", justify="right")
    for m in c.metrics:
        cells = [Text(format_metric(m.key, v), style="bold green" if i in m.best else "") for i, v in enumerate(m.values)]
        metrics.add_row(m.label, *cells, *[format_delta(m.key, d) for d in m.deltas[1:]])
    parts.append(metrics)

    config = Table(title="config diff", title_justify="left", box=None, header_style="bold")
    config.add_column("field")
    for x in letters:
        config.add_column(x)
    for d in c.config_diff:
        config.add_row(d.key, *[_value(v) for v in d.values])
    parts.append(config if c.config_diff else Text("config diff: identical (apart from the run name)"))

    if c.per_class:
        per = Table(title="per class (P precision, R recall; Δ in points vs A)", title_justify="left", box=None,
                    header_style="bold")
        per.add_column("class")
        per.add_column("n", justify="right")
        short = {"precision": "P", "recall": "R", "f1": "F1"}
        for m in CLASS_METRICS:
            for x in letters:
                per.add_column(f"{short[m]} {x}", justify="right")
            for x in letters[1:]:
                per.add_column(f"Δ{short[m]} {x}", justify="right")
        for row in c.per_class:
            cells = []
            for m in CLASS_METRICS:
                cells += ["—" if v is None else f"{v:.3f}" for v in row.scores[m]]
                cells += [format_delta(m, d).replace(" pt", "") for d in row.deltas[m][1:]]
            per.add_row(row.label, "/".join("—" if s is None else str(s) for s in dict.fromkeys(row.support)), *cells)
        parts.append(per)

    for r, cm in ((c.runs[i], cm) for i, cm in enumerate(c.confusion) if cm is not None):
        # The heading is a line of its own: as a table title it would wrap to the narrow matrix's width.
        heading = Text(f"confusion {r.letter} {r.label} (rows gold, columns predicted)", style="italic")
        t = Table(box=None, header_style="bold")
        t.add_column("")
        for label in cm.labels:
            t.add_column(label, justify="right")
        for label, row in zip(cm.labels, cm.matrix):
            t.add_row(label, *map(str, row))
        parts.append(Group(heading, t))

    if len(c.disagreement_runs) >= 2:
        items = filter_disagreements(c.disagreements, gold=gold)
        scope = f", gold {gold}" if gold else ""
        t = Table(title=f"disagreements{scope}: {len(items)} (top {min(top, len(items))}, most confident mistakes first)",
                  title_justify="left", box=None, header_style="bold")
        t.add_column("id")
        t.add_column("gold")
        for i in c.disagreement_runs:
            t.add_column(letters[i])
        t.add_column("text", overflow="fold", ratio=1)
        for d in items[:top]:
            cells = [Text(_prediction_cell(d.predictions[i]), style="green" if d.predictions[i].correct else "red")
                     for i in c.disagreement_runs]
            text = d.input if len(d.input) <= 200 else d.input[:199] + "…"
            t.add_row(str(d.id), d.gold, *cells, text)
        parts.append(t)
    return parts
