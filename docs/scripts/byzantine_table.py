#!/usr/bin/env python3
"""Summarises docs/results/byzantine/*/summary.json (docs/scripts/byzantine.sh) as the Markdown table of
docs/results.md, "Byzantine peers": the honest nodes' mean test accuracy per attack and mixing rule (the
mean over the seeds present, with the spread when there are several), and the change against the same
rule without attackers, paired by seed (the same split with and without attackers; per-seed changes in
brackets when there are several), since the split moves the accuracy by more than most attacks do."""
import glob
import json
import os
import statistics
import sys

ATTACKS = ["none", "sign-flip", "alie", "gaussian", "label-flip", "stale", "free-rider"]
RULES = ["mean", "clipped", "trimmed"]
root = sys.argv[1] if len(sys.argv) > 1 else "docs/results/byzantine"
runs = {}
by_seed = {}
for path in sorted(glob.glob(os.path.join(root, "*", "summary.json"))):
    name = os.path.basename(os.path.dirname(path))
    stem, seed = name.rsplit("-s", 1)
    rule = stem.rsplit("-", 1)[1]
    attack = stem[: -len(rule) - 1]
    with open(path) as f:
        result = json.load(f)
    group = result.get("honest") or result["federated"]
    m = group["mean"]
    runs.setdefault((attack, rule), []).append((m["accuracy"], m["specificity"], m.get("auc") or 0.0))
    by_seed.setdefault((attack, rule), {})[seed] = m["accuracy"]


def cell(values, index):
    xs = [v[index] for v in values]
    mean = statistics.mean(xs)
    spread = f" ± {statistics.stdev(xs):.3f}" if len(xs) > 1 else ""
    return mean, f"{mean:.3f}{spread}"


print("| attack | " + " | ".join(f"{r}: accuracy (vs none) / specificity / AUC" for r in RULES) + " | seeds |")
print("| --- | " + " | ".join("---" for _ in RULES) + " | --- |")
for attack in ATTACKS:
    cells, seeds = [], 0
    for rule in RULES:
        values = runs.get((attack, rule))
        if not values:
            cells.append("-")
            continue
        seeds = max(seeds, len(values))
        accuracy, text = cell(values, 0)
        base = by_seed.get(("none", rule), {})
        mine = by_seed[(attack, rule)]
        paired = [100 * (mine[s] - base[s]) for s in sorted(mine) if s in base]
        delta = ""
        if paired and attack != "none":
            each = " [" + "/".join(f"{d:+.1f}" for d in paired) + "]" if len(paired) > 1 else ""
            delta = f" ({statistics.mean(paired):+.1f}{each})"
        cells.append(f"{text}{delta} / {cell(values, 1)[1]} / {cell(values, 2)[1]}")
    print(f"| {attack} | " + " | ".join(cells) + f" | {seeds} |")
