#!/usr/bin/env python3
"""Summarises docs/results/skew/<name>-s<seed>/result.json: mean and spread (min-max) over the seeds
of each run name, federated / local-only / centralized accuracy, specificity and AUC, consensus
distance at the last round, wall time. Usage: docs/scripts/skew_table.py [docs/results/skew]"""
import glob, json, os, re, sys
from collections import defaultdict

root = sys.argv[1] if len(sys.argv) > 1 else "docs/results/skew"
runs = defaultdict(list)
for path in sorted(glob.glob(os.path.join(root, "*", "result.json"))):
    name = os.path.basename(os.path.dirname(path))
    m = re.match(r"(.*)-s(\d+)$", name)
    if m:
        runs[m.group(1)].append(json.load(open(path)))

def cell(values):
    mean = sum(values) / len(values)
    return f"{mean:.3f}" if len(values) == 1 else f"{mean:.3f} ({min(values):.3f}-{max(values):.3f})"

print("| run | seeds | federated acc | spec | AUC | local-only acc | centralized acc | consensus (last round) | wall s |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for name, results in sorted(runs.items()):
    f = lambda part, key: [r[part]["mean"][key] if "mean" in r[part] else r[part][key] for r in results]
    central = [r["centralized"]["accuracy"] for r in results]
    consensus = max(r["rounds"][-1]["consensus_distance"] for r in results)
    wall = [r["config"]["wall_seconds"] for r in results]
    seeds = ",".join(str(r["config"]["seed"]) for r in results)
    # Runs with --no-baselines repeat the federated figures in the baseline slots: show them as skipped.
    skipped = any(r["config"].get("baselines") is False for r in results)
    local = "skipped" if skipped else cell(f('local_only', 'accuracy'))
    centralized = "skipped" if skipped else cell(central)
    print(f"| {name} | {seeds} | {cell(f('federated', 'accuracy'))} | {cell(f('federated', 'specificity'))} | "
          f"{cell(f('federated', 'auc'))} | {local} | {centralized} | {consensus:.1e} | {cell(wall)} |")
