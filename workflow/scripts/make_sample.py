"""Make the committed CIFAR-10 sample (a maintainer's tool, not a pipeline step).

    python workflow/scripts/make_sample.py PATH/cifar10-jpeg.tar.gz \
        data/sample/cifar10-sample.tar.gz --train 500 --test 100
"""

import argparse
from pathlib import Path

from bnpipe.data.sample import make_sample

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("src", type=Path)
parser.add_argument("dest", type=Path)
parser.add_argument("--train", type=int, default=500, help="images per class, train split")
parser.add_argument("--test", type=int, default=100, help="images per class, test split")
args = parser.parse_args()
counts = make_sample(args.src, args.dest, {"train": args.train, "test": args.test})
print(f"{args.dest}: {sum(counts.values())} images, {args.dest.stat().st_size:,} bytes")
