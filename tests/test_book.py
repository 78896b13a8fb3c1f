"""The book's structure: every notebook is in the toc, install cells use the one repository URL,
and the built HTML has the right Colab links and no error output."""

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO_URL = CONFIG["repository"]["url"]


def toc_files() -> set[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = {toc["root"]}

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                files.add(entry["file"])
            walk(entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    return files


def book_notebooks() -> list[Path]:
    """Notebooks a reader sees: the teaching notebooks and the student assignments."""
    return sorted(ROOT.glob("notebooks/*.ipynb")) + sorted(ROOT.glob("notebooks/assignments/student/*.ipynb"))


def test_every_notebook_is_listed_in_the_toc():
    listed = toc_files()
    notebooks = book_notebooks()
    assert notebooks, "no notebooks found"
    missing = [
        str(nb.relative_to(ROOT))
        for nb in notebooks
        if str(nb.relative_to(ROOT).with_suffix("")) not in listed
    ]
    assert not missing, f"notebooks missing from _toc.yml: {missing}"


def test_every_toc_entry_exists():
    for entry in toc_files():
        candidates = [ROOT / f"{entry}{suffix}" for suffix in (".md", ".ipynb")]
        assert any(path.exists() for path in candidates), f"_toc.yml lists {entry}, which does not exist"


@pytest.mark.parametrize("notebook", book_notebooks(), ids=lambda p: str(p.relative_to(ROOT)))
def test_colab_install_cell_uses_the_configured_repository_and_never_installs_torch(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    install = next((src for src in code if "google.colab" in src), None)
    assert install is not None, f"{notebook.name}: no Colab install cell"
    assert REPO_URL in install, f"{notebook.name}: install cell does not use {REPO_URL}"
    urls = set(re.findall(r"https://github\.com/[\w.-]+/[\w.-]+", install))
    assert urls <= {REPO_URL}, f"{notebook.name}: other repository URLs {urls - {REPO_URL}}"
    for line in install.splitlines():
        line = line.split("#", 1)[0]  # comments may mention torch; commands may not
        if "pip" in line:
            assert not re.search(r"\btorch(vision)?\b", line), (
                f"{notebook.name}: installs torch: {line.strip()}"
            )


@pytest.mark.parametrize("notebook", sorted(ROOT.glob("notebooks/*.ipynb")), ids=lambda p: p.name)
def test_teaching_notebook_opens_with_goals_and_runtime(notebook):
    first = "".join(json.loads(notebook.read_text())["cells"][0]["source"]).lower()
    assert "learning goals" in first or "you will learn" in first, f"{notebook.name}: no learning goals"
    assert "cpu" in first and "colab" in first, f"{notebook.name}: no runtime on CPU and Colab"


TEACHING_NOTEBOOKS = sorted(ROOT.glob("notebooks/0*.ipynb"))


@pytest.mark.parametrize("notebook", TEACHING_NOTEBOOKS, ids=lambda p: p.name)
def test_teaching_notebook_is_committed_executed_top_to_bottom_without_errors(notebook):
    # The book shows the committed outputs (execute_notebooks: off), so they must be complete.
    code = [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]
    counts = [c.get("execution_count") for c in code]
    assert counts == list(range(1, len(code) + 1)), f"{notebook.name}: run `make notebooks` (counts {counts})"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{notebook.name}: committed with an error output: {errors[0].get('ename')}"


def test_bundled_mathjax_is_the_pinned_version_with_its_licence_and_fonts():
    pinned = re.search(r"^MATHJAX_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    mathjax = ROOT / "book" / "_static" / "mathjax"
    assert f'VERSION="{pinned}"' in (mathjax / "tex-chtml-full.js").read_text(), "run `make mathjax`"
    assert "Apache License" in (mathjax / "LICENSE").read_text()
    assert len(list((mathjax / "output/chtml/fonts/woff-v2").glob("*.woff"))) > 20
    assert CONFIG["sphinx"]["config"]["mathjax_path"] == "mathjax/tex-chtml-full.js"


DIAGRAMS = sorted((ROOT / "book" / "figures").glob("*.svg"))


@pytest.mark.parametrize("svg", DIAGRAMS, ids=lambda p: p.name)
def test_method_diagram_is_well_formed_readable_and_shown_with_alt_text(svg):
    root = ET.parse(svg).getroot()
    ns = {"svg": "http://www.w3.org/2000/svg"}
    assert root.find("svg:title", ns).text and root.find("svg:desc", ns).text
    sizes = [float(t.get("font-size")) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert float(root.get("width")) <= 784 and min(sizes) >= 13  # px in the book's column, drawn 1:1
    uses = [
        page.name
        for page in ROOT.glob("book/*.md")
        if re.search(rf"```{{figure}} figures/{svg.name}\n(:.*\n)*:alt: \S", page.read_text())
    ]
    assert uses, f"no book page shows {svg.name} as a figure with alt text"


def test_method_diagrams_are_what_their_script_draws():
    script = ROOT / "book" / "figures" / "make_method_diagram.py"
    result = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


PLACEHOLDER = re.compile(r"\b(TBD|TODO|FIXME|XXX)\b")


@pytest.mark.parametrize(
    "page", [*TEACHING_NOTEBOOKS, *sorted(ROOT.glob("book/*.md")), ROOT / "README.md"], ids=lambda p: p.name
)
def test_page_has_no_placeholder_text(page):
    if page.suffix == ".ipynb":
        text = "\n".join("".join(c["source"]) for c in json.loads(page.read_text())["cells"])
    else:
        text = page.read_text()
    found = [line.strip() for line in text.splitlines() if PLACEHOLDER.search(line)]
    assert not found, f"{page.name} still has placeholders: {found}"


MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$", re.DOTALL)
WORD_SCRIPT = re.compile(r"[_^]\{([A-Za-z]{3,})\}")  # _{ctx}; index pairs such as _{ij} are fine


def prose(page: Path) -> str:
    if page.suffix == ".ipynb":
        cells = json.loads(page.read_text())["cells"]
        return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return page.read_text()


def math_pages() -> list[Path]:
    student = sorted(ROOT.glob("notebooks/assignments/student/*.ipynb"))
    return [*sorted(ROOT.glob("book/*.md")), *TEACHING_NOTEBOOKS, *student]


@pytest.mark.parametrize("page", math_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_word_subscripts_in_formulas_are_upright(page):
    # In TeX, L_{cls} is the product c*l*s in italics; a label is written L_{\mathrm{cls}}.
    found = [m for a, b in MATH.findall(prose(page)) for m in WORD_SCRIPT.findall(a or b)]
    assert not found, f"{page.name}: write these with \\mathrm{{...}}: {found}"


@pytest.fixture(scope="module")
def built_book(tmp_path_factory) -> Path:
    """Build the book from the committed notebook outputs (no execution) into a temporary folder."""
    if shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("jupyter-book is not installed in this environment")
    out = tmp_path_factory.mktemp("book")
    config = dict(CONFIG)
    config["execute"] = {**CONFIG["execute"], "execute_notebooks": "off"}
    # Jupyter Book finds local extensions relative to the config file, which moves here.
    local = CONFIG["sphinx"].get("local_extensions", {})
    config["sphinx"] = {**CONFIG["sphinx"], "local_extensions": {k: str(ROOT / v) for k, v in local.items()}}
    config_path = out / "_config.yml"
    config_path.write_text(yaml.safe_dump(config))
    cmd = [
        str(Path(sys.executable).parent / "jupyter-book"),
        "build",
        str(ROOT),
        "--path-output",
        str(out),
        "--config",
        str(config_path),
        "--warningiserror",
        "--nitpick",
        "--keep-going",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"book build failed:\n{log[-4000:]}"
    assert "WARNING" not in log, "\n".join(line for line in log.splitlines() if "WARNING" in line)
    return out / "_build" / "html"


@pytest.mark.slow
def test_book_pages_have_colab_links_to_their_own_notebook(built_book):
    org_repo = REPO_URL.removeprefix("https://github.com/")
    branch = CONFIG["repository"]["branch"]
    for notebook in book_notebooks():
        rel = notebook.relative_to(ROOT)
        page = built_book / rel.with_suffix(".html")
        assert page.exists(), f"no page for {rel}"
        html = page.read_text()
        links = set(re.findall(r'https://colab\.research\.google\.com/github/[^"\s]+', html))
        expected = f"https://colab.research.google.com/github/{org_repo}/blob/{branch}/{rel.as_posix()}"
        assert links == {expected}, f"{rel}: Colab links {links}, expected {expected}"


@pytest.mark.slow
def test_built_html_has_no_error_output_or_traceback(built_book):
    for page in built_book.rglob("*.html"):
        html = page.read_text()
        for marker in (
            "Traceback (most recent call last)",
            'class="output traceback',
            "output_error",
            "ansi-red-fg",
        ):
            assert marker not in html, f"{page.relative_to(built_book)} contains {marker!r}"


def remote_resources(html: str) -> list[str]:
    """URLs a page loads from the network: script/img/... sources, stylesheet/preload/icon links."""
    urls = []
    for tag in re.findall(r"<(?:script|img|source|iframe|video|audio|link)\b[^>]*>", html):
        if tag.startswith("<link") and not re.search(r'rel="(stylesheet|preload|icon|modulepreload)"', tag):
            continue  # a link to another page, not something this page loads
        urls += re.findall(r'\b(?:src|href)="(https?://[^"]+)"', tag)
    return urls


@pytest.mark.slow
def test_built_pages_load_no_script_style_or_image_from_the_network(built_book):
    # The book must work opened from disk with no network (tests/test_browser.py checks it live).
    for page in built_book.rglob("*.html"):
        for url in remote_resources(page.read_text()):
            raise AssertionError(f"{page.relative_to(built_book)} loads {url} from the network")


@pytest.mark.slow
def test_markdown_tables_in_outputs_render_as_html_tables(built_book):
    # A notebook's Markdown(...) output is parsed as GitHub-flavoured Markdown; with plain
    # CommonMark a results table would show up as a paragraph of pipes.
    for page in built_book.rglob("*.html"):
        prose = re.sub(r"<pre.*?</pre>", "", page.read_text(), flags=re.DOTALL)  # code may hold pipes
        assert "|---|" not in prose, f"{page.relative_to(built_book)} shows a Markdown table as raw text"
    transfer = (built_book / "notebooks" / "04_transfer.html").read_text()
    assert re.search(r"<th[^>]*>\s*(<p>)?fine-tune \(video\)", transfer), "04's results table is not a table"
