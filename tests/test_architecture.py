"""The shape of the package: layers that import one way only, and a command line that starts
without loading the simulator.

The layers (pyproject.toml, [tool.importlinter]): core, topology, agents, replication,
config, analysis, sim, experiments, viz, lab and real, cli; each imports only those before
it, so a cycle like model -> results -> summary -> outages -> model cannot come back.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_packages_import_one_way_only():
    linter = subprocess.run([str(BIN / "lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert linter.returncode == 0, linter.stdout[-3000:]


def test_the_command_line_and_import_replab_load_neither_mesa_nor_pandas():
    """`replab --help` answers at once: Mesa and pandas (seconds to import) load only when a
    command needs a scenario or a run. (How long it takes is measured in benchmarks/, not here.)"""
    probe = ("import sys, replab, replab.cli\n"
             "try:\n    replab.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in ('mesa', 'pandas', 'numpy', 'plotly') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip().splitlines()[-1] == "[]"


def test_names_exported_by_replab_load_on_first_use():
    probe = "import sys, replab; assert 'mesa' not in sys.modules; replab.Scenario; print('mesa' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert loaded.stdout.strip() == "True", loaded.stderr
