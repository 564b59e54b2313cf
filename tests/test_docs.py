"""The docs a maintainer can open: every citation and link points inside the repository.

* No tracked file cites the research notes the project was started from: a maintainer
  never sees them, so code, messages and docs cite only ``docs/<file>.md#<anchor>``,
  ``--help`` or the README.
* Every ``docs/<file>.md#<anchor>`` (or ``README.md#<anchor>``) citation anywhere in the
  repository names an existing file and one of its headings.
* Every relative link in README.md and docs/*.md resolves, anchors included.

Anchors are computed the way GitHub renders headings: lower case, punctuation dropped
(hyphens and underscores kept), spaces turned into hyphens, "-1", "-2" ... for repeats.
"""

from __future__ import annotations

import re
import subprocess
import unicodedata
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
THIS = Path(__file__).resolve()
# The notes' names, assembled here so that this file does not match its own check.
NOTE_STEMS = ("sahara-protocol", "minidump-format", "ux-and-style", "usb-emulation",
              "real-kernel-e2e")
FORBIDDEN = re.compile("|".join(re.escape(stem + ".md") for stem in NOTE_STEMS)
                       + "|" + re.escape("shared/" + "reference"))
CITATION = re.compile(r"(?<![\w/.-])(docs/[\w.-]+\.md|README\.md)#([\w-]+)")
LINK = re.compile(r"\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.MULTILINE)
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
SKIP_DIRS = {".git", ".venv", ".ci-venv", "venv", "build", "dist", ".cache", "__pycache__",
             ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis"}


def tracked_files() -> list[Path]:
    """Files under version control (every file of the tree when git is not available)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                             check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return [p for p in REPO.rglob("*")
                if p.is_file() and not SKIP_DIRS.intersection(p.relative_to(REPO).parts)]
    names = [n for n in out.decode("utf-8", "surrogateescape").split("\0") if n]
    return [REPO / n for n in names if (REPO / n).is_file()]


def read_text(path: Path) -> str | None:
    """The file as text, None for binary files."""
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", errors="replace")


def strip_inline(text: str) -> str:
    """Heading text as rendered: links reduced to their text, no code or emphasis marks."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"<[^>]+>", "", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text (without the duplicate suffix)."""
    out = []
    for ch in strip_inline(heading).lower():
        if ch in " -_" or unicodedata.category(ch)[0] in "LNM":
            out.append(ch)
    return "".join(out).replace(" ", "-")


def outside_code(text: str) -> list[tuple[int, str]]:
    """(line number, line) of a markdown text, code fences left out."""
    lines: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every heading anchor of a markdown file."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in outside_code(path.read_text(encoding="utf-8")):
        m = HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


def markdown_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_the_docs_exist_and_have_headings() -> None:
    for name in ("protocol.md", "formats.md", "testing.md", "design.md"):
        path = REPO / "docs" / name
        assert path.is_file(), f"docs/{name} is missing"
        assert len(anchors(path)) >= 5, f"docs/{name} has almost no headings"


def test_anchor_rules_match_github() -> None:
    assert slug("Errors during a dump") == "errors-during-a-dump"
    assert slug("H, N and the KELF length") == "h-n-and-the-kelf-length"
    assert slug("END_OF_IMAGE_TX is the universal NAK") == "end_of_image_tx-is-the-universal-nak"
    assert slug("`qdlpy pull`") == "qdlpy-pull"
    assert slug("The load.cmm script") == "the-loadcmm-script"
    assert slug("arm64 and Debian's crash") == "arm64-and-debians-crash"


def test_no_file_cites_the_research_notes() -> None:
    found = []
    for path in tracked_files():
        if path.resolve() == THIS:
            continue
        text = read_text(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            m = FORBIDDEN.search(line)
            if m:
                found.append(f"{path.relative_to(REPO)}:{number}: {m.group(0)}")
    assert not found, ("cite docs/<file>.md#<anchor> instead of notes outside the "
                       "repository:\n" + "\n".join(found))


def test_every_doc_citation_points_at_a_heading() -> None:
    broken = []
    for path in tracked_files():
        text = read_text(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            for target, anchor in CITATION.findall(line):
                doc = REPO / target
                where = f"{path.relative_to(REPO)}:{number}: {target}#{anchor}"
                if not doc.is_file():
                    broken.append(f"{where} (no such file)")
                elif anchor not in anchors(doc):
                    broken.append(f"{where} (no such heading)")
    assert not broken, "citations that lead nowhere:\n" + "\n".join(broken)


def _link_problem(source: Path, target: str) -> str | None:
    """Why a relative link from ``source`` does not resolve, or None."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
        return None  # http:, https:, mailto: ...
    file_part, _, anchor = target.partition("#")
    dest = (source.parent / file_part).resolve() if file_part else source
    if not dest.exists():
        return "no such file"
    if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
        return "no such heading"
    return None


def test_relative_links_in_readme_and_docs_resolve() -> None:
    broken = []
    for path in markdown_files():
        text = path.read_text(encoding="utf-8")
        for number, line in outside_code(text):
            line = re.sub(r"`[^`]*`", "", line)  # inline code is not a link
            for target in LINK.findall(line) + REFERENCE_LINK.findall(line):
                problem = _link_problem(path, target)
                if problem:
                    broken.append(f"{path.relative_to(REPO)}:{number}: {target} ({problem})")
    assert not broken, "links that lead nowhere:\n" + "\n".join(broken)
