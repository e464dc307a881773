#!/usr/bin/env python3
"""Summarises the promotion-gate runs of docs/scripts/gate.sh (docs/results/gate/*/summary.json): per run, the
honest nodes' merged accuracy after the last round, how many honest nodes serve a model, the served models'
mean accuracy, the worst served accuracy in any round, and how often the gates promoted and held.
Usage: gate_table.py [DIR]"""
import glob
import json
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "docs/results/gate"
print("| run | honest merged accuracy | honest nodes serving | served accuracy | worst served, any round | promoted / held |")
print("| --- | --- | --- | --- | --- | --- |")
for path in sorted(glob.glob(os.path.join(root, "*", "summary.json"))):
    with open(path) as f:
        s = json.load(f)
    rounds, config = s["rounds"], s["config"]
    last = rounds[-1]
    honest_nodes = config["nodes"] - len(config.get("attackers") or [])
    merged = last.get("honest_mean_accuracy", last["mean_accuracy"])
    served = last.get("served_mean_accuracy")
    worst = [r["served_min_accuracy"] for r in rounds if r.get("served_min_accuracy") is not None]
    gate = config.get("gate", {})
    print(f"| {os.path.basename(os.path.dirname(path))} | {merged:.3f} | {last.get('served_nodes', 0)}/{honest_nodes} | "
          f"{'-' if served is None else f'{served:.3f}'} | {'-' if not worst else f'{min(worst):.3f}'} | "
          f"{gate.get('promoted', 0)} / {gate.get('held', 0)} |")
