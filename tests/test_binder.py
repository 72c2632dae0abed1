"""The Binder configuration works: a fresh venv built from binder/requirements.txt alone
imports replab and runs chapter 00.

`make test` checks what can break Binder without installing 150 packages: the pins agree
with pyproject.toml, and a non-editable build (what Binder installs) holds every package and
the presets. The whole rehearsal (a fresh venv, pip install -r binder/requirements.txt,
chapter 00 executed in it) takes one to three minutes on a 2-core machine, so it runs with
`make test-binder` (REPLAB_BINDER_TEST=1), not in every `make test`.

Binder clones the repository, installs binder/requirements.txt with pip from the root (so
its last line, ".", installs replab non-editable) on the Python of binder/runtime.txt, and
opens JupyterLab on notebooks/00_start_here.ipynb. This test does the same in a temporary
directory, with a copy of the files git tracks or would track (not ignored); nothing is
cached between runs but pip's own download cache.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
BINDER_URL = "https://mybinder.org/v2/gh/{owner}/replab/HEAD?labpath=notebooks%2F00_start_here.ipynb"


def _runtime_version() -> tuple[int, int]:
    match = re.fullmatch(r"python-(\d+)\.(\d+)", (BINDER / "runtime.txt").read_text().strip())
    assert match, "binder/runtime.txt must read python-X.Y"
    return int(match.group(1)), int(match.group(2))


def test_runtime_and_requirements_agree_with_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    major, minor = _runtime_version()
    low = re.search(r">=\s*(\d+)\.(\d+)", project["requires-python"])
    assert (major, minor) >= (int(low.group(1)), int(low.group(2))), "runtime.txt below requires-python"
    lines = [ln.split("#")[0].strip() for ln in (BINDER / "requirements.txt").read_text().splitlines()]
    lines = [ln for ln in lines if ln]
    assert lines[-1] == ".", "the last requirement installs replab from the repository root"
    pinned = {re.split(r"==", ln)[0].lower().replace("_", "-") for ln in lines[:-1]}
    assert all("==" in ln for ln in lines[:-1]), "every requirement but '.' is pinned"
    needed = {re.split(r"[<>=!~ \[]", dep)[0].lower().replace("_", "-") for dep in project["dependencies"]}
    assert needed <= pinned, f"runtime dependencies not pinned in binder/requirements.txt: {needed - pinned}"


def _tracked_copy(dest: Path) -> None:
    """Copy what a clone would hold: files git tracks or would (not ignored); else the tree."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, check=True).stdout
        files = [f for f in listed.decode().split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        files = []
    if not files:
        shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(
            ".venv", ".git", "test-output", "build", "*.egg-info", "__pycache__", ".pytest_cache"))
        return
    for name in files:
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def test_a_built_wheel_holds_every_package_and_the_presets(tmp_path):
    """What Binder's `pip install .` installs: every package of the source tree (a package
    missing from pyproject's list would import in the editable checkout and fail on Binder)
    and the preset and sweep files."""
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                            "-q", "-w", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("replab-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {str(p.parent.relative_to(ROOT)) for p in (ROOT / "replab").rglob("__init__.py")}
    assert {f"{package}/__init__.py" for package in packages} <= names
    presets = {p.name for p in (ROOT / "data" / "scenarios").glob("*.toml")}
    assert presets and {f"replab/data/scenarios/{name}" for name in presets} <= names
    assert any(name.startswith("replab/data/sweeps/") for name in names)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("REPLAB_BINDER_TEST"), reason="the full Binder rehearsal runs with make test-binder")
def test_fresh_venv_from_binder_requirements_runs_chapter_00(tmp_path):
    if sys.version_info[:2] != _runtime_version():
        pytest.skip(f"binder/runtime.txt asks for Python {_runtime_version()}, this is {sys.version_info[:2]}")
    repo, venv = tmp_path / "repo", tmp_path / "venv"
    _tracked_copy(repo)
    env = dict(os.environ, REPLAB_FAST="1", JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"))
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    env["PATH"] = str(venv / "bin") + os.pathsep + env.get("PATH", "")

    def sh(*command, cwd=repo, timeout=600):
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"{' '.join(map(str, command))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout

    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    sh(python, "-m", "pip", "install", "-q", "-r", "binder/requirements.txt")
    installed_s = time.perf_counter() - started

    # Imported from the venv (not the copy's source folder), with its presets.
    where = sh(python, "-c", "import replab; print(replab.__file__); print(len(replab.Scenario.presets()))",
               cwd=tmp_path)
    module_file, presets = where.split()
    assert Path(module_file).is_relative_to(venv), module_file
    assert int(presets) > 0

    # Chapter 00 as Binder opens it, plus one cell proving the kernel is the venv's Python.
    import nbformat

    chapter = repo / "notebooks" / "00_start_here.ipynb"
    nb = nbformat.read(chapter, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        f"import sys, replab\nassert sys.prefix == {str(venv)!r}, sys.prefix\n"
        f"assert replab.__file__.startswith({str(venv)!r}), replab.__file__"))
    nbformat.write(nb, chapter)
    out = tmp_path / "executed"
    sh(venv / "bin" / "jupyter", "nbconvert", "--to", "notebook", "--execute",
       "--ExecutePreprocessor.kernel_name=python3", "--ExecutePreprocessor.timeout=120",
       "--output-dir", str(out), "notebooks/00_start_here.ipynb")
    executed = (out / "00_start_here.ipynb").read_text()
    assert '"output_type": "error"' not in executed
    print(f"\nbinder venv: pip install {installed_s:.0f} s, total {time.perf_counter() - started:.0f} s")


def test_binder_link_opens_chapter_00():
    """The link in notebooks/README.md opens JupyterLab (labpath) on chapter 00."""
    text = (ROOT / "notebooks" / "README.md").read_text()
    assert BINDER_URL.format(owner="OWNER") in text


def test_repo2docker_dockerfile_installs_the_requirements_from_the_repo(tmp_path):
    """What mybinder.org would build, read from `jupyter-repo2docker --no-build` (no docker needed).

    Optional: repo2docker is not a test dependency; put jupyter-repo2docker on PATH (e.g.
    `python -m venv /tmp/r2d && /tmp/r2d/bin/pip install jupyter-repo2docker`, then
    PATH=/tmp/r2d/bin:$PATH) to run it.
    """
    repo2docker = shutil.which("jupyter-repo2docker")
    if repo2docker is None:
        pytest.skip("jupyter-repo2docker is not on PATH (optional; see this test's docstring)")
    repo = tmp_path / "repo"
    _tracked_copy(repo)
    done = subprocess.run([repo2docker, "--no-build", "--debug", "--user-id", "1000", "--user-name", "jovyan",
                           str(repo)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    text = done.stdout + done.stderr
    major, minor = _runtime_version()
    assert f"python={major}.{minor}" in text, "runtime.txt's Python is the image's"
    copy_repo = text.index("src/ ${REPO_DIR}/")
    install = text.index('pip install --no-cache-dir -r "binder/requirements.txt"')
    assert copy_repo < install, "the requirements (with '.') are installed after the whole repo is copied"
    assert "--chown=1000:1000 src/ ${REPO_DIR}/" in text, "the repo is owned by the user who runs pip"
