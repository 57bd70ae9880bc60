"""Configure: a form over every RunConfig setting, checked as you type; presets, a model picker, YAML
save/load, the equivalent command line, and Launch (which opens the Monitor on the new run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Container, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static

from workbench.core.config import RunConfig
from workbench.core.errors import WorkbenchError
from workbench.ui.messages import ActionFailed, HandoffChanged, RunLaunched
from workbench.ui.run_form import PRESETS, cli_command, form_errors, model_choices
from workbench.ui.screens.base import Notice, WorkbenchScreen
from workbench.ui.widgets.config_form import ConfigForm, FieldRow
from workbench.paths import expand_user

DEFAULT_YAML = "run.yaml"


class ConfigureScreen(WorkbenchScreen):
    MODE = "configure"
    BINDINGS = [
        Binding("ctrl+l", "launch", "Launch"),
        Binding("ctrl+n", "enqueue", "Queue", show=False),
        Binding("ctrl+s", "save", "Save YAML"),
        Binding("ctrl+o", "load", "Load YAML"),
        Binding("escape", "leave_field", "Leave field", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.touched: set[str] = set()
        self.errors: dict[str, str] = {}
        self.launching = False
        self.command_line = ""
        # Per side-panel computation ("estimate", "privacy"): the inputs it last ran for, its pending timer.
        self._side_keys: dict[str, tuple] = {}
        self._side_timers: dict[str, Any] = {}

    def compose_body(self) -> ComposeResult:
        with Container(id="cfg-main"):
            with VerticalScroll(id="cfg-form-scroll"):
                yield ConfigForm(id="cfg-form")
            with Vertical(id="cfg-side", classes="panel"):
                yield Label("Preset")
                yield Select([(name, name) for name in PRESETS], prompt="apply a preset…", compact=True,
                             id="cfg-preset")
                yield Label("Model")
                yield Select([], prompt="pick a model…", compact=True, id="cfg-model-pick")
                yield Label("YAML file")
                yield Input(DEFAULT_YAML, compact=True, id="cfg-yaml")
                yield Label("Command line", classes="section-title")
                yield Static(id="cfg-cli")
                yield Label("Estimated memory", classes="section-title")
                yield Static(Text("…", style="dim"), id="cfg-memory")
                yield Label("Differential privacy", classes="section-title")
                yield Static(Text("off (set dp_epsilon)", style="dim"), id="cfg-privacy")
                yield Button("Launch  ctrl+l", variant="success", id="cfg-launch")
        # Outside the scrolling body, so launch errors are seen even when the form is scrolled (80x24).
        yield Notice(id="cfg-notice")
        yield Static(id="cfg-help")

    def on_mount(self) -> None:
        self.query_one("#cfg-side").border_title = "Run"
        self._refresh_model_choices()
        self._revalidate()

    def on_screen_resume(self) -> None:
        self._refresh_model_choices()
        self.call_after_refresh(self._take_pending_dataset)

    def on_handoff_changed(self, _: HandoffChanged) -> None:
        self._take_pending_dataset()

    def _take_pending_dataset(self) -> None:
        pending, self.wb.pending_dataset = self.wb.pending_dataset, None
        if not pending:
            return
        values = {"data": pending["path"], "text_column": pending.get("text_column"),
                  "label_column": pending.get("label_column")}
        self.form.set_values(values)
        self.touched |= set(values)
        self._notice(f"Data set from Datasets: {pending['path']}", "ok")
        self.call_after_refresh(self._revalidate)

    @property
    def form(self) -> ConfigForm:
        return self.query_one(ConfigForm)

    def _notice(self, message: str | None, kind: str = "error") -> None:
        self.query_one("#cfg-notice", Notice).show(message, kind)

    # --- validation as you type -----------------------------------------------------------------------
    @on(ConfigForm.Changed)
    def _field_changed(self, event: ConfigForm.Changed) -> None:
        self.touched.add(event.name)
        self._revalidate()

    def _revalidate(self) -> RunConfig:
        cfg, self.errors = form_errors(self.form.values())
        self.form.show_errors(self.errors, self.touched)
        command, needs_config = cli_command(cfg)
        self.command_line = command
        cli = Text(command)
        if needs_config:
            cli.append(f"\n+ --config {self.query_one('#cfg-yaml', Input).value or DEFAULT_YAML} for: "
                       f"{', '.join(needs_config)}", style="dim")
        self.query_one("#cfg-cli", Static).update(cli)
        self._schedule_estimate(cfg)
        self._schedule_privacy(cfg)
        return cfg

    # --- memory estimate (needs transformers: computed off the UI thread, after typing pauses) ----------
    ESTIMATE_FIELDS = ("data", "task", "model", "batch_size", "eval_batch_size", "max_length", "precision",
                       "trust_remote_code", "finetune", "lora_r", "lora_target_modules", "dp_epsilon",
                       "dp_physical_batch_size")

    def _schedule_estimate(self, cfg: RunConfig) -> None:
        # Unreadable data only loses the task's view (the estimate reads as the encoder's), not the estimate.
        if any(name in self.errors for name in self.ESTIMATE_FIELDS if name not in ("data", "task")):
            return
        if self._changed("estimate", cfg, self.ESTIMATE_FIELDS):
            self._after_a_pause("estimate", lambda key: self._estimate(cfg, key))

    def _changed(self, name: str, cfg: RunConfig, fields: tuple[str, ...]) -> bool:
        """Whether ``fields`` of ``cfg`` differ from those side computation ``name`` last saw; cancels its
        pending run when they do."""
        key = tuple(getattr(cfg, f) for f in fields)
        if self._side_keys.get(name) == key:
            return False
        self._side_keys[name] = key
        timer = self._side_timers.pop(name, None)
        if timer is not None:
            timer.stop()
        return True

    def _after_a_pause(self, name: str, run) -> None:
        """Run side computation ``name`` once typing has paused: ``run(key)``, with the inputs' key it runs for
        (see :meth:`_show_result`)."""
        key = self._side_keys[name]
        self._side_timers[name] = self.set_timer(0.8, lambda: run(key))

    @work(thread=True, exclusive=True, group="estimate", exit_on_error=False)
    def _estimate(self, cfg: RunConfig, key: tuple) -> None:
        try:
            from workbench.core.memory import estimate_for_run
            from workbench.ui.actions import quiet_transformers

            quiet_transformers()
            est, gpu_bytes = estimate_for_run(cfg, self._task_of(cfg))
        except Exception as exc:  # an unknown model, no config.json…: the form says so elsewhere
            text = Text(f"unavailable: {str(exc).splitlines()[0][:80]}", style="dim")
        else:
            where = "per GPU" if gpu_bytes else "RAM (CPU)"
            text = Text(f"{est.total / 2**30:.1f} GiB {where}", style="bold")
            text.append(f"\nweights+grads+AdamW {(est.weights + est.gradients + est.optimizer) / 2**30:.2f}, "
                        f"activations {est.activations / 2**30:.2f}", style="dim")
            if est.logits or est.eval_logits:
                text.append(f", logits {est.logits / 2**30:.2f} (evaluation {est.eval_logits / 2**30:.2f})", style="dim")
            if gpu_bytes and est.total > 0.9 * gpu_bytes:
                text.append(f"\nmore than 90% of the GPU's {gpu_bytes / 2**30:.0f} GiB", style="bold yellow")
        self.app.call_from_thread(self._show_result, "estimate", key, "#cfg-memory", text)

    @staticmethod
    def _task_of(cfg: RunConfig) -> str | None:
        """The task the data says (its columns), so that `default` is the model training will load and a causal
        LM's logits are counted; None while the data cannot be read (the form says why elsewhere)."""
        from workbench.core.tasks import task_of

        try:
            return task_of(cfg) if cfg.data else None
        except Exception:
            return None

    def _show_result(self, name: str, key: tuple, selector: str, text: Text) -> None:
        """Show what side computation ``name`` found for inputs ``key``, unless the inputs have changed since:
        a worker cannot be interrupted, so a slow one for earlier values may finish after the current one."""
        if self._side_keys.get(name) == key:
            self._show_side(selector, text)

    def _show_side(self, selector: str, text: Text) -> None:
        try:
            self.query_one(selector, Static).update(text)
        except Exception:  # the screen went away meanwhile
            pass

    # --- the noise multiplier of a private run (needs the data's size and Opacus: off the UI thread) ----
    PRIVACY_FIELDS = ("data", "eval_data", "task", "text_column", "label_column", "dev_fraction", "seed", "batch_size",
                      "epochs", "max_steps", "dp_epsilon", "dp_delta", "dp_accountant", "dp_max_grad_norm")

    def _schedule_privacy(self, cfg: RunConfig) -> None:
        if not self._changed("privacy", cfg, self.PRIVACY_FIELDS):
            return
        if cfg.dp_epsilon is None:
            self._show_side("#cfg-privacy", Text("off (set dp_epsilon)", style="dim"))
            return
        if self.errors:
            self._show_side("#cfg-privacy", Text("fix the fields marked above first", style="dim"))
            return
        self._show_side("#cfg-privacy", Text("computing the noise multiplier…", style="dim"))
        self._after_a_pause("privacy", lambda key: self._plan_privacy(cfg, key))

    @work(thread=True, exclusive=True, group="privacy", exit_on_error=False)
    def _plan_privacy(self, cfg: RunConfig, key: tuple) -> None:
        from workbench.core.errors import WorkbenchError

        try:
            from workbench.core.tasks import apply_task_defaults, load_for_config
            from workbench.core.training.privacy import plan_privacy

            data = load_for_config(cfg)
            plan = plan_privacy(apply_task_defaults(cfg, data.schema.task, len(data.train)), len(data.train))
        except WorkbenchError as exc:
            text = Text(str(exc), style="red")
        except Exception as exc:  # never a traceback in the form
            text = Text(f"unavailable: {str(exc).splitlines()[0][:80]}", style="dim")
        else:
            text = Text(f"noise multiplier {plan.noise_multiplier:.3f}", style="bold")
            text.append(f"\nε {plan.target_epsilon:g}, δ {plan.delta:.0e}; {plan.examples:,} examples, "
                        f"batch ≈{plan.expected_batch_size:,.0f}, {plan.steps:,} steps, sampling rate "
                        f"{plan.sample_rate:.3g}", style="dim")
        self.app.call_from_thread(self._show_result, "privacy", key, "#cfg-privacy", text)

    def on_descendant_focus(self, event) -> None:
        row = next((a for a in event.widget.ancestors if isinstance(a, FieldRow)), None)
        help_line = self.query_one("#cfg-help", Static)
        if row is None:
            help_line.update(Text("esc leaves a field, so digit keys switch screens again; F1–F5 always do.",
                                  style="dim"))
            return
        info = row.info
        default = "none" if info["default"] in (None, "") else info["default"]
        choices = f"  one of: {', '.join(info['choices'])}" if info["choices"] else ""
        help_line.update(Text.assemble((info["name"], "bold"), f"  {info['help']}",
                                       (f"  default: {default}{choices}", "dim")))

    # --- side panel -----------------------------------------------------------------------------------
    def _refresh_model_choices(self) -> None:
        try:
            runs = self.wb.store.list()
        except OSError:
            runs = []
        self.query_one("#cfg-model-pick", Select).set_options(model_choices(self.wb.workspace.root, runs))

    @on(Select.Changed, "#cfg-model-pick")
    def _model_picked(self, event: Select.Changed) -> None:
        if event.value is not Select.NULL:
            self.form.set_values({"model": event.value})

    @on(Select.Changed, "#cfg-preset")
    def _preset_picked(self, event: Select.Changed) -> None:
        if event.value is not Select.NULL:
            self.apply_preset(str(event.value))

    def apply_preset(self, name: str) -> None:
        self.form.set_values(PRESETS[name])
        self._notice(f"Preset “{name}” applied: {', '.join(PRESETS[name])}.", "ok")

    def _yaml_path(self) -> Path:
        raw = self.query_one("#cfg-yaml", Input).value.strip() or DEFAULT_YAML
        path = expand_user(raw)
        return path if path.is_absolute() else self.wb.workspace.root / path

    def action_save(self) -> None:
        cfg = self._revalidate()
        problems = cfg.validate()
        if problems:
            self.touched |= set(problems)
            self.form.show_errors(self.errors, self.touched)
            self._notice(f"Not saved: fix {', '.join(problems)} first.")
            return
        try:
            path = cfg.save(self._yaml_path())
        except WorkbenchError as exc:
            self._notice(str(exc))
            return
        self._notice(f"Saved {path}", "ok")

    def action_load(self) -> None:
        try:
            cfg = RunConfig.load(self._yaml_path())
        except WorkbenchError as exc:
            self._notice(str(exc))
            return
        values = cfg.to_dict()
        self.form.set_values(values)
        self.touched |= set(values)
        self._notice(f"Loaded {self._yaml_path()}", "ok")

    def action_leave_field(self) -> None:
        self.set_focus(None)

    # --- launch ---------------------------------------------------------------------------------------
    @on(Button.Pressed, "#cfg-launch")
    def _launch_pressed(self) -> None:
        self.action_launch()

    def action_enqueue(self) -> None:
        """Like Launch, but the run waits in the workspace's queue (one run per device)."""
        self.action_launch(queue=True)

    def action_launch(self, queue: bool = False) -> None:
        if self.launching:
            return
        cfg = self._revalidate()
        if self.errors:
            self.touched |= set(self.errors)
            self.form.show_errors(self.errors, self.touched)
            first = next(iter(self.errors))
            self._notice(f"Cannot launch: {len(self.errors)} setting(s) need fixing ({', '.join(self.errors)}).")
            self.form.widget(first).focus()
            return
        self.launching = True
        self.query_one("#cfg-launch", Button).disabled = True
        self._notice("Checking the data and the model, then " + ("queueing the run…" if queue else "starting the worker…"),
                     "info")
        self._launch(cfg, queue)

    @work(thread=True, exclusive=True, group="launch", exit_on_error=False)
    def _launch(self, cfg: RunConfig, queue: bool = False) -> None:
        try:
            from workbench.ui.actions import launch_run, queue_run

            if queue:
                run, position = queue_run(self.wb.store, cfg, spawn=self.wb.spawn)
                self.post_message(RunLaunched(run.id, queue_position=position))
                return
            run = launch_run(self.wb.store, cfg, spawn=self.wb.spawn)
        except WorkbenchError as exc:
            self.post_message(ActionFailed("launch", str(exc)))
        except Exception as exc:  # a bug, or an environment problem: say so instead of crashing the app
            self.post_message(ActionFailed("launch", f"could not launch: {type(exc).__name__}: {exc}"))
        else:
            self.post_message(RunLaunched(run.id))

    def on_run_launched(self, message: RunLaunched) -> None:
        self._launch_done()
        if message.queue_position is not None:
            self._notice(f"Queued {message.run_id} at position {message.queue_position}; it starts when a device "
                         "is free (Runs screen: queued #N).", "ok")
            return
        self._notice(f"Launched {message.run_id}.", "ok")
        self.wb.open_monitor(message.run_id)

    def on_action_failed(self, message: ActionFailed) -> None:
        self._launch_done()
        self._notice(message.message)

    def _launch_done(self) -> None:
        self.launching = False
        self.query_one("#cfg-launch", Button).disabled = False

    def palette_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Launch run", "Check the data and model and start training (ctrl+l)", self.action_launch)
        yield SystemCommand("Queue run", "Check the data and model and put the run in the queue (ctrl+n)",
                            self.action_enqueue)
        for name in PRESETS:
            yield SystemCommand(f"Preset: {name}", f"Apply the “{name}” preset to the form",
                                lambda n=name: self.apply_preset(n))
        yield SystemCommand("Save config as YAML", "Write the form to the YAML file (ctrl+s)", self.action_save)
        yield SystemCommand("Load config from YAML", "Fill the form from the YAML file (ctrl+o)", self.action_load)
