"""Make every chapter in notebooks/ look and run the same.

For each numbered notebook (``NN_name.ipynb``) this script

- puts identical "< previous | contents | next >" navigation cells at the top and bottom,
  generated from the numbered file list (cells marked ``metadata.replab.generated``, so a
  re-run replaces them instead of adding more);
- regenerates the chapter map in 00_start_here (the cell marked ``chapters``): a link for
  each chapter that exists, "coming" for the ones in CHAPTERS that do not yet;
- normalises the kernelspec (python3, "Python 3 (ipykernel)") and language_info;
- strips outputs, execution counts, widget state and per-run cell metadata.

Run it after editing a chapter:  .venv/bin/python tools/make_chapters.py
Check without writing (exit 1 if anything would change):  ... make_chapters.py --check
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CHAPTER_FILE = re.compile(r"^(\d\d)_[a-z0-9_]+\.ipynb$")
CONTENTS = "00_start_here.ipynb"
CONTENTS_ANCHOR = "#The-chapters"  # JupyterLab's id for the heading "## The chapters"

# The planned book: number -> (title, one line). A chapter's own "# Title" heading wins
# over the title here once the notebook exists.
CHAPTERS: dict[str, tuple[str, str]] = {
    "00": ("Start here", "what replab is, how to drive a Lab, and this map"),
    "01": ("Leader-follower replication", "reads on followers behind a DB load balancer: read throughput and latency vs number of followers, replication lag"),
    "02": ("Failover and read-only mode", "the leader crashes: the read-only window, promotion (or none), writes lost under async vs semi-sync vs sync acks"),
    "03": ("Leader-leader replication", "several leaders take reads and writes: a conflict told step by step, conflicts vs writers and latency, async vs sync, write routing, surviving a leader's loss"),
    "04": ("Tree replication", "followers of followers: lag per depth, the leader's outbound load vs fan-out, chain vs star, a relay dying mid-tree"),
    "05": ("Buddy replication", "session state copied to one buddy instead of everyone: what survives a node's loss, and the cost"),
    "06": ("The costs of replication", "each cost a measured curve: acknowledged writes lost vs ack mode and link backlog, read capacity vs write rate, lag vs followers, one apply thread vs n, nodes, messages and bytes per request"),
    "07": ("Push vs pull", "push every write vs read-through with a time-out: staleness vs TTL, hit ratio, origin load"),
    "08": ("Replicated switches", "what a switch's loss does with one switch vs a redundant pair, hosts cabled to one switch or both: who is cut off, what fails, availability during the outage, replication's catch-up"),
    "09": ("Multi-DC: DNS and sticky sessions", "a global DNS balancer, TTLs and resolvers that ignore them, a DC's loss, sticky sessions"),
    "10": ("Parameter sweeps", "many runs, one table: lag and stale reads over followers × write ratio, lost writes over ack mode × crash time with confidence bands; the same sweep from the shell and on Dask"),
    "11": ("Is the simulator right?", "the simulation beside M/M/1, M/M/c (Erlang C) and Little's law"),
    "12": ("Promotion logic: what goes wrong", "heartbeats instead of a perfect detector: a GC pause that fails over a live leader, split brain in a partition and the writes it throws away, fencing, why two nodes cannot fail over safely, semi-sync quietly turning async"),
    "13": ("Leaderless quorums", "N replicas, W acks, R replies: the stale read and the quorum overlap, R + W > N and the latency it costs, t-visibility and k-staleness against PBS, a sloppy quorum's hinted handoff, read repair vs anti-entropy"),
}

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python"}
KEEP_NOTEBOOK_METADATA = ("kernelspec", "language_info", "replab")
DROP_CELL_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime", "trusted", "widgets")


def chapter_files(folder: Path = NOTEBOOKS) -> list[Path]:
    return sorted(p for p in folder.glob("*.ipynb") if CHAPTER_FILE.match(p.name))


def generated(cell) -> str | None:
    return cell.get("metadata", {}).get("replab", {}).get("generated")


def title_of(nb, path: Path) -> str:
    """The chapter's "# Title" heading, else the planned title, else the file name."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and not generated(cell):
            match = re.search(r"^#\s+(.+?)\s*$", cell.source, re.MULTILINE)
            if match:
                return match.group(1)
            break
    number = path.name[:2]
    return CHAPTERS.get(number, (path.stem[3:].replace("_", " ").capitalize(), ""))[0]


def nav_markdown(files: list[Path], titles: dict[str, str], index: int) -> str:
    def link(i: int) -> str:
        name = files[i].name
        return f"[{name[:2]} {titles[name]}]({name})"

    previous = f"&lt; {link(index - 1)}" if index > 0 else "&nbsp;"
    following = f"{link(index + 1)} &gt;" if index + 1 < len(files) else "&nbsp;"
    return f"{previous} | [Contents]({CONTENTS}{CONTENTS_ANCHOR}) | {following}"


def chapter_map(files: list[Path], titles: dict[str, str]) -> str:
    existing = {p.name[:2]: p.name for p in files}
    rows = ["| # | chapter | what you will measure |", "|---|---|---|"]
    for number in sorted(set(CHAPTERS) | set(existing)):
        title, line = CHAPTERS.get(number, ("", ""))
        if number in existing:
            name = existing[number]
            rows.append(f"| {number} | [{titles[name]}]({name}) | {line} |")
        else:
            rows.append(f"| {number} | {title} *(coming)* | {line} |")
    return "\n".join(rows)


def nav_cell(source: str, where: str):
    cell = nbformat.v4.new_markdown_cell(source)
    cell.id = f"nav-{where}"
    cell.metadata = {"deletable": False, "editable": False, "replab": {"generated": f"nav-{where}"}}
    return cell


def normalise(nb, source_nav: str) -> None:
    """Bring one notebook to the book's shape, in place."""
    body = [c for c in nb.cells if generated(c) not in ("nav-top", "nav-bottom")]
    nb.cells = [nav_cell(source_nav, "top"), *body, nav_cell(source_nav, "bottom")]
    for index, cell in enumerate(nb.cells):
        if "id" not in cell:
            digest = hashlib.sha1(f"{index}:{cell.source}".encode()).hexdigest()[:8]
            cell.id = f"cell-{digest}"
        for key in DROP_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata = {k: v for k, v in nb.metadata.items() if k in KEEP_NOTEBOOK_METADATA}
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = dict(LANGUAGE_INFO)
    nb.nbformat, nb.nbformat_minor = 4, 5


def render(nb) -> str:
    text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


def make_chapters(folder: Path = NOTEBOOKS, write: bool = True) -> list[Path]:
    """Normalise every chapter; return the files whose text changed (or would change)."""
    files = chapter_files(folder)
    books = {p.name: nbformat.read(p, as_version=4) for p in files}
    titles = {name: title_of(nb, folder / name) for name, nb in books.items()}
    changed = []
    for index, path in enumerate(files):
        nb = books[path.name]
        normalise(nb, nav_markdown(files, titles, index))
        for cell in nb.cells:
            if generated(cell) == "chapters":
                cell.source = chapter_map(files, titles)
        nbformat.validate(nb)
        text = render(nb)
        if text != path.read_text():
            changed.append(path)
            if write:
                path.write_text(text)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a chapter is not normalised")
    parser.add_argument("folder", nargs="?", type=Path, default=NOTEBOOKS)
    args = parser.parse_args(argv)
    changed = make_chapters(args.folder, write=not args.check)
    for path in changed:
        print(("not normalised: " if args.check else "normalised: ") + str(path))
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
