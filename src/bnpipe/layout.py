"""Where every output lives: the rules, the scripts and the library take the names from
here. Each scale has its own tree, so running one scale never overwrites another's:

  data/raw/cifar10.tar.gz                 the downloaded archive (shared: it is the data)
  data/prepared/<scale>/{cifar10,dln}.npz the arrays a scale trains on (+ a .json record)
  results/<scale>/runs/<id>/              history.csv, final.pt, lag_moments.pt,
                                          run.json (= complete)
  results/<scale>/snapshots/<id>/         step{t:06d}.pt, the probes' only input
  results/<scale>/probes/<id>.csv         the run's probe table
  results/<scale>/{runs,curves,...}.csv   analyze's tables, metrics.json, plots/
  results/<scale>/logs/                   one log per job
  results/<scale>/{long_arm,width_check}/ make long-arm's and make width-check's runs
  results/metrics.json                    the last DVC experiment's metrics.json, copied
                                          from its scale's: the one metrics file DVC reads
  reports/<scale>/index.html              the report; figures/, claims.json beside it
  reports/bench.json                      `make bench` (a machine's, not a scale's)

Snapshots sit apart from the run folder so they can be dropped once probed (Snakemake
`temp`) without touching what training recorded: at the paper scale they would be
198 GB (105 VGG runs x 32 x 59 MB). `training.schedule.keep_snapshots` decides (docs/performance.md
"Disk").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ARCHIVE = "data/raw/cifar10.tar.gz"
SAMPLE = "data/sample/cifar10-sample.tar.gz"
BENCH = "reports/bench.json"
# One metrics path whatever the scale: were it results/<scale>/metrics.json, an
# experiment at another scale than the committed baseline's would be a second metrics
# file, and `dvc exp show` would prefix every metric column with its path
EXPERIMENT_METRICS = "results/metrics.json"
LAG_RECORD = "lag_moments.pt"  # in a run folder: bnpipe.training.lag_record
ANALYSIS_TABLES = (  # analyze's CSV outputs, under results/<scale>/
    "runs",
    "curves",
    "probe_curves",
    "quantities",
    "summary",
    "differences",
    "ics_vs_performance",
)


@dataclass(frozen=True)
class ScaleLayout:
    """The paths of one scale; `{run}` is left for Snakemake's wildcard."""

    scale: str

    @property
    def results(self) -> str:
        return f"results/{self.scale}"

    @property
    def reports(self) -> str:
        return f"reports/{self.scale}"

    def prepared(self, model: str) -> str:
        return f"data/prepared/{self.scale}/{'dln' if model == 'dln' else 'cifar10'}.npz"

    @property
    def run_dir(self) -> str:
        return f"{self.results}/runs/{{run}}"

    @property
    def snapshot_dir(self) -> str:
        return f"{self.results}/snapshots/{{run}}"

    @property
    def probe_table(self) -> str:
        return f"{self.results}/probes/{{run}}.csv"

    @property
    def long_arm(self) -> str:
        """One long-arm run's result (workflow/scripts/long_arm.py); its run folder and
        snapshots sit beside it."""
        return f"{self.results}/long_arm/{{run}}.json"

    @property
    def width_check(self) -> str:
        """One width-check run's folder (workflow/scripts/width_check.py), as a grid run's
        (run.json = complete); `{width}` as vgg.width prints with :g."""
        return f"{self.results}/width_check/w{{width}}/{{run}}"

    def table(self, name: str) -> str:
        return str(table_path(self.results, name))

    @property
    def metrics(self) -> str:
        return f"{self.results}/metrics.json"

    @property
    def plots(self) -> str:
        return f"{self.results}/plots"

    @property
    def claims(self) -> str:
        return f"{self.reports}/claims.json"

    @property
    def report(self) -> str:
        return f"{self.reports}/index.html"

    @property
    def figures(self) -> str:
        return f"{self.reports}/figures"

    def log(self, name: str) -> str:
        return f"{self.results}/logs/{name}.log"


def table_path(results: str | Path, name: str) -> Path:
    """One of analyze's tables (ANALYSIS_TABLES) in a scale's results folder."""
    return Path(results) / f"{name}.csv"


def snapshot_path(snapshot_dir: str | Path, step: int) -> Path:
    return Path(snapshot_dir) / f"step{step:06d}.pt"


def snapshot_steps_in(snapshot_dir: str | Path) -> list[int]:
    """The steps whose snapshot a folder holds, sorted."""
    return sorted(int(p.stem[4:]) for p in Path(snapshot_dir).glob("step*.pt"))
