#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Summarise the rounds of `make bench`: benchstats.py OUTDIR ROUNDS

Reads OUTDIR/{ours,base}-N/ktap.log ("BENCH name value unit" lines),
prints one line per metric,
  bench: NAME ours=X base=Y unit=U ratio=R spread: ours=A% base=B%
with medians over the rounds and the spread (max-min over the median), then
  bench: zeroing ours zero_map_16m=X memset_io_16m=Y unit=U ratio=Z
with Z = X/Y, both medians of OUR kernel: how close mapping p2pmem that has
to be zeroed comes to a plain memset_io() of the same size on the same BAR
(1 is the goal), then
  bench: loop staging ours loop_stage_p2p_1m=X loop_stage_ram_1m=Y unit=U ratio=Z
with Z = X/Y, both of OUR kernel: nvme-loop's target staging data in
p2pmem against staging it in RAM (the base kernel has no staging mode, so
RAM staging is the reference), then one such line for each of PAIRS (an
iopmem disk on the ivshmem against brd, O_DIRECT through the ivshmem's
p2pmem against the CMB's), and writes everything to
OUTDIR/results.json.  R > 1 means
ours is better: for rates it is ours/base, for times (units starting with
"ns") base/ours.
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


def zeroing(results):
    """Our zero_map_16m against our memset_io_16m, as a dict."""
    by_name = {r["name"]: r for r in results}
    zm, ms = by_name.get("zero_map_16m", {}), by_name.get("memset_io_16m", {})
    z, m = zm.get("ours"), ms.get("ours")
    unit = zm.get("unit", ms.get("unit", "MiB/s"))
    if zm and ms and zm["unit"] != ms["unit"]:
        unit = f'{zm["unit"]}/{ms["unit"]}'
        z = m = None    # not comparable
    return {"zero_map_16m": z, "memset_io_16m": m, "unit": unit,
            "ratio": z / m if z and m else None}


def staging(results):
    """Our loop_stage_p2p_1m against our loop_stage_ram_1m, as a dict."""
    by_name = {r["name"]: r for r in results}
    p = by_name.get("loop_stage_p2p_1m", {}).get("ours")
    r = by_name.get("loop_stage_ram_1m", {}).get("ours")
    return {"loop_stage_p2p_1m": p, "loop_stage_ram_1m": r, "unit": "MB/s",
            "ratio": p / r if p and r else None}


def pair(results, a, b):
    """Our metric @a against our metric @b (same unit), as a dict."""
    by_name = {r["name"]: r for r in results}
    x, y = by_name.get(a, {}).get("ours"), by_name.get(b, {}).get("ours")
    return {a: x, b: y, "unit": by_name.get(a, {}).get("unit", "MB/s"),
            "ratio": x / y if x and y else None}


# Pairs of our own metrics: (label, metric, its reference)
PAIRS = [
    ("iopmem write vs brd", "iopmem_write_1m", "brd_write_1m"),
    ("iopmem read vs brd", "iopmem_read_1m", "brd_read_1m"),
    ("ivshmem p2pmem vs CMB", "odirect_spare_64k", "odirect_p2p_64k"),
]


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
    zero = zeroing(results)
    zratio = "n/a" if zero["ratio"] is None else f"{zero['ratio']:.2f}"
    print(f"bench: zeroing ours zero_map_16m={fmt(zero['zero_map_16m'])} "
          f"memset_io_16m={fmt(zero['memset_io_16m'])} unit={zero['unit']} "
          f"ratio={zratio}")
    stage = staging(results)
    sratio = "n/a" if stage["ratio"] is None else f"{stage['ratio']:.2f}"
    print(f"bench: loop staging ours "
          f"loop_stage_p2p_1m={fmt(stage['loop_stage_p2p_1m'])} "
          f"loop_stage_ram_1m={fmt(stage['loop_stage_ram_1m'])} "
          f"unit={stage['unit']} ratio={sratio}")
    pairs = {}
    for label, a, b in PAIRS:
        p = pair(results, a, b)
        pairs[label] = p
        pr = "n/a" if p["ratio"] is None else f"{p['ratio']:.2f}"
        print(f"bench: {label} ours {a}={fmt(p[a])} {b}={fmt(p[b])} "
              f"unit={p['unit']} ratio={pr}")
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump({"rounds": n, "metrics": results, "zeroing": zero,
                   "staging": stage, "pairs": pairs}, f, indent=2)
    print(f"(medians of {n} rounds; {os.path.join(outdir, 'results.json')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
