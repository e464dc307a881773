#!/usr/bin/env python3
"""Prints the Markdown tables of docs/results.md from docs/results/<name>/result.json files.
Usage: docs/scripts/results_table.py NAME...   (run from the repository root)"""
import json
import os
import sys


def fmt(value):
    return "-" if value is None else f"{value:.3f}"


def main(names):
    print("| run | model | accuracy | specificity | recall (detection) | precision | F1 | AUC |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    costs = []
    for name in names:
        path = os.path.join("docs/results", name, "result.json")
        if not os.path.exists(path):
            print(f"| {name} | (not finished) | | | | | | |")
            continue
        result = json.load(open(path))
        rows = [("centralized", result["centralized"]), ("local-only, mean", result["local_only"]["mean"]),
                ("federated, mean", result["federated"]["mean"])]
        worst = min(result["federated"]["per_node"], key=lambda m: m["accuracy"])
        rows.append(("federated, worst node", worst))
        for label, m in rows:
            print(f"| [{name}](results/{name}/summary.md) | {label} | {fmt(m['accuracy'])} | {fmt(m['specificity'])} | "
                  f"{fmt(m['recall'])} | {fmt(m['precision'])} | {fmt(m['f1'])} | {fmt(m.get('auc'))} |")
        c = result["config"]
        last = result["rounds"][-1]
        costs.append((name, c, result["bytes_per_node_per_round"], result["rounds"][0]["consensus_distance"],
                      last["consensus_distance"], result["federated"]["mean"].get("response_time_ms")))
    print()
    print("| run | nodes | rounds | wall (s) | peak RSS (MiB) | bytes per node per round | consensus distance, round 1 -> last | response time p50 / p99 (ms) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, c, b, d0, d1, rt in costs:
        times = "-" if rt is None else f"{rt['p50']:.2f} / {rt['p99']:.2f}"
        print(f"| {name} | {c['nodes']} | {c['rounds']} | {c['wall_seconds']:.0f} | {c.get('peak_rss_mib') or 0:.0f} | "
              f"{b / 1e6:.2f} MB | {d0:.3g} -> {d1:.3g} | {times} |")


if __name__ == "__main__":
    main(sys.argv[1:])
