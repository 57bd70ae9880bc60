"""Causal-LM SFT reports: the tables the CLI prints and the screens show (rich renderables)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from workbench.core.format import one_line


def export_report(manifest: dict[str, Any]) -> list[Any]:
    """An export's validation: greedy parity PyTorch vs ONNX per prompt, then the eval loss per engine."""
    v = manifest.get("validation") or {}
    table = Table(box=None, header_style="bold", padding=(0, 1), pad_edge=False, expand=True)
    table.add_column("prompt", ratio=1, no_wrap=True)
    table.add_column("same", no_wrap=True)
    table.add_column("ONNX generation (greedy)", ratio=2, no_wrap=True)
    for r in v.get("rows") or []:
        table.add_row(one_line(r.get("prompt"), 40), Text("yes", style="green") if r.get("identical") else Text("no", style="red"),
                      one_line(r.get("text"), 80) or "(empty)")
    size = (manifest.get("sizes_bytes") or {}).get("model.onnx")
    parts: list[Any] = [
        Text(f"greedy parity on {v.get('prompts', '?')} prompts of {v.get('data', '?')}: {v.get('identical', '?')} identical"
             f" · max |Δlogit| {v.get('max_abs_logit_diff_prompt', float('nan')):.1e}", style="dim"),
        table,
        Text.assemble(("decoder with past keys/values", "bold"),
                      (f" · {size / 1e6:.1f} MB" if size else "", ""),
                      (" · LoRA merged" if manifest.get("lora") else "", "")),
    ]
    quality = quality_table(manifest)
    if quality is not None:
        parts.append(quality)
    generation = v.get("generation")
    if generation:
        parts.append(Text("generation on " + f"{generation['rows']} eval prompts ({generation['primary']}): " + ", ".join(
            f"{e['engine']} {e[generation['primary']]:.2f}" for e in generation["engines"]), style="dim"))
    if v.get("int8_greedy_identical") is not None:
        parts.append(Text(f"int8 greedy generations identical to PyTorch on {v['int8_greedy_identical']} of "
                          f"{v.get('prompts', '?')} prompts (int8 is judged on perplexity)", style="dim"))
    return parts


def quality_table(manifest: dict[str, Any]) -> Any:
    """Rich table, per engine: teacher-forced eval loss and perplexity on the eval conversations (CLI and Export screen)."""
    quality = (manifest.get("validation") or {}).get("quality")
    if not quality:
        return None
    sizes = manifest.get("sizes_bytes") or {}
    size_of = {"onnx-fp32": sizes.get("model.onnx"), "onnx-int8": sizes.get("model.int8.onnx")}
    table = Table(title=f"eval loss on {quality['rows']} conversations ({quality['response_tokens']} response tokens)",
                  title_justify="left", title_style="dim", box=None, header_style="bold", padding=(0, 1), pad_edge=False)
    for col in ("engine", "eval loss", "perplexity", "Δ ppl", "max |Δ loss|", "size"):
        table.add_column(col, justify="left" if col == "engine" else "right", no_wrap=True)
    for e in quality["engines"]:
        rise, diff, size = e.get("perplexity_increase_pct"), e.get("max_abs_loss_diff"), size_of.get(e["engine"])
        table.add_row(e["engine"], f"{e['eval_loss']:.4f}", f"{e['perplexity']:.4g}",
                      "—" if rise is None else f"{rise:+.2f}%", "—" if diff is None else f"{diff:.1e}",
                      "—" if size is None else f"{size / 1e6:.1f} MB")
    return table


def bench_table(result: dict[str, Any]) -> Any:
    """Rich table of a causal-LM benchmark (``bench.bench_lm_export``): prefill and per-token decode, per engine."""
    st = result.get("settings") or {}
    table = Table(title=f"{st.get('threads')} thread(s), batch 1: prefill of a {st.get('prompt_tokens')}-token prompt, then "
                        "one token with its cache", title_justify="left", title_style="dim", box=None, header_style="bold",
                  padding=(0, 1), pad_edge=False)
    engines = result.get("engines") or {}
    for col in ("engine", "prefill ms", "prompt tok/s", "×", "decode ms/token", "tokens/s", "×", "size"):
        table.add_column(col, justify="left" if col == "engine" else "right", no_wrap=True)
    for name, row in engines.items():
        size = row.get("size_bytes")
        table.add_row(name, f"{row['prefill_p50_ms']:.2f}",
                      f"{row['prefill_tokens_per_s']:.0f}" if "prefill_tokens_per_s" in row else "—",
                      f"{row['speedup_prefill_p50']:.2f}" if "speedup_prefill_p50" in row else "1.00",
                      f"{row['decode_p50_ms']:.2f}", f"{row['decode_tokens_per_s']:.0f}",
                      f"{row['speedup_decode_p50']:.2f}" if "speedup_decode_p50" in row else "1.00",
                      "—" if size is None else f"{size / 1e6:.1f} MB")
    return table


def bench_quality_table(result: dict[str, Any]) -> Any:
    """What the export measured of each engine's output, beside the speed table (None when it measured nothing)."""
    engines = result.get("engines") or {}
    if not any("perplexity" in row for row in engines.values()):
        return None
    score = result.get("generation_metric")
    table = Table(title="the export's checks on held-out data", title_justify="left", title_style="dim", box=None,
                  header_style="bold", padding=(0, 1), pad_edge=False)
    for col in ("engine", "perplexity", "greedy = pytorch", *([score] if score else [])):
        table.add_column(col, justify="left" if col == "engine" else "right", no_wrap=True)
    for name, row in engines.items():
        table.add_row(name, f"{row['perplexity']:.4g}" if "perplexity" in row else "—", row.get("greedy_identical", "—"),
                      *([f"{row[score]:.2f}" if score in row else "—"] if score else []))
    return table


def eval_report(report: dict[str, Any], *, title: str) -> list[Any]:
    """``sft-workbench eval``: eval loss, perplexity and the greedy samples."""
    parts: list[Any] = [Text.assemble((title, "bold"), f" ({report['rows']} rows, {report['response_tokens']} response tokens): eval loss ",
                                      (f"{report['eval_loss']:.4f}", "bold"), "  perplexity ", (f"{report['perplexity']:.2f}", "bold"))]
    for i, s in enumerate(report["samples"], 1):
        parts.append(Text.assemble((f"{i}.", "bold"), " " + " ".join(s["prompt"].split())[:100]))
        parts.append(Text.assemble("   ", ("reference", "dim"), " " + " ".join(s["reference"].split())[:100]))
        parts.append(Text.assemble("   ", ("generated", "dim"), " ", (" ".join(s["generated"].split())[:100], "green")))
    return parts
