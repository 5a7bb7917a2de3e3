"""The `bnpipe` command, and the argument parsing shared by the thin scripts in
workflow/scripts/.

  bnpipe params [--scale NAME] [--params FILE]   a scale's resolved hyperparameters
  bnpipe fingerprint [--write | --check]         the digest DVC's stage carries
  bnpipe metrics [--params FILE]                 the experiment's metrics.json, where DVC reads it
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bnpipe import hyperparams, step_code
from bnpipe.files import atomic_path
from bnpipe.layout import EXPERIMENT_METRICS, ScaleLayout
from bnpipe.params import Params, ParamsError, load_params, read_experiment


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file")
    p.add_argument("--scale", help="override the file's `scale` (quick | cpu | paper | smoke)")
    return p


def run_parser(description: str) -> argparse.ArgumentParser:
    """The arguments of a per-run job (train, probe)."""
    p = parser(description)
    p.add_argument("--run", required=True, help="run id, e.g. vgg-batchnorm-lr0.1-s0")
    p.add_argument("--prepared", type=Path, required=True, help="the model's prepared data")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    return p


def set_up_cpu(threads: int) -> None:
    """A torch job's process: `threads` CPU threads, and glibc keeping freed blocks for
    reuse (bnpipe.host_memory)."""
    import torch

    from bnpipe.host_memory import keep_freed_memory

    torch.set_num_threads(threads)
    keep_freed_memory()


def params_from(args: argparse.Namespace) -> Params:
    return load_scale(args.params, args.scale)


def load_scale(params_file: Path, scale: str | None = None) -> Params:
    """The experiment of the params file, `scale` (if given) in place of its own."""
    return load_params(read_experiment(params_file, scale))


def committed_params(params_file: str | Path) -> dict | None:
    """A params file (the protocol) as the last git commit has it, or None (no git, not
    committed)."""
    import subprocess

    import yaml

    path = Path(params_file).resolve()
    try:
        shown = subprocess.run(
            ["git", "show", f"HEAD:./{path.name}"],
            cwd=path.parent,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    return yaml.safe_load(shown.stdout) if shown.returncode == 0 else None


def main(argv: list[str] | None = None) -> int:
    """`bnpipe params`: print the resolved hyperparameters of a scale (bnpipe.hyperparams)."""
    p = argparse.ArgumentParser(prog="bnpipe", description="bnpipe's command line")
    commands = p.add_subparsers(dest="command", required=True)
    shown = commands.add_parser(
        "params",
        help="a scale's resolved hyperparameters, those that differ from `paper` marked",
    )
    shown.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file")
    shown.add_argument("--scale", help="a scale of the file (default: the file's `scale`)")
    mark = commands.add_parser(
        "fingerprint",
        help="the digest of the code, the protocol and the workflow that DVC's stage carries",
    )
    mark.add_argument("--write", action="store_true", help="put it in dvc.yaml (make run does)")
    mark.add_argument("--check", action="store_true", help="exit 1 if dvc.yaml's is stale")
    publish = commands.add_parser(
        "metrics",
        help=f"copy the experiment's metrics.json to {EXPERIMENT_METRICS} (DVC's stage does)",
    )
    publish.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file")
    args = p.parse_args(argv)
    if args.command == "fingerprint":
        return fingerprint(args.write, args.check)
    if args.command == "metrics":
        return publish_metrics(args.params)
    try:
        raw = read_experiment(args.params, args.scale)
        params = load_params(raw)
    except (OSError, ParamsError) as err:
        print(f"bnpipe params: {err}", file=sys.stderr)
        return 2
    sys.stdout.write(hyperparams.block(params, raw))
    return 0


def publish_metrics(params_file: Path, root: Path = Path(".")) -> int:
    """`bnpipe metrics`: copy results/<scale>/metrics.json of the experiment's scale (the
    params file's `scale`) to EXPERIMENT_METRICS, atomically, so that every experiment's
    metrics sit at one path whatever its scale."""
    try:
        scale = read_experiment(root / params_file)["scale"]
        made = (root / ScaleLayout(scale).metrics).read_bytes()
    except (OSError, ParamsError) as err:
        print(f"bnpipe metrics: {err}", file=sys.stderr)
        return 2
    with atomic_path(root / EXPERIMENT_METRICS) as tmp:
        tmp.write_bytes(made)
    print(f"{ScaleLayout(scale).metrics} -> {EXPERIMENT_METRICS}")
    return 0


def fingerprint(write: bool, check: bool, root: Path = Path(".")) -> int:
    """`bnpipe fingerprint`: print it; --write puts it in dvc.yaml; --check fails when
    dvc.yaml's differs (the code changed since: DVC would not see it)."""
    now = step_code.project_fingerprint(root)
    dvc_yaml = root / "dvc.yaml"
    if write:
        changed = step_code.write_fingerprint(dvc_yaml, now)
        print(f"{now} ({'written to' if changed else 'already in'} {dvc_yaml})")
        return 0
    recorded = step_code.recorded_fingerprint(dvc_yaml)
    print(now)
    if check and recorded != now:
        print(
            f"bnpipe fingerprint: dvc.yaml carries {recorded}, the code is {now}: run "
            "`bnpipe fingerprint --write` (make run and make cpu do) so that DVC sees the edit",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
