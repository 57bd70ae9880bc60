"""The ``train`` flags, generated from ``RunConfig``'s field metadata (in the spirit of transformers'
``HfArgumentParser``): one declaration in ``workbench/core/config.py`` gives a flag its name (the field's,
with ``-``), type, choices and help, so every setting is reachable and none can drift from the config.

Every flag defaults to None: a ``--config`` file's value is overridden only by a flag the user gave.
"""

from __future__ import annotations

import argparse
from typing import Any

from workbench.core.config import RunConfig

_ARG_TYPES = {int: int, float: float}  # str needs no conversion; bool flags take no value


def flag_help(info: dict[str, Any]) -> str:
    """A field's flag help: its ``flag_help``, else its help plus the default (escaped for argparse's %-format)."""
    text = info["flag_help"]
    if text is None:
        text = info["help"].rstrip(".")
        default = info["default"]
        if default is not None and default != "":
            text += f" (default: {('on' if default else 'off') if isinstance(default, bool) else default})"
    return text.replace("%", "%%")


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per RunConfig field, in the fields' order."""
    exclusive: dict[str, Any] = {}
    for info in RunConfig.field_info():
        target = parser
        if info["exclusive"]:
            if info["exclusive"] not in exclusive:
                exclusive[info["exclusive"]] = parser.add_mutually_exclusive_group()
            target = exclusive[info["exclusive"]]
        kwargs: dict[str, Any] = {"dest": info["name"], "default": None, "help": flag_help(info)}
        if info["kind"] is bool:
            # --flag/--no-flag; negatable=False gives a plain on-switch (--trust-remote-code).
            kwargs["action"] = argparse.BooleanOptionalAction if info["negatable"] else "store_true"
        else:
            if info["kind"] in _ARG_TYPES:
                kwargs["type"] = _ARG_TYPES[info["kind"]]
            if info["choices"]:
                kwargs["choices"] = info["choices"]
            if info["metavar"]:
                kwargs["metavar"] = info["metavar"]
        target.add_argument(info["flag"], **kwargs)


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given as flags (those left out are None, and ``RunConfig.updated`` skips None)."""
    return {name: getattr(args, name, None) for name in RunConfig.field_names()}


def build_config(args: argparse.Namespace) -> RunConfig:
    """The ``--config`` file (or the defaults) with the given flags applied."""
    base = RunConfig.load(args.config) if args.config else RunConfig()
    return base.updated(**config_overrides(args))
