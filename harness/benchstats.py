#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Summarise the rounds of `make bench`: benchstats.py OUTDIR ROUNDS

Reads OUTDIR/{ours,base}-N/ktap.log ("BENCH name value unit" lines),
prints one line per metric,
  bench: NAME ours=X base=Y unit=U ratio=R spread: ours=A% base=B%
with medians over the rounds and the spread (max-min over the median), and
writes OUTDIR/results.json.  R > 1 means ours is better: for rates it is
ours/base, for times (units starting with "ns") base/ours.
"""
import json
import os
import re
import statistics
import sys


def rounds(outdir, tag, n):
    for r in range(1, n + 1):
        path = os.path.join(outdir, f"{tag}-{r}", "ktap.log")
        try:
            text = open(path, errors="replace").read()
        except OSError:
            continue
        for m in re.finditer(r"^BENCH (\S+) (\S+) (\S+)$", text, re.M):
            yield m.group(1), m.group(2), m.group(3)


def collect(outdir, tag, n):
    values, units, order = {}, {}, []
    for name, value, unit in rounds(outdir, tag, n):
        if name not in values:
            order.append(name)
            values[name] = []
        units[name] = unit
        if value != "n/a":
            values[name].append(float(value))
    return values, units, order


def spread(vals):
    if len(vals) < 2:
        return 0.0
    med = statistics.median(vals)
    return 100.0 * (max(vals) - min(vals)) / med if med else 0.0


def fmt(x):
    return "n/a" if x is None else (f"{x:.4g}" if abs(x) < 1e5 else f"{x:.0f}")


def main():
    outdir, n = sys.argv[1], int(sys.argv[2])
    ours, units, order = collect(outdir, "ours", n)
    base, bunits, border = collect(outdir, "base", n)
    order += [m for m in border if m not in order]
    units.update({k: v for k, v in bunits.items() if k not in units})
    results = []
    for name in order:
        o, b = ours.get(name, []), base.get(name, [])
        mo = statistics.median(o) if o else None
        mb = statistics.median(b) if b else None
        unit = units.get(name, "?")
        ratio = None
        if mo and mb:
            ratio = mb / mo if unit.startswith("ns") else mo / mb
        results.append({"name": name, "unit": unit, "ours": mo, "base": mb,
                        "ratio": ratio, "ours_rounds": o, "base_rounds": b,
                        "ours_spread_pct": spread(o), "base_spread_pct": spread(b)})
        print(f"bench: {name} ours={fmt(mo)} base={fmt(mb)} unit={unit} "
              f"ratio={'n/a' if ratio is None else f'{ratio:.2f}'} "
              f"spread: ours={spread(o):.0f}% base={spread(b):.0f}% "
              f"rounds: {len(o)}/{len(b)}")
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump({"rounds": n, "metrics": results}, f, indent=2)
    print(f"(medians of {n} rounds; {os.path.join(outdir, 'results.json')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
