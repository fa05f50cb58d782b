#!/usr/bin/env python3
"""Writes a docs/results page from any measuring command that prints its own tables
(bench/e2e_compare.py, bench/ort_compensate_cost.py, tests/memory_bound_test, ...): the stamp,
then the command's standard output as it printed it (Markdown tables render as tables; other
lines are kept in a code block).

usage: python3 scripts/results/capture.py PAGE.md "TITLE" -- COMMAND [ARGS...]
  e.g. python3 scripts/results/capture.py e2e.md "Whole models: tflayout-opt vs the Python recipe" \\
         -- .venv/bin/python bench/e2e_compare.py --scale 0.05
The page is not written when the command fails.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stamp  # noqa: E402


def as_markdown(text):
    """Markdown table lines as they are, every other run of lines in a code block."""
    out, code = [], []

    def flush():
        if code:
            out.extend(["```", *code, "```"])
            code.clear()

    for line in text.rstrip().splitlines():
        if line.startswith("|"):
            flush()
            out.append(line)
        else:
            if out and out[-1].startswith("|"):
                out.append("")
            code.append(line)
    flush()
    return "\n".join(out)


def main():
    argv = sys.argv[1:]
    if "--" not in argv or argv.index("--") != 2 or len(argv) < 4:
        sys.stderr.write(__doc__)
        return 2
    page, title, command = argv[0], argv[1], argv[3:]
    run = stamp.Run(" ".join(["python3", "scripts/results/capture.py", page, repr(title), "--",
                              *command])).start()
    proc = subprocess.run(command, cwd=stamp.REPO, stdout=subprocess.PIPE, text=True)
    run.finish()
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout)
        sys.stderr.write(f"capture.py: the command exited {proc.returncode}; {page} not written\n")
        return proc.returncode
    stamp.write_page(page, run, title, as_markdown(proc.stdout))
    return 0


if __name__ == "__main__":
    sys.exit(main())
