"""The documentation cannot drift from the code: docs/passes.md is what scripts/gen_docs.py
writes from the registry, each pass header's first paragraph is "<name>: <Summary()>", the
links of README.md and docs/ resolve, and the code's comments name no issue numbers."""
import glob
import os
import re
import sys

import pytest

import ct_harness as H

sys.path.insert(0, os.path.join(H.REPO, "scripts"))
import gen_docs  # noqa: E402


@pytest.fixture(scope="module")
def registry(tool):
    return gen_docs.parse_help(gen_docs.read_help(tool))


def test_passes_page_is_current(registry):
    with open(gen_docs.PAGE) as f:
        current = f.read()
    assert current == gen_docs.render(registry), \
        "docs/passes.md is stale: run .venv/bin/python scripts/gen_docs.py"


def test_help_lists_passes_and_targets(registry):
    names = [name for name, _, _ in registry["passes"]]
    assert "conv-transpose-to-tf" in names and len(names) == len(set(names))
    assert {t[0] for t in registry["targets"]} >= {"onnxruntime", "onnx-tf", "onnx2tf"}
    assert all(t[2] for t in registry["targets"]), registry["targets"]
    assert registry["default"].endswith("conv-transpose-to-tf")


def test_each_pass_header_opens_with_its_summary(registry):
    for name, summary, _ in registry["passes"]:
        comment = gen_docs.header_comment(name)
        assert comment is not None, f"no header {gen_docs.header_path(name)} for pass {name}"
        assert gen_docs.first_paragraph(comment) == f"{name}: {summary}", \
            f"{gen_docs.header_path(name)}: the first paragraph must be '{name}: {summary}'"


def test_every_pass_header_belongs_to_a_registered_pass(registry):
    names = {name for name, _, _ in registry["passes"]}
    for path in glob.glob(os.path.join(H.REPO, "passes", "*.h")):
        name = os.path.basename(path)[:-2].replace("_", "-")
        assert name in names, f"{path}: no registered pass {name}"


def _github_slug(heading):
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def _anchors(path):
    with open(path) as f:
        text = re.sub(r"^```.*?^```", "", f.read(), flags=re.M | re.S)
    return {_github_slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


def _markdown_files():
    return [os.path.join(H.REPO, "README.md")] + \
        sorted(glob.glob(os.path.join(H.REPO, "docs", "**", "*.md"), recursive=True))


def test_links_resolve():
    broken = []
    for page in _markdown_files():
        with open(page) as f:
            text = re.sub(r"^```.*?^```", "", f.read(), flags=re.M | re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+:", target):
                continue
            file_part, _, anchor = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(page), file_part)) if file_part else page
            if not os.path.exists(dest):
                broken.append(f"{os.path.relpath(page, H.REPO)}: {target}")
                continue
            if anchor and dest.endswith(".md") and anchor not in _anchors(dest):
                broken.append(f"{os.path.relpath(page, H.REPO)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


CODE_DIRS = ("lib", "passes", "include", "tools", "python", "tests", "bench", "scripts", "fuzz")
ISSUE_REF = re.compile(r"\bissues?\s*#?\d+|(?<![\w/.-])#\d+\b", re.I)


def test_code_names_no_issue_numbers():
    found = []
    for folder in CODE_DIRS:
        for path in glob.glob(os.path.join(H.REPO, folder, "**", "*"), recursive=True):
            if not os.path.isfile(path) or "/regressions/" in path or path.endswith(".onnx"):
                continue
            try:
                with open(path, encoding="utf-8") as f:
                    lines = f.readlines()
            except UnicodeDecodeError:
                continue
            for n, line in enumerate(lines, 1):
                if re.match(r"\s*#\s*(include|define|if|endif|pragma|undef|else|elif)", line):
                    continue
                if ISSUE_REF.search(line):
                    found.append(f"{os.path.relpath(path, H.REPO)}:{n}: {line.strip()}")
    assert not found, "issue numbers belong in commit messages, not in code:\n" + "\n".join(found)
