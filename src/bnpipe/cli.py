"""Argument parsing shared by the thin scripts in workflow/scripts/."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from bnpipe.params import Params, load_params


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file")
    p.add_argument("--scale", help="override the file's `scale` (quick | paper | smoke)")
    return p


def params_from(args: argparse.Namespace) -> Params:
    with args.params.open() as f:
        raw = yaml.safe_load(f) or {}
    if args.scale:
        raw["scale"] = args.scale
    return load_params(raw)
