"""The README's first command, `make lab`, run as a user would: it serves chapter 00.

Runs `make lab` in the checkout (the environment is already built: this runs inside
`make test`) as the current user, root under CI, with no desktop; reads the URL with its
token from what make printed; opens chapter 00 through the Jupyter REST API; then stops
the server by its process group and checks that the port is free and nothing is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
URL = re.compile(r"http://127\.0\.0\.1:(\d+)/\S*\?token=(\w+)")
# Hangs only: the server is up in a few seconds.
START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 20


# No desktop (as under CI), and not a sub-make of `make test`: a user's shell at the top.
NOT_INHERITED = ("DISPLAY", "WAYLAND_DISPLAY", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")


def _user_env(home: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in NOT_INHERITED}
    env.update(
        JUPYTER_PORT="0",  # the OS picks a free port; JupyterLab prints it in the URL
        JUPYTER_CONFIG_DIR=str(home / "config"),  # none of the developer's own settings
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        BROWSER="true",  # on macOS make lab opens a browser: let it open nothing
    )
    return env


def _wait_for_url(lab: subprocess.Popen, log: Path) -> tuple[str, int, str]:
    """The server's base URL, port and token, once make has printed them and the server answers."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        found = URL.search(log.read_text())
        if found:
            port, token = int(found[1]), found[2]
            base = f"http://127.0.0.1:{port}"
            if _answers(f"{base}/api"):
                return base, port, token
        if lab.poll() is not None:
            break
        time.sleep(0.25)
    pytest.fail(f"make lab did not serve (exit code {lab.poll()}); it printed:\n{log.read_text()}")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _stop(lab: subprocess.Popen) -> None:
    """SIGTERM to make and JupyterLab (one process group), SIGKILL if they hang; wait until all are gone."""
    for sig, wait_s in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(lab.pid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            lab.poll()  # reaps make, which would otherwise stay in the group as a zombie
            if not _group_alive(lab.pid):
                return
            time.sleep(0.1)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        # As servers do (JupyterLab too): the closed connections' TIME_WAIT does not hold the port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_make_lab_serves_chapter_00_until_stopped(tmp_path):
    log = tmp_path / "make-lab.log"
    with open(log, "w") as out:
        lab = subprocess.Popen(["make", "lab"], cwd=ROOT, env=_user_env(tmp_path), stdin=subprocess.DEVNULL,
                               stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base, port, token = _wait_for_url(lab, log)
        request = urllib.request.Request(f"{base}/api/contents/notebooks/00_start_here.ipynb",
                                         headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            chapter = json.load(response)
    finally:
        _stop(lab)

    printed = log.read_text()
    assert chapter["type"] == "notebook" and chapter["content"]["cells"], chapter.get("type")
    if os.geteuid() == 0:
        assert "--allow-root" in printed
    if sys.platform != "darwin":  # macOS always has a desktop
        assert "no desktop" in printed, "make lab should say why no browser opens"
    assert not _group_alive(lab.pid), "a process of make lab outlived it"
    assert _port_free(port), f"port {port} is still taken after make lab stopped"
