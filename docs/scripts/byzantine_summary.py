#!/usr/bin/env python3
"""Shrinks a `simulate` result of the Byzantine sweep (docs/scripts/byzantine.sh) to what its table needs:
writes summary.json beside it (config, with the attackers; the honest and all-node federated means; the
rounds) and removes result.json, whose per-image ROC scores (about 240 KB a run) are not needed for the table.
Usage: byzantine_summary.py RUN_DIR [...]"""
import json
import os
import sys

for directory in sys.argv[1:]:
    source = os.path.join(directory, "result.json")
    if not os.path.exists(source):
        continue
    with open(source) as f:
        result = json.load(f)
    summary = {
        "config": result["config"],
        "federated": {"mean": result["federated"]["mean"]},
        "rounds": result["rounds"],
    }
    if "honest" in result:
        summary["honest"] = {"mean": result["honest"]["mean"]}
    with open(os.path.join(directory, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
        f.write("\n")
    os.remove(source)
