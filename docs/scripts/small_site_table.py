#!/usr/bin/env python3
"""Summarise docs/scripts/small_site.sh runs: WORK NAME... -> per-seed lines and mean (min-max) rows."""
import json, os, statistics, sys

work, names = sys.argv[1], sys.argv[2:]
print("| recipe | subsets | accuracy | AUC | sensitivity | specificity |")
print("| --- | --- | --- | --- | --- | --- |")
for name in names:
    for suffix in ("", "--tta"):
        rows = []
        for entry in sorted(os.listdir(work)):
            path = os.path.join(work, entry, f"{name}{suffix}.eval.json")
            if os.path.exists(path) and os.path.getsize(path) > 0:
                d = json.load(open(path))
                rows.append((d["accuracy"], d["auc"], d["recall"], d["specificity"]))
        if not rows:
            continue
        def cell(k):
            values = [r[k] for r in rows]
            return f"{statistics.mean(values):.3f} ({min(values):.3f}-{max(values):.3f})"
        print(f"| {name}{' + tta' if suffix else ''} | {len(rows)} | {cell(0)} | {cell(1)} | {cell(2)} | {cell(3)} |")
