#!/usr/bin/env python3
"""Pools the paired req/s ratios of several bench reports (each round's maitred over the same round's nginx) and
prints, per file and pooled: rounds, median, the distribution-free confidence interval of the median, and the
share of rounds at or above 1.0.

    bench/pairs.py [--pair maitred-article|maitred] REPORT.md...

Pool only reports of builds that cost the same per request (bench/callgrind.sh within a fraction of a percent):
pooling is for narrowing the interval of one build's ratio, not for averaging different builds.
"""
import argparse
import importlib.util
import os
import re
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def load_bench():
    spec = importlib.util.spec_from_file_location("bench", os.path.join(HERE, "bench.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ratios(path, label):
    """The per-round ratios after `label vs …` on a report's paired-ratio line (the last parenthesised list)."""
    with open(path) as f:
        text = f.read()
    found = []
    for line in text.splitlines():
        if not line.startswith("Paired ratios") or label not in line:
            continue
        # "… vs nginx article 1.042 (IQR a–b; confidence interval … (97%); r1, r2, …)."
        tail = line.split(label, 1)[1]
        values = tail[:tail.rfind(")")].split(";")[-1]
        found = [float(x) for x in re.findall(r"\d+\.\d+", values)]
        break
    return found


def describe(name, xs, interval):
    ci = interval(xs)
    shown = "–" if ci is None else f"{ci[0]:.3f}–{ci[1]:.3f} ({ci[2]:.1%})"
    at_least = sum(1 for x in xs if x >= 1.0) / len(xs)
    return (f"{name}: {len(xs)} rounds, median {statistics.median(xs):.3f}, interval {shown}, "
            f"{at_least:.0%} of rounds ≥ 1.0")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pair", default="maitred-article", choices=["maitred-article", "maitred"])
    ap.add_argument("reports", nargs="+")
    args = ap.parse_args()
    bench = load_bench()
    label = bench.LABEL[args.pair] + " vs"
    pooled = []
    for path in args.reports:
        xs = ratios(path, label)
        if not xs:
            print(f"{path}: no paired ratios for {args.pair}", file=sys.stderr)
            continue
        print(describe(os.path.basename(path), xs, bench.median_interval))
        pooled += xs
    if len(args.reports) > 1 and pooled:
        print(describe("pooled", pooled, bench.median_interval))
    return 0 if pooled else 1


if __name__ == "__main__":
    sys.exit(main())
