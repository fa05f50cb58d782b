#!/usr/bin/env python3
"""Turns the equivalence summary JSON (written by python/tests/test_equivalence_tf.py, default
build/equivalence_summary.json) into Markdown tables (scripts/results/equivalence.py puts them
in docs/results/equivalence.md).

usage: tools/equivalence_table.py [SUMMARY.json] [> table.md]
"""
import json
import os
import sys

ORDER = ["a", "b", "c", "o"]


def fmt_err(v):
    return "-" if v is None else f"{v:.1e}"


def render(s):
    out = []
    paths = [p for p in ORDER if p in s["paths"]]
    tol = s.get("tolerance_rel_to_max_abs_ref", {})
    out.append(f"{s['configurations']} generated ConvTranspose configurations (seed {s.get('seed')}); "
               "pass = max |TF - reference| <= tol x max |reference| with tol "
               + ", ".join(f"{k} {v:g}" for k, v in sorted(tol.items())) + ".\n")
    dtypes = sorted({d for p in paths for d in s["paths"][p]["by_dtype"]})
    out.append("| path | pass | reject | wrong | " +
               " | ".join(f"largest error {d}" for d in dtypes) + " |")
    out.append("|---|---:|---:|---:|" + "---:|" * len(dtypes))
    for p in paths:
        e = s["paths"][p]
        c = e["counts"]
        errs = e.get("max_rel_err_of_passing_by_dtype", {})
        out.append(f"| {e['name']} | {c['pass']} | {c['reject']} | {c['wrong']} | " +
                   " | ".join(fmt_err(errs.get(d)) for d in dtypes) + " |")
    out.append("")
    out.append("Per category (pass / reject / wrong):\n")
    out.append("| category | configs | " + " | ".join(f"({p})" for p in paths) + " |")
    out.append("|---|---:|" + "---|" * len(paths))
    for cat, v in s.get("by_category", {}).items():
        out.append(f"| {cat} | {v['configurations']} | " +
                   " | ".join(f"{v[p]['pass']} / {v[p]['reject']} / {v[p]['wrong']}" for p in paths) + " |")
    for p in paths:
        reasons = s["paths"][p].get("reject_reasons", {})
        if reasons:
            out.append(f"\nRejections, {s['paths'][p]['name']}:\n")
            out.append("| count | error |")
            out.append("|---:|---|")
            for r, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])):
                out.append(f"| {n} | `{r.replace('|', '/')}` |")
    return "\n".join(out) + "\n"


def main(argv):
    path = argv[1] if len(argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "build", "equivalence_summary.json")
    with open(path) as f:
        sys.stdout.write(render(json.load(f)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
