"""causal-lm-sft in the TUI: sample generations in Monitor and Compare, streaming generation in the Playground."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from ui_helpers import new_app, screen_text, wait_for_text, wait_until

import canned

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sft_helpers import tiny_gpt2_dir  # noqa: E402,F401  (fixture)

PROMPTS = ["Give the opposite of the word. ancient", "What is 73 + 89?", "Name a primary colour."]


def sft_run(ws: Path, name: str, *, generated: list[str], perplexity: float, age_s: float) -> Path:
    """A finished canned causal-lm-sft run with eval loss, perplexity and saved sample generations."""
    import math

    path = canned.make_run(ws, name, status="completed", age_s=age_s, steps=30, max_steps=30,
                           final={"eval_loss": math.log(perplexity)})
    info = json.loads((path / "run.json").read_text())
    info.update(task="causal-lm-sft", labels=[], best_metric={"name": "eval_loss", "value": math.log(perplexity)})
    info["metrics"] = {"eval_loss": math.log(perplexity), "perplexity": perplexity}
    info["evaluation"] = {"samples": [{"id": i, "prompt": p, "reference": f"reference {i}", "generated": g}
                                      for i, (p, g) in enumerate(zip(PROMPTS, generated))],
                          "sample_settings": {"decoding": "greedy", "max_new_tokens": 64}}
    (path / "run.json").write_text(json.dumps(info))
    return path


def exportable_sft_run(ws: Path, name: str, model_dir: Path) -> Path:
    """A canned finished SFT run with a real (tiny) model and the sample instructions as its data, so it exports."""
    run = sft_run(ws, name, generated=["x"], perplexity=30.0, age_s=60)
    shutil.copytree(model_dir, run / "model")
    info = json.loads((run / "run.json").read_text())
    info["config"].update(data=str(Path(__file__).resolve().parents[2] / "sample_data" / "instructions"))
    (run / "run.json").write_text(json.dumps(info))
    return run

async def test_monitor_shows_perplexity_and_the_sample_generations(workspace):
    run = sft_run(workspace, "sft-done", generated=["modern", "162", "blue"], perplexity=12.5, age_s=600)
    app = new_app(workspace)
    async with app.run_test(size=(100, 40)) as pilot:
        app.open_monitor(run.name)
        await wait_until(pilot, lambda: app.current_mode == "monitor" and app.screen.polls > 0, what="first poll")
        panel = app.screen.query_one("#mon-samples")
        await wait_until(pilot, lambda: panel.display and panel.count == 3, what="the samples panel")
        text = screen_text(app)
        assert "perplexity 12.5000" in text and "Sample generations" in text
        app.screen.query_one("#mon-body").scroll_end(animate=False)
        text = await wait_for_text(pilot, "generated blue")
        assert "3. Name a primary colour." in text and "reference reference 2" in text


async def test_monitor_hides_the_samples_panel_for_classification_runs(canned_ws, runs):
    app = new_app(canned_ws)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_monitor(runs["completed"])
        await wait_until(pilot, lambda: app.current_mode == "monitor" and app.screen.polls > 0, what="first poll")
        assert app.screen.query_one("#mon-final").display
        assert not app.screen.query_one("#mon-samples").display


async def test_compare_shows_generations_side_by_side(workspace):
    a = sft_run(workspace, "sft-a", generated=["old", "160", "red"], perplexity=20.0, age_s=900)
    b = sft_run(workspace, "sft-b", generated=["modern", "162", "blue"], perplexity=9.0, age_s=600)
    app = new_app(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        app.open_compare([a.name, b.name])
        await wait_until(pilot, lambda: app.current_mode == "compare" and app.screen.comparison is not None,
                         what="the comparison")
        perplexity = next(m for m in app.screen.comparison.metrics if m.key == "perplexity")
        assert perplexity.values == [20.0, 9.0] and perplexity.best == [1]
        app.screen.query_one("TabbedContent").active = "samples"
        text = await wait_for_text(pilot, "Name a primary colour.")
        for prompt, ga, gb in zip(PROMPTS, ["old", "160", "red"], ["modern", "162", "blue"]):
            line = next(l for l in text.splitlines() if prompt[:20] in l)
            assert line.index(ga) < line.index(gb)  # A's generation left of B's, on the prompt's row


async def test_compare_gives_a_verdict_on_per_example_losses(workspace):
    a = sft_run(workspace, "sft-a", generated=["old", "160", "red"], perplexity=20.0, age_s=900)
    b = sft_run(workspace, "sft-b", generated=["modern", "162", "blue"], perplexity=9.0, age_s=600)
    for path, shift in ((a, 0.0), (b, -0.3)):  # B lower on every example by 0.3 nats
        (path / "predictions.jsonl").write_text("".join(
            json.dumps({"id": i, "input": f"p{i}", "reference": f"r{i}", "loss": 2.0 + (i % 7) / 10 + shift, "tokens": 10 + i})
            + "\n" for i in range(40)))
    app = new_app(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        app.open_compare([a.name, b.name])
        await wait_until(pilot, lambda: app.current_mode == "compare" and app.screen.comparison is not None,
                         what="the comparison")
        pair = app.screen.comparison.pairs[0]
        assert pair.measure == "loss" and pair.significant and pair.winner == 1
        await wait_for_text(pilot, "sft-b has the lower eval loss")


async def test_playground_streams_a_generation_from_an_sft_run(workspace, tiny_gpt2_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from workbench.core.tasks.causal_lm_sft.prompts import ensure_special_tokens
    from workbench.core.tasks.causal_lm_sft.evaluate import generate

    run = sft_run(workspace, "sft-play", generated=["x", "y", "z"], perplexity=30.0, age_s=60)
    shutil.copytree(tiny_gpt2_dir, run / "model")
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        screen = app.screen
        await wait_until(pilot, lambda: screen.ready, timeout=60, what="model loaded")
        await wait_for_text(pilot, "ready · type a prompt")
        assert screen.generative and screen.query_one("#pg-gen").display
        screen.query_one("#pg-max-tokens").value = "24"
        screen.query_one("#pg-text").focus()
        await pilot.press(*"Name a colour.", "enter")
        await wait_until(pilot, lambda: screen.last_generation is not None, timeout=30, what="generation")
    model = AutoModelForCausalLM.from_pretrained(str(tiny_gpt2_dir)).eval()
    tok = AutoTokenizer.from_pretrained(str(tiny_gpt2_dir))
    ensure_special_tokens(tok)
    ids = generate(model, tok, [{"role": "user", "content": "Name a colour."}], max_new_tokens=24)
    expected = tok.decode(ids, skip_special_tokens=True)
    assert screen.last_generation == expected and len(ids) == 24  # temperature 0 is greedy; 24 tokens, no EOS
    assert screen.stream_updates >= 2  # it arrived in pieces, drawn as they came


async def test_playground_rejects_bad_generation_settings(workspace, tiny_gpt2_dir):
    run = sft_run(workspace, "sft-play", generated=["x"], perplexity=30.0, age_s=60)
    shutil.copytree(tiny_gpt2_dir, run / "model")
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        screen = app.screen
        await wait_until(pilot, lambda: screen.ready, timeout=60, what="model loaded")
        screen.query_one("#pg-top-p").value = "1.5"
        screen.query_one("#pg-text").focus()
        await pilot.press(*"hello", "enter")
        await wait_for_text(pilot, "top-p in (0, 1]")
        assert screen.last_generation is None


async def test_playground_generates_from_an_sft_onnx_export(workspace, tiny_gpt2_dir):
    from workbench.core.export import export_run
    from workbench.core.tasks.causal_lm_sft.predict import OnnxGenerator
    from workbench.core.runs import RunStore

    run = exportable_sft_run(workspace, "sft-onnx", tiny_gpt2_dir)
    store = RunStore(workspace)
    manifest = export_run(store.get(run.name), workspace=store.workspace)
    expected = OnnxGenerator(manifest["path"]).generate("Name a colour.", max_new_tokens=12)
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        screen = app.screen
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: screen.source == "export" and screen.ready, timeout=30, what="export loaded")
        await wait_for_text(pilot, "ONNX with key/value cache")
        screen.query_one("#pg-max-tokens").value = "12"
        screen.query_one("#pg-text").focus()
        await pilot.press(*"Name a colour.", "enter")
        await wait_until(pilot, lambda: screen.last_generation is not None, timeout=30, what="generation")
        assert screen.last_generation == expected


async def test_export_screen_exports_an_sft_run_with_greedy_parity(workspace, tiny_gpt2_dir):
    exportable_sft_run(workspace, "sft-export", tiny_gpt2_dir)
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("7")
        screen = app.screen
        await wait_until(pilot, lambda: screen.run_id, what="a run chosen")
        await wait_for_text(pilot, "sft-export  perplexity 30.00")
        await pilot.press("escape", "e")
        await wait_until(pilot, lambda: screen.manifest, timeout=60, what="export finished")
        shown = await wait_for_text(pilot, "greedy parity on 4 prompts")
        assert "4 identical" in shown and "decoder with past keys/values" in shown
        assert screen.manifest["task"] == "causal-lm-sft" and screen.manifest["validation"]["all_identical"]
        assert (workspace / "exports" / "sft-export" / "model.onnx").is_file()


async def test_datasets_screen_inspects_instruction_data(workspace):
    from test_datasets_screen import SAMPLE, select_in_tree

    from workbench.ui.widgets.charts import BarChart, Histogram
    from workbench.ui.widgets.dataset_stats import DatasetStats

    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await select_in_tree(pilot, SAMPLE / "instructions")
        stats = app.screen.query_one(DatasetStats)
        bars = stats.query_one(BarChart)
        await wait_until(pilot, lambda: bars.names == ["1 turn"], timeout=30, what="turn counts")
        assert bars.values == [100]
        await pilot.press("i")
        await wait_for_text(pilot, "task causal-lm-sft")
        await wait_for_text(pilot, "train 100 rows · 1 turn 100")
        hist = stats.query_one(Histogram)
        await wait_until(pilot, lambda: len(hist.values) == 100, timeout=60, what="token lengths")


async def test_export_screen_exports_a_causal_lm_with_int8_and_benchmarks_it(workspace, tiny_gpt2_dir):
    exportable_sft_run(workspace, "lm-export", tiny_gpt2_dir)
    app = new_app(workspace)
    async with app.run_test(size=(110, 40)) as pilot:
        await pilot.press("7")
        screen = app.screen
        await wait_until(pilot, lambda: screen.run_id, what="a run chosen")
        screen.query_one("#ex-int8").value = True
        screen.query_one("#ex-drop").value = "1000"  # random weights: int8's perplexity change means nothing here
        await pilot.press("escape", "e")
        await wait_until(pilot, lambda: screen.manifest, timeout=120, what="export finished")
        text = await wait_for_text(pilot, "eval loss on 20 conversations")
        assert "onnx-int8" in text and "int8 greedy generations identical to PyTorch" in " ".join(text.split())
        assert (workspace / "exports" / "lm-export" / "model.int8.onnx").is_file()
        await pilot.press("escape", "b")
        await wait_until(pilot, lambda: screen.bench_result, timeout=120, what="benchmark finished")
        text = await wait_for_text(pilot, "decode ms/token")
        assert list(screen.bench_result["engines"]) == ["pytorch", "onnx-fp32", "onnx-int8"]


async def test_configure_estimates_memory_for_the_task_the_data_says(workspace, tiny_gpt2_dir):
    """Task auto: the estimate reads the data's columns, so instruction data counts a causal LM's vocabulary logits
    (at the task's evaluation batch of 16) and classification data does not."""
    from ui_helpers import type_into

    from workbench.core.config import RunConfig
    from workbench.core.memory import estimate_for_run

    sample = Path(__file__).resolve().parents[2] / "sample_data"
    app = new_app(workspace)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3")
        memory = app.screen.query_one("#cfg-memory")
        await type_into(pilot, "model", str(tiny_gpt2_dir))
        await type_into(pilot, "data", str(sample / "instructions"))
        await wait_until(pilot, lambda: "logits" in str(memory.render()), what="the causal LM's estimate", timeout=60)
        causal = str(memory.render())
        await type_into(pilot, "data", str(sample / "topics"))
        await wait_until(pilot, lambda: "GiB" in str(memory.render()) and "logits" not in str(memory.render()),
                         what="the classifier's estimate", timeout=60)
    est, _ = estimate_for_run(RunConfig(data=str(sample / "instructions"), model=str(tiny_gpt2_dir)), "causal-lm-sft")
    from transformers import AutoConfig

    from workbench.core.memory import LOGIT_COPIES_EVAL

    vocab = AutoConfig.from_pretrained(tiny_gpt2_dir).vocab_size
    assert est.eval_logits == 4.0 * 128 * vocab * LOGIT_COPIES_EVAL * 16  # max_length 128, evaluation batch 16
    assert f"{est.total / 2**30:.1f} GiB" in causal and f"evaluation {est.eval_logits / 2**30:.2f}" in causal
