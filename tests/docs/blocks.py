"""The fenced code blocks of a Markdown file, with the ``docs-test`` directive before each.

Parsed with markdown-it (CommonMark), so fences inside lists and quotes count and a
``````` inside another fence does not. A directive is an HTML comment on the last
non-blank line before a fence, alone on its line (one quoted inside a sentence
is text); see tests/docs/test_examples.py for the convention.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

PYTHON_LANGUAGES = frozenset({"python", "py", "python3"})
SHELL_LANGUAGES = frozenset({"bash", "sh", "shell"})
_DIRECTIVE = re.compile(r"<!--\s*docs-test:\s*(?P<body>.*?)\s*-->")
_SKIP = re.compile(r"skip\s*\((?P<reason>.*\S.*)\)")
_WRITE = re.compile(r"write\s+(?P<name>[\w.\-]+(?:/[\w.\-]+)*)")


@dataclass(frozen=True)
class Block:
    path: Path
    name: str  # how failures name the file, e.g. docs/governance.md
    line: int  # 1-based line of the block's first line of code
    language: str
    code: str
    skip_reason: str | None = None
    write_to: str | None = None  # a relative file name the block's text is written to
    needs_server: bool = False

    @property
    def where(self) -> str:
        return f"{self.name}:{self.line}"

    @property
    def kind(self) -> str:
        """What the suite does with it: python, bash, write, skip or show (text, output, data)."""
        if self.skip_reason is not None:
            return "skip"
        if self.write_to is not None:
            return "write"
        if self.language in PYTHON_LANGUAGES:
            return "python"
        if self.language in SHELL_LANGUAGES:
            return "bash"
        return "show"


class DirectiveError(ValueError):
    """A ``docs-test`` comment the suite cannot follow (unknown word, no reason, no block after it)."""


def collect(path: Path, name: str | None = None) -> list[Block]:
    """Every fenced block of ``path``, in document order; DirectiveError lists each bad directive.
    ``name`` is how messages name the file (default: its file name)."""
    name = name or path.name
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    problems: list[str] = []
    blocks: list[Block] = []
    used_directive_lines: set[int] = set()
    for token in MarkdownIt("commonmark").parse(text):
        if token.type != "fence" or token.map is None:
            continue
        fence_index = token.map[0]
        directive_index = _directive_line(lines, fence_index)
        options: dict[str, object] = {}
        if directive_index is not None:
            used_directive_lines.add(directive_index)
            options = _parse_directive(lines[directive_index], f"{name}:{directive_index + 1}", problems)
        language = (token.info.split() or [""])[0].lower()
        blocks.append(Block(path=path, name=name, line=fence_index + 2, language=language, code=token.content, **options))
    for index, line in enumerate(lines):
        if _DIRECTIVE.fullmatch(line.strip()) and index not in used_directive_lines:
            problems.append(f"{name}:{index + 1}: a docs-test directive must be the last non-blank "
                            "line before a fenced code block")
    if problems:
        raise DirectiveError("\n".join(problems))
    return blocks


def _directive_line(lines: list[str], fence_index: int) -> int | None:
    index = fence_index - 1
    while index >= 0 and not lines[index].strip():
        index -= 1
    if index >= 0 and _DIRECTIVE.fullmatch(lines[index].strip()):
        return index
    return None


def _parse_directive(line: str, where: str, problems: list[str]) -> dict[str, object]:
    match = _DIRECTIVE.fullmatch(line.strip())
    assert match is not None
    body = match["body"]
    if skip := _SKIP.fullmatch(body):
        return {"skip_reason": skip["reason"].strip()}
    if (write := _WRITE.fullmatch(body)) and ".." not in write["name"].split("/"):
        return {"write_to": write["name"]}
    if body == "server":
        return {"needs_server": True}
    if body.startswith("skip"):
        problems.append(f"{where}: 'docs-test: skip' needs its reason in parentheses, "
                        "e.g. <!-- docs-test: skip (starts a long-running server) -->")
    else:
        problems.append(f"{where}: unknown docs-test directive {body!r} "
                        "(use: skip (REASON), write FILE with a relative name, or server)")
    return {}
