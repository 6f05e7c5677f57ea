#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Count the results of a `make check` run.

Each topology directory holds console.log (the kernel's serial console, with
KUnit's KTAP) and ktap.log (the guest plan's output: the kselftests' TAP).
Every kselftest case, every KUnit case, the boot itself and a scan of the
kernel log for warnings count as tests; so do the static checks' lines
("PASS name", "FAIL name: why", "SKIP name: why").  The last line printed
is "N passed, N failed, N skipped"; the exit status is 1 on any failure.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

ALARMS = re.compile(r"WARNING:|BUG:|Oops|KASAN|UBSAN|"
                    r"possible circular locking|possible recursive locking|"
                    r"inconsistent lock state|suspicious RCU usage|"
                    r"general protection fault|Kernel panic|"
                    r"kernel BUG|list_add corruption|list_del corruption|"
                    r"refcount_t: |sg_page\b.*BUG|DEBUG_LOCKS_WARN")
RESULT = re.compile(r"^\s*(ok|not ok) (\d+) (.*?)(?: # (SKIP|skip|TODO)\b(.*))?$")


class Tally:
    def __init__(self):
        self.passed, self.failed, self.skipped = 0, 0, 0

    def add(self, name, status, why=""):
        if status == "PASS":
            self.passed += 1
        elif status == "SKIP":
            self.skipped += 1
            print(f"  skip: {name}{': ' + why if why else ''}")
        else:
            self.failed += 1
            print(f"  FAIL: {name}{': ' + why if why else ''}")


def scan_log(path):
    """Alarming lines of a kernel log, with a little context."""
    try:
        lines = open(path, errors="replace").read().splitlines()
    except OSError:
        return ["(no console log)"]
    return [l.strip() for l in lines if ALARMS.search(l)]


def kselftests(topo, path, tally):
    """The plan's TAP: one stream per program, between the harness marks."""
    try:
        lines = open(path, errors="replace").read().splitlines()
    except OSError:
        tally.add(f"{topo}: test output", "FAIL", "no ktap.log")
        return
    prog, plan, seen, log = None, 0, 0, []
    for line in lines:
        m = re.match(r"P2PDMA-HARNESS: insmod (\S+) failed", line)
        if m:
            tally.add(f"{topo}: load {os.path.basename(m.group(1))}", "FAIL")
            continue
        m = re.match(r"P2PDMA-HARNESS: running (\S+)", line)
        if m:
            # A program that never said it exited (the guest went on
            # without it, or a boot ended and the next one began)
            if prog is not None:
                tally.add(f"{topo}: {prog}", "FAIL", "did not finish")
            prog, plan, seen, log = m.group(1), 0, 0, []
            continue
        m = re.match(r"P2PDMA-HARNESS: (\S+) exited (\d+)", line)
        if m and prog:
            rc = int(m.group(2))
            if seen < plan:
                tally.add(f"{topo}: {prog}", "FAIL",
                          f"{plan - seen} of {plan} planned tests never reported (exit {rc})")
            elif rc not in (0, 4) and not any("not ok" in l for l in log):
                tally.add(f"{topo}: {prog}", "FAIL", f"exited {rc}")
            if plan == 0:
                tally.add(f"{topo}: {prog}", "FAIL", "no TAP plan")
            prog = None
            continue
        if prog is None:
            continue
        log.append(line)
        m = re.match(r"^1\.\.(\d+)", line)
        if m:
            plan = int(m.group(1))
            continue
        m = RESULT.match(line)
        if not m:
            continue
        seen += 1
        name = f"{topo}: {prog}: {m.group(3)}"
        if m.group(4) and m.group(4).lower() == "skip":
            tally.add(name, "SKIP", (m.group(5) or "").strip())
        elif m.group(1) == "ok":
            tally.add(name, "PASS")
        else:
            ctx = [l for l in log[-12:] if l.startswith("#")]
            tally.add(name, "FAIL", " | ".join(ctx[-4:]))
    if prog is not None:
        tally.add(f"{topo}: {prog}", "FAIL", "did not finish")


def kunit_cases(node, prefix=""):
    name = node.get("name", "")
    full = f"{prefix}.{name}" if prefix and name else (name or prefix)
    for case in node.get("test_cases", []):
        yield f"{full}.{case.get('name')}", case.get("status", "FAIL")
    for sub in node.get("sub_groups", []):
        yield from kunit_cases(sub, full if node.get("name") != "KUnit Test Group" else "")


KTAP_LINE = re.compile(r"^(\[[ \d.]+\] )?\s*(K?TAP version |# |#$|ok |not ok |1\.\.)")


def ktap_documents(console):
    """The console log cut into its top-level KTAP documents: the built-in
    suites run at boot, and each test module loaded later prints its own."""
    docs, cur = [], None
    try:
        text = open(console, errors="replace").read().splitlines(True)
    except OSError:
        return docs
    for line in text:
        if re.match(r"^(\[[ \d.]+\] )?K?TAP version \d+", line):
            cur = []
            docs.append(cur)
        # Other kernel messages can land between the lines of a document
        # (a late "clocksource:" line, a driver's log): keep only KTAP.
        if cur is not None and KTAP_LINE.match(line):
            cur.append(line)
    return ["".join(d) for d in docs]


def kunit_parse(kunit_py, text):
    with tempfile.NamedTemporaryFile("w", suffix=".log") as f:
        f.write(text)
        f.flush()
        out = subprocess.run([sys.executable, kunit_py, "parse", "--json", f.name],
                             capture_output=True, text=True)
    m = re.search(r"^\{.*\}\s*$", out.stdout, re.S | re.M)
    return json.loads(m.group(0)) if m else None


def kunit(topo, console, kunit_py, tally):
    if not kunit_py:
        return
    cases = []
    for doc in ktap_documents(console):
        data = kunit_parse(kunit_py, doc)
        if data is None:
            tally.add(f"{topo}: kunit", "FAIL", "kunit.py could not parse a KTAP document")
            continue
        cases += list(kunit_cases(data))
    if not cases:
        tally.add(f"{topo}: kunit", "FAIL", "no KUnit results in the console log")
    for name, status in cases:
        tally.add(f"{topo}: kunit {name}",
                  status if status in ("PASS", "SKIP") else "FAIL", status)


def topology(path, kunit_py, tally):
    topo = os.path.basename(path.rstrip("/"))
    console = os.path.join(path, "console.log")
    ktap = os.path.join(path, "ktap.log")
    done = os.path.exists(ktap) and "P2PDMA-HARNESS: plan complete" in open(ktap, errors="replace").read()
    tally.add(f"{topo}: boot and plan complete", "PASS" if done else "FAIL",
              "" if done else "see " + console)
    kselftests(topo, ktap, tally)
    kunit(topo, console, kunit_py, tally)
    alarms = scan_log(console)
    tally.add(f"{topo}: kernel log has no warnings", "FAIL" if alarms else "PASS",
              " | ".join(alarms[:5]))


def static(path, tally):
    try:
        lines = open(path).read().splitlines()
    except OSError:
        tally.add("static checks", "FAIL", f"no {path}")
        return
    for line in lines:
        m = re.match(r"(PASS|FAIL|SKIP) (.*?)(?:: (.*))?$", line)
        if m:
            tally.add(f"static: {m.group(2)}", m.group(1), m.group(3) or "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kunit", help="path of kunit.py")
    ap.add_argument("--static", action="append", default=[],
                    help="results of harness/static.sh (once per architecture)")
    ap.add_argument("--scan-only", action="store_true",
                    help="only scan the console logs and print what alarms")
    ap.add_argument("dirs", nargs="*")
    args = ap.parse_args()
    if args.scan_only:
        bad = [a for d in args.dirs for a in scan_log(os.path.join(d, "console.log"))]
        print("kernel log: " + ("clean" if not bad else "\n  ".join(["ALARMS"] + bad)))
        return 1 if bad else 0
    tally = Tally()
    for d in args.dirs:
        topology(d, args.kunit, tally)
    for path in args.static:
        static(path, tally)
    print(f"{tally.passed} passed, {tally.failed} failed, {tally.skipped} skipped")
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
