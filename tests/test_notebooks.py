"""The chapters: committed clean, normalised, with a kernelspec and the template's headings.

Every chapter runs top to bottom once per `make test`: in a real browser
(tests/test_browser.py, which proves everything a headless run does and more), or, on a
machine without Chromium, headless here (nbclient, fast mode). How long each chapter takes
is a benchmark (benchmarks/notebook_times.py), not a test. A cell's timeout only catches a hang.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
HANG_S = 600  # one cell this long is stuck, not slow
# Appended to each chapter before it runs: a Lab shows a failed run in its widget instead of
# raising, so ask every Lab in the kernel whether it has an error to show.
LABS_HAVE_NO_ERROR = """
import sys as _sys
if "replab.lab" in _sys.modules:
    from replab.lab import Lab as _Lab
    _errors = {_name: _value.error for _name, _value in dict(globals()).items()
               if isinstance(_value, _Lab) and _value.error}
    assert not _errors, f"a Lab shows an error: {_errors}"
"""


def _load_make_chapters():
    spec = importlib.util.spec_from_file_location("make_chapters", ROOT / "tools" / "make_chapters.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_chapters = _load_make_chapters()
CHAPTERS = make_chapters.chapter_files(NOTEBOOKS)


def test_there_are_chapters():
    names = [p.name for p in CHAPTERS]
    assert "00_start_here.ipynb" in names, names
    assert all(p.name[:2].isdigit() for p in NOTEBOOKS.glob("*.ipynb")), "every notebook is a numbered chapter"


def test_chapters_are_normalised():
    """Running tools/make_chapters.py would change nothing: run it after editing a chapter."""
    assert make_chapters.make_chapters(NOTEBOOKS, write=False) == []


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_is_clean_and_uniform(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.metadata["language_info"]["name"] == "python"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: outputs committed"
    kinds = [make_chapters.generated(c) for c in nb.cells]
    assert kinds[0] == "nav-top" and kinds[-1] == "nav-bottom"
    assert nb.cells[0].source == nb.cells[-1].source
    text = "\n".join(c.source for c in nb.cells)
    assert "import replab" in text or "from replab" in text, "a chapter drives replab, it does not re-implement it"
    if path.name != "00_start_here.ipynb":
        for heading in ("## The question", "## What to notice", "## Try this", "## Check yourself"):
            assert heading in text, f"{path.name} lacks {heading!r}"
        assert "<details>" in text, f"{path.name}: the check-yourself answer is hidden in a <details> block"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_chart_a_chapter_draws_is_in_the_house_style(path):
    """A cell that makes a plotly figure puts it through replab.viz.house (labels in words, one palette)."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and any(m in cell.source for m in ("px.", "make_subplots(", "go.Figure(")):
            assert "house(" in cell.source, f"{path.name}: a chart not in the house style:\n{cell.source}"
            assert "plotly_white" not in cell.source, f"{path.name}: house() sets the template"


@pytest.fixture(scope="session")
def kernel_name():
    """The notebooks' kernel (python3) must be this interpreter, which has replab installed."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix"], check=True,
                       capture_output=True)
        spec = KernelSpecManager().get_kernel_spec("python3")
    # jupyter_client runs a bare "python" as sys.executable; anything else must import replab.
    python = spec.argv[0]
    if python not in ("python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}"):
        probe = subprocess.run([python, "-c", "import replab"], capture_output=True)
        assert probe.returncode == 0, f"kernel python3 runs {python}, which cannot import replab"
    return "python3"


@pytest.mark.slow
@pytest.mark.skipif(Path("/usr/bin/chromium").exists(), reason="run in the browser by tests/test_browser.py")
@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_runs_headless_in_fast_mode(path, kernel_name, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("REPLAB_FAST", "1")
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(LABS_HAVE_NO_ERROR))
    client = NotebookClient(nb, timeout=HANG_S, kernel_name=kernel_name,
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    # A Lab reports a failed run in its widget rather than raising: make sure none did.
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            text = json.dumps(output.get("data", {})) + output.get("text", "")
            assert "Traceback" not in text, f"{path.name}: a traceback in the output of\n{cell.source}"
