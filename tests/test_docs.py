"""Every node kind has its documentation page and a row in the flows guide; every example has a
README; every page the README links to exists."""

from __future__ import annotations

import re
from pathlib import Path

from weir.nodes import NODE_KINDS

ROOT = Path(__file__).parents[1]


def test_every_node_kind_has_a_page_and_a_row_in_the_guide() -> None:
    guide = (ROOT / "docs" / "flows.md").read_text()
    for kind in NODE_KINDS:
        assert (ROOT / "docs" / "nodes" / f"{kind}.md").exists(), f"docs/nodes/{kind}.md"
        assert f"| `{kind}` |" in guide, f"docs/flows.md lacks a row for {kind}"


def test_every_example_has_a_flow_and_a_readme() -> None:
    for example in sorted(p for p in (ROOT / "examples").iterdir() if p.is_dir()):
        assert (example / "flow.yaml").exists() and (example / "README.md").exists(), example.name


def test_relative_links_in_the_docs_point_at_files() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    pages += sorted((ROOT / "examples").glob("*/README.md"))
    for page in pages:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.relative_to(ROOT)} links to {target}"
