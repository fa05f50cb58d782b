"""The command blocks of README.md and how to run them (test_readme.py, test_onnx2tf_readme.py).

A block is a ```bash or ```python fence. An HTML comment on the line before it says how to run
it, when the default (in a scratch folder holding model.onnx and big.onnx, copies of a bundled
model) does not fit:

    <!-- readme-test: skip (reason) -->   not run; the reason says why and where it is tested
    <!-- readme-test: repo-root -->       run once, from the repository's root
    <!-- readme-test: installed -->       run with the build installed into a temporary prefix
                                          (pkg-config and the shared library found there)
    <!-- readme-test: onnx2tf -->         run by test_onnx2tf_readme.py in the onnx2tf venv

Blocks run in README order in one folder, so a block may read what an earlier one wrote.
The tool is $TFLAYOUT_OPT's folder on PATH (as `tflayout-opt`), `python` is the interpreter
running the tests, and the tflayout package comes from python/ (PYTHONPATH).
"""
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import List

import ct_harness as H

README = os.path.join(H.REPO, "README.md")
MARKERS = ("skip", "repo-root", "installed", "onnx2tf")
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
_MARKER = re.compile(r"<!-- readme-test: ([a-z0-9-]+)(?: \((.+)\))? -->\s*$")


@dataclass
class Block:
    line: int      # 1-based line of the opening fence
    lang: str      # "bash" or "python"
    code: str
    marker: str    # "" or one of MARKERS
    reason: str    # the skip reason

    @property
    def name(self):
        return f"README.md:{self.line}"


def blocks(path: str = README) -> List[Block]:
    """Every ```bash and ```python block, with the marker on the line before it."""
    text = open(path).read()
    out = []
    for m in _FENCE.finditer(text):
        if m.group(1) not in ("bash", "python"):
            continue
        before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = _MARKER.search(before)
        marker, reason = (mark.group(1), mark.group(2) or "") if mark else ("", "")
        if marker and marker not in MARKERS:
            raise ValueError(f"README.md:{text.count(chr(10), 0, m.start()) + 1}: unknown marker {marker!r}")
        out.append(Block(text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2), marker, reason))
    return out


def bundled_models() -> List[str]:
    folder = os.path.join(H.REPO, "models")
    return sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".onnx"))


def environment(extra_path=(), **extra) -> dict:
    env = dict(os.environ)
    tool_dir = os.path.dirname(os.path.abspath(H.tool_path()))
    path = [tool_dir, os.path.dirname(sys.executable), *extra_path, env.get("PATH", "")]
    env["PATH"] = os.pathsep.join(p for p in path if p)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in [os.path.join(H.REPO, "python"), env.get("PYTHONPATH", "")] if p)
    env.setdefault("TFLAYOUT_LIBRARY", os.path.join(tool_dir, "libtflayout.so"))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.update(extra)
    return env


def run(block: Block, cwd: str, env: dict, timeout: int = 600) -> None:
    """Runs the block; fails with its output when it exits non-zero."""
    if block.lang == "bash":
        cmd = ["bash", "-euo", "pipefail", "-c", block.code]
    else:
        cmd = [sys.executable, "-c", block.code]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{block.name} ({block.lang}) exited {proc.returncode} in {cwd}:\n"
                             f"{block.code}\n--- stdout\n{proc.stdout[-3000:]}\n"
                             f"--- stderr\n{proc.stderr[-3000:]}")
