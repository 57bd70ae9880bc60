"""Differential privacy in the app: Configure's privacy group and computed noise multiplier, the Monitor's ε."""

from __future__ import annotations

import json
import time
from pathlib import Path

from textual.widgets import Static
from ui_helpers import new_app, screen_text, type_into, wait_for_text, wait_until

import canned
from workbench.ui.widgets.run_panels import ProgressPanel

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


def side_text(app, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def test_configure_computes_the_noise_multiplier_as_you_type(workspace):
    from opacus.accountants.utils import get_noise_multiplier

    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        assert "off (set dp_epsilon)" in side_text(app, "#cfg-privacy")
        await type_into(pilot, "data", str(SAMPLE / "sentiment"))
        await type_into(pilot, "dp_epsilon", "8")
        await wait_until(pilot, lambda: "examples" in side_text(app, "#cfg-privacy"), timeout=30,
                         what="noise multiplier")
        # 320 training rows, the private default batch of an eighth of them (40): q = 1/8, 3 epochs = 24 steps, δ = 1e-3.
        sigma = get_noise_multiplier(target_epsilon=8, target_delta=1e-3, sample_rate=1 / 8, steps=24, accountant="prv",
                                     epsilon_tolerance=0.01)
        text = side_text(app, "#cfg-privacy")
        assert f"noise multiplier {sigma:.3f}" in text and "320 examples" in text and "δ 1e-03" in text
        assert "batch ≈40" in text
        assert "--dp-epsilon 8" in app.screen.command_line
        # A batch larger than the training set cannot be Poisson-sampled from it: said in place.
        await type_into(pilot, "batch_size", "400")
        await wait_until(pilot, lambda: "larger than the 320 training examples" in side_text(app, "#cfg-privacy"),
                         timeout=30, what="refusal")
        await type_into(pilot, "dp_epsilon", "-1")  # invalid: the form's own error, no computation
        await wait_until(pilot, lambda: "dp_epsilon must be greater than 0" in " ".join(screen_text(app).split())
                         or "fix the fields" in side_text(app, "#cfg-privacy"), what="inline error")


async def test_configure_refuses_a_combination_that_breaks_the_guarantee(workspace):
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await type_into(pilot, "dp_epsilon", "8")
        await type_into(pilot, "grad_accum", "4")
        await wait_until(pilot, lambda: app.screen.errors.get("grad_accum", "").startswith("grad_accum must be 1 with dp_epsilon"),
                         what="grad_accum refused")


async def test_monitor_shows_the_budget_spent_next_to_the_target(workspace):
    path = canned.make_run(workspace, "private-sst2", status="completed", age_s=600, steps=60, max_steps=60,
                           final={"accuracy": 0.81, "macro_f1": 0.80, "eval_loss": 0.44})
    info = json.loads((path / "run.json").read_text())
    info["privacy"] = {"target_epsilon": 8.0, "delta": 1e-5, "epsilon": 7.96}
    (path / "run.json").write_text(json.dumps(info))
    events = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
    for e in events:
        if e["kind"] == "train":
            e["epsilon"] = round(7.96 * (e["step"] / 60) ** 0.5, 4)
    (path / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_monitor(path.name)
        await wait_until(pilot, lambda: app.current_mode == "monitor" and app.screen.polls > 0, what="first poll")
        await wait_for_text(pilot, "ε 7.960 of 8")
        # In the Progress panel, beside loss and learning rate.
        assert any(str(item) == "ε 7.960 of 8" for item in app.screen.query_one(ProgressPanel)._number_items())


async def test_a_slow_computation_for_earlier_values_does_not_overwrite_the_current_one(workspace, monkeypatch):
    """A worker thread cannot be interrupted: the noise multiplier for batch 4 may finish after the refusal of
    batch 400 was shown (typing "400" passes through 4), and must not replace it."""
    from workbench.core.training import privacy

    real = privacy.plan_privacy
    slow = []

    def plan(cfg, n_examples):
        if cfg.batch_size == 4:
            slow.append(cfg.batch_size)
            time.sleep(2.0)
        return real(cfg, n_examples)

    monkeypatch.setattr(privacy, "plan_privacy", plan)
    app = new_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await type_into(pilot, "data", str(SAMPLE / "sentiment"))
        await type_into(pilot, "dp_epsilon", "8")
        await type_into(pilot, "batch_size", "4")
        await wait_until(pilot, lambda: slow, timeout=30, what="the batch-4 computation to start")
        await pilot.press("0", "0")
        await wait_until(pilot, lambda: "larger than the 320 training examples" in side_text(app, "#cfg-privacy"),
                         timeout=30, what="refusal")
        await pilot.pause(3.0)  # the batch-4 worker has finished by now
        assert "larger than the 320 training examples" in side_text(app, "#cfg-privacy")
        assert "noise multiplier" not in side_text(app, "#cfg-privacy")
