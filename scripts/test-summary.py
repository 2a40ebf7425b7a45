#!/usr/bin/env python3
"""Prints the surefire/failsafe results of every module, then one closing 'N passed, N failed' line."""
import glob
import os
import sys
import xml.etree.ElementTree as ET

root = sys.argv[1] if len(sys.argv) > 1 else "."
totals = {"passed": 0, "failed": 0, "skipped": 0}
rows = []
skipped_reasons = []
for path in sorted(glob.glob(os.path.join(root, "**", "target", "*-reports*", "TEST-*.xml"), recursive=True)):
    if "/src/" in path:
        continue
    try:
        suite = ET.parse(path).getroot()
    except ET.ParseError:
        continue
    tests = int(suite.get("tests", 0))
    failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    skipped = int(suite.get("skipped", 0))
    for case in suite.iter("testcase"):
        sk = case.find("skipped")
        if sk is not None:
            skipped_reasons.append(f"{suite.get('name')}.{case.get('name')}: {sk.get('message', '')}")
    totals["passed"] += tests - failed - skipped
    totals["failed"] += failed
    totals["skipped"] += skipped
    kind = os.path.basename(os.path.dirname(path))
    module = os.path.relpath(path, root).split(os.sep)[0]
    rows.append((module, kind, suite.get("name"), tests, failed, skipped, float(suite.get("time", 0) or 0)))

for module, kind, name, tests, failed, skipped, t in rows:
    mark = "FAIL" if failed else ("skip" if skipped == tests and tests else "ok")
    print(f"{mark:4} {module:14} {kind:34} {name:60} {tests:4} tests {t:8.1f} s")
if skipped_reasons:
    print("\nnot run:")
    for r in skipped_reasons:
        print("  " + r)
print()
print(f"{totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
