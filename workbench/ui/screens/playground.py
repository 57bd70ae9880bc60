"""Playground: pick a finished run, type a text, see the predicted label and every label's score.

For a causal-LM SFT run (or its ONNX export) the text is a prompt instead, and the response streams in as it
is generated, with temperature, top-p and max-tokens inputs. For an extractive QA run the text is a question
about the passage typed (or pasted) in the box above it; the answer is highlighted in the passage with its score
and the runner-up spans.

The model loads in a thread worker (torch and transformers are imported there, on first use); each
prediction runs in another, so typing never waits for the model.
"""

from __future__ import annotations

import threading
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Input, Label, Select, Static, TextArea

from workbench.core.errors import WorkbenchError
from workbench.core.tasks import find_task, get_task
from workbench.ui import format as fmt
from workbench.ui.messages import ActionFailed, AnswerFound, EntitiesFound, ModelLoaded, PredictionMade, TextGenerated
from workbench.ui.screens.base import Notice, WorkbenchScreen
from workbench.ui.task_metrics import headline_figure

HISTORY = 8
GEN_DEFAULTS = {"temperature": "0", "top_p": "0.9", "max_new_tokens": "128"}
# Entity highlighting in the Playground (token classification): the CoNLL types get fixed colours.
ENTITY_STYLES = {"PER": "bold black on magenta", "ORG": "bold black on cyan", "LOC": "bold black on green",
                 "MISC": "bold black on yellow"}
EXTRA_STYLES = ("bold black on blue", "bold black on red", "bold white on dark_green", "bold black on orange3")


def entity_style(kind: str) -> str:
    if kind in ENTITY_STYLES:
        return ENTITY_STYLES[kind]
    return EXTRA_STYLES[sum(map(ord, kind)) % len(EXTRA_STYLES)]  # stable across runs, unlike hash()


def highlighted(text: str, entities: list[dict[str, Any]]) -> Text:
    """``text`` with each entity's characters styled by type and its type appended in small letters."""
    out = Text()
    at = 0
    for e in sorted(entities, key=lambda e: e["start"]):
        out.append(text[at:e["start"]])
        out.append(text[e["start"]:e["end"]], style=entity_style(e["type"]))
        out.append(f" {e['type']}", style="dim")
        at = e["end"]
    out.append(text[at:])
    return out


ANSWER_STYLE = "bold black on green"


def answer_in_passage(context: str, start: int, end: int, score: float, width: int = 400) -> Text:
    """The passage around the answer (about ``width`` characters), the answer highlighted with its score."""
    a, b = max(0, start - width // 2), min(len(context), end + width // 2)
    out = Text("…" if a > 0 else "", style="dim")
    out.append(context[a:start])
    out.append(context[start:end], style=ANSWER_STYLE)
    out.append(f" {score:.1%}", style="dim")
    out.append(context[end:b])
    out.append("…" if b < len(context) else "", style="dim")
    return out


def n_best_table(n_best: list[dict[str, Any]], top: int = 5) -> Table:
    table = Table(box=None, show_header=True, header_style="bold", padding=(0, 1))
    for col in ("answer", "chars", "score"):
        table.add_column(col, justify="right" if col != "answer" else "left", no_wrap=col != "answer")
    for k, cand in enumerate(n_best[:top]):
        table.add_row(Text(cand["text"], style="bold green" if k == 0 else ""), f"{cand['start']}-{cand['end']}",
                      f"{cand['score']:.3f}")
    return table


def entities_table(entities: list[dict[str, Any]]) -> Table | Text:
    if not entities:
        return Text("no entities found", style="dim")
    table = Table(box=None, show_header=True, header_style="bold", padding=(0, 1))
    for col in ("entity", "type", "score"):
        table.add_column(col, justify="right" if col == "score" else "left", no_wrap=col != "entity")
    for e in entities:
        table.add_row(Text(e["text"], style=entity_style(e["type"])), e["type"], f"{e['score']:.3f}")
    return table


def scores_table(scores: dict[str, float], width: int) -> Table:
    table = Table(box=None, show_header=False, padding=(0, 1))
    table.add_column(no_wrap=True, max_width=20)
    table.add_column(no_wrap=True)
    table.add_column(justify="right")
    best = max(scores, key=scores.get)
    for label, p in sorted(scores.items(), key=lambda kv: -kv[1]):
        style = "bold green" if label == best else ""
        table.add_row(Text(label, style=style), Text(fmt.bar(p, width), style=style or "dim"), f"{p:.3f}")
    return table


class PlaygroundScreen(WorkbenchScreen):
    MODE = "playground"
    BINDINGS = [
        Binding("ctrl+r", "pick_run", "Pick run"),
        Binding("ctrl+o", "toggle_source", "Model/ONNX"),
        Binding("escape", "leave_field", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.run_id: str | None = None  # a run id, or an export directory when source == "export"
        self.engine = ""
        self.source = "run"  # "run": the run's PyTorch model; "export": an ONNX export (OnnxClassifier)
        self.ready = False
        self._loaded: tuple[str, Any, str] | None = None  # run id or export path, predictor, playground kind
        self._lock = threading.Lock()
        self.history: list[tuple[str, str, float]] = []
        self.last_scores: dict[str, float] | None = None
        self.last_entities: list[dict[str, Any]] | None = None  # token classification
        self.last_highlight: Text | None = None
        self.last_answer: dict[str, Any] | None = None  # question answering
        self.answering = False  # the loaded model answers questions about the passage box
        self._answer_ids: set[str] = set()
        self.generative = False  # the loaded model is a causal LM: prompts get generated responses
        self._generative_ids: set[str] = set()
        self.last_generation: str | None = None
        self.stream_updates = 0  # partial responses drawn while generating (tests check the streaming)

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="pg-top"):
            yield Select([("PyTorch", "run"), ("ONNX", "export")], value="run", allow_blank=False, compact=True,
                         id="pg-source")
            yield Label(" Run ", id="pg-run-label")
            yield Select([], prompt="choose a finished run…", compact=True, id="pg-run")
        yield Static(id="pg-status")
        with Horizontal(id="pg-gen"):
            yield Label(" temperature ")
            yield Input(GEN_DEFAULTS["temperature"], id="pg-temperature", compact=True)
            yield Label(" top-p ")
            yield Input(GEN_DEFAULTS["top_p"], id="pg-top-p", compact=True)
            yield Label(" max tokens ")
            yield Input(GEN_DEFAULTS["max_new_tokens"], id="pg-max-tokens", compact=True)
        yield TextArea(id="pg-context", soft_wrap=True, show_line_numbers=False, placeholder="paste the passage here")
        yield Input(placeholder="type a text and press ⏎", id="pg-text")
        yield Notice(id="pg-notice")
        with VerticalScroll(id="pg-body"):
            yield Static(id="pg-result", classes="panel")
            yield Static(id="pg-history", classes="panel")

    def on_mount(self) -> None:
        self.query_one("#pg-result").border_title = "Prediction"
        self.query_one("#pg-history").border_title = "Recent"
        self.query_one("#pg-result", Static).update(Text("Choose a run, then type a text.", style="dim"))
        self.query_one("#pg-history").display = False
        self.query_one("#pg-gen").display = False
        self.query_one("#pg-context").display = False
        self.query_one("#pg-context").border_title = "Passage"

    def on_screen_resume(self) -> None:
        self._refresh_runs()
        self.query_one("#pg-text", Input).focus()

    def _refresh_runs(self) -> None:
        if self.source == "export":
            self._refresh_exports()
            return
        # A run of a task this version does not know is not offered.
        runs = [r for r in self.wb.store.list() if (task := find_task(r.task)) is not None and task.has_model(r)]
        select = self.query_one("#pg-run", Select)
        current = select.value
        select.set_options([("{}  ({} {})".format(r.name, *headline_figure(r.task, r.metrics)), r.id) for r in runs])
        ids = [r.id for r in runs]
        if current in ids:
            select.value = current
        elif ids and self.run_id is None:
            select.value = ids[0]  # the newest finished run: the one a user most likely wants to try
        if not runs:
            self._status("No finished run with a model yet: train one (3 Configure) and come back.", "dim")

    def _refresh_exports(self) -> None:
        root = self.wb.workspace.exports_dir
        exports = sorted((d for d in root.glob("*") if (d / "manifest.json").is_file()),
                         key=lambda d: -(d / "manifest.json").stat().st_mtime) if root.is_dir() else []
        select = self.query_one("#pg-run", Select)
        current = select.value
        select.set_options([(d.name + ("  (int8)" if (d / "model.int8.onnx").is_file() else ""), str(d))
                            for d in exports])
        paths = [str(d) for d in exports]
        if current in paths:
            select.value = current
        elif paths and self.run_id is None:
            select.value = paths[0]
        if not exports:
            self._status("No ONNX export yet: export a run (7 Export) and come back.", "dim")

    @on(Select.Changed, "#pg-source")
    def _source_chosen(self, event: Select.Changed) -> None:
        if event.value == self.source:
            return
        self.source = str(event.value)
        self.workers.cancel_group(self, "model")
        self.run_id, self.ready = None, False
        self._set_generative(False)
        self._set_answering(False)
        with self._lock:
            self._loaded = None
        self.query_one("#pg-run-label", Label).update(" Export " if self.source == "export" else " Run ")
        self.query_one("#pg-run", Select).clear()
        self.query_one(Notice).clear()
        self._status("")
        self._refresh_runs()

    def action_toggle_source(self) -> None:
        self.query_one("#pg-source", Select).value = "run" if self.source == "export" else "export"

    def _status(self, message: str, style: str = "") -> None:
        self.query_one("#pg-status", Static).update(Text(" " + message, style=style))

    # --- model ----------------------------------------------------------------------------------------
    @on(Select.Changed, "#pg-run")
    def _run_chosen(self, event: Select.Changed) -> None:
        if event.value is Select.NULL or event.value == self.run_id:
            return
        self.run_id, self.ready = str(event.value), False
        self._set_generative(False)
        self._set_answering(False)
        self.query_one(Notice).clear()
        if self.source == "export":
            self._status("loading the ONNX export…", "yellow")
        else:
            self._status("loading the model… (the first load imports torch: a few seconds)", "yellow")
        self.load_model(self.run_id, self.source)

    @work(thread=True, exclusive=True, group="model", exit_on_error=False)
    def load_model(self, run_id: str, source: str = "run") -> None:
        if source == "export":
            self._load_export(run_id)
            return
        try:
            from workbench.ui.actions import quiet_transformers

            quiet_transformers()
            run = self.wb.store.get(run_id)
            task = get_task(run.task)
            predictor = task.open_run_predictor(run)
        except WorkbenchError as exc:
            self.post_message(ActionFailed("load", str(exc)))
            return
        except Exception as exc:  # a damaged model directory must not take the app down
            self.post_message(ActionFailed("load", f"cannot load the model: {type(exc).__name__}: {exc}"))
            return
        self._loaded_predictor(run_id, task, predictor)

    def _load_export(self, export_dir: str) -> None:
        """In the model worker: the export's torch-free predictor (int8 when it has one)."""
        try:
            from workbench.core.inference import read_manifest

            task = get_task(read_manifest(export_dir).get("task"))
            predictor = task.open_predictor(export_dir, int8="auto")
        except WorkbenchError as exc:
            self.post_message(ActionFailed("load", str(exc)))
            return
        except Exception as exc:
            self.post_message(ActionFailed("load", f"cannot load the export: {type(exc).__name__}: {exc}"))
            return
        self.engine = ("ONNX with key/value cache" if task.capabilities.playground == "generate"
                       else "ONNX int8" if predictor.int8 else "ONNX fp32")
        self._loaded_predictor(export_dir, task, predictor)

    def _loaded_predictor(self, key: str, task, predictor) -> None:
        """In the model worker: keep ``predictor`` for ``key`` (a run id or an export path) and say so."""
        kind = task.capabilities.playground
        with self._lock:
            self._loaded = (key, predictor, kind)
        if kind == "generate":
            self._generative_ids.add(key)
        if kind == "answer":
            self._answer_ids.add(key)
        labels = list(predictor.labels)
        self.post_message(ModelLoaded(key, _entity_types(labels) if kind == "tag" else labels))

    def on_model_loaded(self, message: ModelLoaded) -> None:
        if message.run_id != self.run_id:
            return
        self.ready = True
        engine = f" · {self.engine}" if self.source == "export" else ""
        self._set_generative(message.run_id in self._generative_ids)
        self._set_answering(message.run_id in self._answer_ids)
        if self.generative:
            self._status(f"ready · type a prompt; the response streams in{engine}", "green")
        elif self.answering:
            self._status(f"ready · paste a passage, then ask a question about it{engine}", "green")
        else:
            self._status(f"ready · labels: {', '.join(message.labels)}{engine}", "green")
        self.query_one("#pg-text", Input).focus()
        text = self.query_one("#pg-text", Input).value.strip()
        if text:
            self._start(text)

    def _set_generative(self, on: bool) -> None:
        self.generative = on
        self.query_one("#pg-gen").display = on
        self.query_one("#pg-text", Input).placeholder = "type a prompt and press ⏎" if on else "type a text and press ⏎"

    def _set_answering(self, on: bool) -> None:
        self.answering = on
        self.query_one("#pg-context").display = on
        if on:
            self.query_one("#pg-text", Input).placeholder = "ask a question about the passage and press ⏎"
            if self.last_answer is None:
                self.query_one("#pg-result", Static).update(
                    Text("Paste a passage in the box above (shift+tab), then ask a question about it.", style="dim"))

    def _start(self, text: str) -> None:
        if self.answering:
            context = self.query_one("#pg-context", TextArea).text
            if not context.strip():
                self.query_one(Notice).show("Paste a passage first: the answer is looked for in it.")
                return
            self.answer(self.run_id, text, context)
            return
        if not self.generative:
            self.predict(self.run_id, text)
            return
        try:
            settings = self.generation_settings()
        except ValueError as exc:
            self.query_one(Notice).show(str(exc))
            return
        self.generate_text(self.run_id, text, settings)

    def generation_settings(self) -> dict[str, Any]:
        """Temperature, top-p and max new tokens from the inputs; ValueError with one sentence when invalid."""
        values = {k: self.query_one(f"#pg-{w}", Input).value.strip()
                  for k, w in (("temperature", "temperature"), ("top_p", "top-p"), ("max_new_tokens", "max-tokens"))}
        try:
            temperature, top_p, max_new = float(values["temperature"]), float(values["top_p"]), int(values["max_new_tokens"])
        except ValueError:
            raise ValueError("temperature and top-p must be numbers and max tokens a whole number.") from None
        if temperature < 0 or not 0 < top_p <= 1 or not 1 <= max_new <= 4096:
            raise ValueError("temperature must be 0 or more (0 = greedy), top-p in (0, 1], max tokens 1 to 4096.")
        return {"temperature": temperature, "top_p": top_p, "max_new_tokens": max_new}

    @work(thread=True, exclusive=True, group="predict", exit_on_error=False)
    def generate_text(self, run_id: str, text: str, settings: dict[str, Any]) -> None:
        """Stream the response: TextIteratorStreamer for the PyTorch model, token by token for ONNX."""
        from textual.worker import get_current_worker

        with self._lock:
            loaded = self._loaded
        if loaded is None or loaded[0] != run_id:
            return
        _, generator, _ = loaded
        worker = get_current_worker()
        out = ""
        try:
            for piece in generator.stream(text, **settings):  # OnnxGenerator or TorchGenerator
                if worker.is_cancelled:
                    return
                out += piece
                self.post_message(TextGenerated(run_id, text, out))
        except Exception as exc:
            self.post_message(ActionFailed("predict", f"generation failed: {type(exc).__name__}: {exc}"))
            return
        self.post_message(TextGenerated(run_id, text, out, done=True))

    def on_text_generated(self, message: TextGenerated) -> None:
        if message.run_id != self.run_id:
            return
        self.query_one(Notice).clear()
        prompt = message.prompt if len(message.prompt) < 70 else message.prompt[:69] + "…"
        body = Text.assemble(("› " + prompt, "dim"), ("\n\n", ""), (message.text, "bold"),
                             ("" if message.done else " ▍", "yellow"))
        self.query_one("#pg-result", Static).update(body)
        if not message.done:
            self.stream_updates += 1
            return
        self.last_generation = message.text
        self.history.insert(0, (message.prompt, message.text, 0.0))
        del self.history[HISTORY:]
        recent = self.query_one("#pg-history", Static)
        recent.display = True
        lines = Text()
        for i, (prompt_text, response, _) in enumerate(self.history):
            lines.append(("\n" if i else "") + (prompt_text[:30] + "…" if len(prompt_text) > 30 else prompt_text),
                         style="bold" if i == 0 else "")
            lines.append("  → " + " ".join(response.split())[:60], style="dim")
        recent.update(lines)

    # --- predicting -----------------------------------------------------------------------------------
    @on(Input.Submitted, "#pg-text")
    def _submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            self.query_one(Notice).show("Type some text first.")
            return
        if self.run_id is None:
            self.query_one(Notice).show("Choose a run first (ctrl+r).")
            return
        if not self.ready:
            self.query_one(Notice).show("The model is still loading; the text will be scored when it is ready.", "info")
            return
        self._start(text)

    @work(thread=True, exclusive=True, group="predict", exit_on_error=False)
    def predict(self, run_id: str, text: str) -> None:
        with self._lock:
            loaded = self._loaded
        if loaded is None or loaded[0] != run_id:
            return
        _, predictor, kind = loaded
        try:
            result = predictor.predict([text])[0]  # the ONNX or the PyTorch predictor of the run's task
        except Exception as exc:
            self.post_message(ActionFailed("predict", f"prediction failed: {type(exc).__name__}: {exc}"))
            return
        if kind == "tag":
            self.post_message(EntitiesFound(run_id, text, result))
        else:
            self.post_message(PredictionMade(run_id, text, result["scores"]))

    @work(thread=True, exclusive=True, group="predict", exit_on_error=False)
    def answer(self, run_id: str, question: str, context: str) -> None:
        with self._lock:
            loaded = self._loaded
        if loaded is None or loaded[0] != run_id:
            return
        try:
            result = loaded[1].predict([{"question": question, "context": context}])[0]  # OnnxReader or TorchReader
        except WorkbenchError as exc:
            self.post_message(ActionFailed("predict", str(exc)))
            return
        except Exception as exc:
            self.post_message(ActionFailed("predict", f"prediction failed: {type(exc).__name__}: {exc}"))
            return
        self.post_message(AnswerFound(run_id, question, context, result))

    def on_answer_found(self, message: AnswerFound) -> None:
        if message.run_id != self.run_id:
            return
        from rich.console import Group

        self.query_one(Notice).clear()
        r = message.result
        self.last_answer = r
        self.last_highlight = answer_in_passage(message.context, r["start"], r["end"], r["score"])
        head = Text.assemble((r["answer"] or "no answer", "bold green"), ("  ", ""), (f"{r['score']:.1%}", "bold"),
                             (f"  ← {message.question[:60]}", "dim"),
                             (f"  ({r['windows']} windows)" if r.get("windows", 1) > 1 else "", "dim"))
        self.query_one("#pg-result", Static).update(Group(head, Text(""), self.last_highlight, Text(""),
                                                          n_best_table(r.get("n_best") or [])))
        self.history.insert(0, (message.question, r["answer"], r["score"]))
        del self.history[HISTORY:]
        recent = self.query_one("#pg-history", Static)
        recent.display = True
        lines = Text()
        for i, (question, answer, p) in enumerate(self.history):
            lines.append(("\n" if i else "") + (question if len(question) < 50 else question[:49] + "…"),
                         style="bold" if i == 0 else "")
            lines.append(f"  → {answer} ({p:.0%})", style="dim")
        recent.update(lines)

    def on_prediction_made(self, message: PredictionMade) -> None:
        if message.run_id != self.run_id:
            return
        self.query_one(Notice).clear()
        self.last_scores = message.scores
        best = max(message.scores, key=message.scores.get)
        result = self.query_one("#pg-result", Static)
        width = max(8, result.content_size.width - 36)
        head = Text.assemble((best, "bold green"), ("  ", ""), (f"{message.scores[best]:.1%}", "bold"),
                             ("  ← " + (message.text if len(message.text) < 60 else message.text[:59] + "…"), "dim"))
        from rich.console import Group

        result.update(Group(head, Text(""), scores_table(message.scores, width)))
        self.history.insert(0, (message.text, best, message.scores[best]))
        del self.history[HISTORY:]
        recent = self.query_one("#pg-history", Static)
        recent.display = True
        lines = Text()
        for i, (text, label, p) in enumerate(self.history):
            lines.append(("\n" if i else "") + f"{label:<12.12} {p:5.1%}  ", style="bold" if i == 0 else "")
            lines.append(text if len(text) < 70 else text[:69] + "…", style="dim")
        recent.update(lines)

    def on_entities_found(self, message: EntitiesFound) -> None:
        if message.run_id != self.run_id:
            return
        from rich.console import Group

        self.query_one(Notice).clear()
        entities = message.result["entities"]
        self.last_entities = entities
        self.last_highlight = highlighted(message.text, entities)
        self.query_one("#pg-result", Static).update(Group(self.last_highlight, Text(""), entities_table(entities)))
        summary = ", ".join(f"{e['text']} ({e['type']})" for e in entities) or "no entities"
        self.history.insert(0, (message.text, summary, 1.0))
        del self.history[HISTORY:]
        recent = self.query_one("#pg-history", Static)
        recent.display = True
        lines = Text()
        for i, (text, label, _) in enumerate(self.history):
            lines.append(("\n" if i else "") + (text if len(text) < 50 else text[:49] + "…"), style="bold" if i == 0 else "")
            lines.append(f"  → {label}", style="dim")
        recent.update(lines)

    def on_action_failed(self, message: ActionFailed) -> None:
        self.query_one(Notice).show(message.message)
        if message.action == "load":
            self._status("no model loaded", "red")

    def action_pick_run(self) -> None:
        self.query_one("#pg-run", Select).focus()

    def action_leave_field(self) -> None:
        self.set_focus(None)


def _entity_types(labels: list[str]) -> list[str]:
    """``O, B-LOC, I-LOC, B-PER, …`` → ``LOC, PER``."""
    return sorted({label.split("-", 1)[1] for label in labels if "-" in label})
