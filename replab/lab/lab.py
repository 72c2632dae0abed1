"""The Lab: controls bound to a Scenario, a run, and charts redrawn in place from the Results."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

import ipywidgets as widgets
from plotly.io.json import to_json_plotly

from replab.analysis.notes import notes
from replab.analysis.results import Results
from replab.analysis.summary import SUMMARY_DOC
from replab.config.limits import check_size
from replab.config.scenario import Scenario, ScenarioError
from replab.lab.controls import control_for, narrow_to_valid, widen_to
from replab.lab.faults import DEFAULT_BUTTONS, FaultPanel
from replab.lab.lookahead import Lookahead, enabled, neighbours
from replab.lab.running import Debouncer, ProgressiveRun, freeze_what_is_loaded
from replab.sim.model import ReplicationModel
from replab.viz import plots
from replab.viz.replay import Replay
from replab.viz.replay_data import moment_ms
from replab.viz.style import PlainFigure

DEFAULT_CONTROLS = ("topology.followers", "workload.write_ratio", "replication.ack")
DEFAULT_CHARTS = ("latency", "throughput", "lag", "topology")
DEFAULT_SUMMARY = ("operations", "availability", "throughput_per_s", "refused", "failed", "read_p50_ms",
                   "read_p99_ms", "write_p50_ms", "write_p99_ms", "stale_read_rate", "writes_acked",
                   "lost_acked_writes", "read_only_ms", "failover_ms", "mean_lag_ms", "max_lag_ms")
# Live re-runs start this long after the last control change: at the kernel loop's next turn,
# which still merges the changes made together (a cell setting several controls). A wait
# would only delay every run, since a newer change cancels a run in progress anyway, and a
# slider sends its value once, on release (see benchmarks/LAB_RESULTS.md).
DEFAULT_DEBOUNCE_S = 0.0
CHART_WIDTH_PX = 420  # two charts side by side in JupyterLab's notebook width, one when narrower
TIME_CHARTS = ("throughput", "lag", "traffic", "state")  # charts whose x axis is the run's time


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


class Lab:
    """Controls for some Scenario fields, charts of the latest run, and a summary table.

    Lab(scenario, controls=DEFAULT_CONTROLS, charts=DEFAULT_CHARTS, faults=False, live=True,
        summary=DEFAULT_SUMMARY, debounce_s=DEFAULT_DEBOUNCE_S, run=True, lookahead=None)

    lookahead: run the settings one change away in a background process while the student
    looks (replab.lab.lookahead); None: when this machine has a spare CPU.
    """

    def __init__(self, scenario: Scenario, controls: Iterable[str] = DEFAULT_CONTROLS,
                 charts: Iterable[str] | Mapping[str, dict] = DEFAULT_CHARTS, faults: bool | Iterable[str] = False,
                 live: bool = True, summary: Iterable[str] | None = DEFAULT_SUMMARY, debounce_s: float = DEFAULT_DEBOUNCE_S,
                 run: bool = True, lookahead: bool | None = None):
        if not isinstance(scenario, Scenario):
            raise TypeError(f"Lab needs a Scenario, not {type(scenario).__name__}; try Scenario.preset('leader-follower')")
        check_size(scenario)  # a run this machine cannot hold or finish is refused, as by replab.run
        self._scenario = scenario
        self.results: Results | None = None
        self.previous: Results | None = None
        self.error: str | None = None
        # the last run: seconds to simulate (partial drawings included), to draw it whole, in all;
        # its partial drawings (how many, and their seconds, the snapshot of the run so far included)
        self.timings: dict[str, float] = {}
        self._syncing = False  # True while the Lab itself moves a control
        self.live = widgets.Checkbox(value=live, description="live", indent=False, layout=widgets.Layout(width="70px"))
        self.controls: dict[str, widgets.Widget] = {}
        for path in controls:
            widget = control_for(Scenario.field(path), scenario.get(path))
            widget.observe(lambda change, path=path: self._on_control(path, change["new"]), names="value")
            self.controls[path] = widget
        charts = dict(charts) if isinstance(charts, Mapping) else {name: {} for name in charts}
        unknown = [c for c in charts if c not in plots.FIGURES]
        if unknown:
            raise ValueError(f"unknown chart {unknown[0]!r}; choose from {', '.join(plots.FIGURES)}")
        self.chart_options = charts
        # Each chart is drawn in place (a plotly figure as plain data, the replay's data) and shown
        # through an Output widget, as a notebook shows any figure. Not a FigureWidget: its browser side
        # must load plotly's 3.5 MB module within anywidget's 2 s limit, and on a busy machine
        # it does not (the charts stayed blank in the browser test).
        self.figures: dict[str, PlainFigure | Replay] = {}
        self._outputs: dict[str, widgets.Output] = {}
        self._cells: dict[str, widgets.VBox] = {
            name: widgets.VBox([widgets.HTML("<i>not run yet</i>")], layout=widgets.Layout(min_width="0"))
            for name in charts}
        self.summary_keys = tuple(summary) if summary is not None else tuple(SUMMARY_DOC)
        self.run_button = widgets.Button(description="Run", icon="play", button_style="primary",
                                         layout=widgets.Layout(width="90px"))
        self.run_button.on_click(lambda _b: self._start_run())
        self.status = widgets.HTML("not run yet", layout=widgets.Layout(width="300px"))
        self.message = widgets.HTML()  # a rejected value or a failed run, in red
        self.message.add_class("replab-lab-message")
        self.notes = widgets.HTML(layout=widgets.Layout(max_width="380px"))  # what the run says (replab.analysis.notes)
        self.summary = widgets.HTML(layout=widgets.Layout(min_width="300px"))
        self.topology_t = None
        if "topology" in charts:
            self.topology_t = widgets.FloatSlider(description="topology at t (ms)", min=0.0, max=1.0, value=1.0, step=1.0,
                                                  readout_format=".0f", continuous_update=False,
                                                  style={"description_width": "initial"}, layout=widgets.Layout(width="95%"))
            self.topology_t.observe(self._on_topology_t, names="value")
        self._topology_t_moved = False  # the reader chose an instant; until then it shows the telling one
        buttons = DEFAULT_BUTTONS if faults is True else tuple(faults) if faults else ()
        self.fault_panel = FaultPanel(self, buttons) if buttons else None
        self._debouncer = Debouncer(debounce_s, self._start_run)
        self._runner = ProgressiveRun(self._show_partial, self._show_done, self._show_failure)
        self._started = 0.0
        self.lookahead = Lookahead() if (enabled() if lookahead is None else lookahead) else None
        self._last_change: tuple[str, Any, Any] | None = None  # (path, old, new): where the student is heading
        self._first_update_s: float | None = None
        self.widget = self._layout()
        self.widget.add_class("replab-lab")
        self._narrow_controls()
        if _in_a_kernel():
            freeze_what_is_loaded()
        if run:
            self.run()

    # the public surface ----------------------------------------------------------------------
    @property
    def scenario(self) -> Scenario:
        """The scenario the next run uses (the last valid one the controls described)."""
        return self._scenario

    def set(self, path: str, value: Any) -> Lab:
        """Change one field (moving its control if it has one); re-runs after debounce_s if live.

        A value the Scenario rejects is not raised: its message shows in the Lab and in
        `lab.error`, and the scenario keeps its last valid value.
        """
        try:
            value = Scenario.field(path).coerce(value)
            check_size(self._scenario.replace(**{path: value}))  # cross-field rules (a dropdown may not offer it), size
        except ScenarioError as err:
            self._show_error(err)
            return self
        widget = self.controls.get(path)
        if widget is not None:
            self._syncing = True
            try:
                widen_to(widget, value)
                widget.value = value
            finally:
                self._syncing = False
        self._on_control(path, value)
        return self

    def run(self) -> Results | None:
        """Run the current scenario now, synchronously, and redraw; returns the Results."""
        self._debouncer.cancel()
        self._runner.cancel()
        self._begin()
        try:
            model = ReplicationModel(self._scenario)
            model.run()
            results = Results.from_model(model)
        except Exception as err:
            self._show_failure(err)
            raise
        self._show_done(results)
        self._plan_ahead()
        return results

    def wait(self) -> Results | None:
        """Finish a pending or running live re-run now, synchronously; returns the latest Results."""
        # flush: a pending re-run starts now; without a kernel, one its timer thread began ends first
        self._debouncer.flush()
        self._runner.finish_now()  # in a kernel, the re-run goes on in the background: finish it here
        return self.results

    @property
    def running(self) -> bool:
        """True while a run goes on in the background (its first seconds may already be on the charts)."""
        return self._runner.running

    def add_fault(self, at_ms: float, action: str = "crash", target: str = "leader", **extra) -> Lab:
        """Schedule a fault ({at_ms, action, target} and any of duration_ms, delay_ms) in the
        scenario and re-run now."""
        events = [f.to_dict() for f in self._scenario.faults.events] + [
            {"at_ms": at_ms, "action": action, "target": target, **extra}]
        if self._change("faults.events", events):
            self._debouncer.cancel()
            self._start_run()
        return self

    def clear_faults(self) -> Lab:
        """Remove every scheduled fault and re-run now."""
        if self._change("faults.events", []):
            self._debouncer.cancel()
            self._start_run()
        return self

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    # reacting to controls --------------------------------------------------------------------
    def _on_control(self, path: str, value: Any) -> None:
        if self._syncing:
            return
        if self._change(path, value) and self.live.value:
            self.status.value = "will re-run…"
            self._debouncer.trigger()

    def _change(self, path: str, value: Any) -> bool:
        """Take a new value into the scenario; False (and the message shown) if it is rejected."""
        try:
            old = self._scenario.get(path)
            changed = self._scenario.replace(**{path: value})
            check_size(changed)  # two controls at their ends can ask for a run of hours
            self._scenario = changed
            self._last_change = (path, old, value)
        except ScenarioError as err:
            self._show_error(err)
            return False
        self._show_error(None)
        self._narrow_controls()
        if self.fault_panel is not None:
            self.fault_panel.refresh()
        return True

    def _narrow_controls(self) -> None:
        self._syncing = True
        try:
            for path, widget in self.controls.items():
                narrow_to_valid(widget, Scenario.field(path), self._scenario)
        finally:
            self._syncing = False

    def _show_error(self, err: Exception | None) -> None:
        self.error = None if err is None else str(err)
        self.message.value = "" if err is None else (
            f"<div style='color:#b00020'><b>Not accepted:</b> {_escape(self.error)}</div>")

    # running and drawing ---------------------------------------------------------------------
    def _begin(self) -> None:
        self._started = time.perf_counter()
        self._first_update_s = None
        self.status.value = "running…"

    def _start_run(self) -> None:
        """A run started by a widget: in the background in a kernel, its errors shown, never raised.

        A setting already run (by the Lab, or ahead of it) is drawn at once from its Results;
        one being run ahead right now is drawn when that run ends, if the Lab's own is not done
        first. The runs one change further are planned at once, not when this run is done.
        """
        self._begin()
        ahead, scenario = self.lookahead, self._scenario
        results = None
        if ahead is not None:
            ahead.forget_waiting()
            results = ahead.get(scenario)
        if results is not None:
            self._runner.cancel()
            self._show_done(results, ahead=True)
        else:
            self._runner.start(scenario)
            if ahead is not None and self._runner.running:  # in a kernel: whichever run ends first is drawn
                ahead.when_ready(scenario, lambda results: self._ahead_ready(scenario, results))
        self._plan_ahead()  # the settings one change away need only the scenario: start on them now

    def _ahead_ready(self, scenario: Scenario, results: Results) -> None:
        if scenario == self._scenario and self._runner.running:
            self._runner.cancel()
            self._show_done(results, ahead=True)

    def _show_partial(self, results: Results, simulated_ms: float) -> None:
        """Draw the first simulated seconds while the rest of the run goes on.

        The first partial drawing leaves the replay out (it costs more than the other charts
        together, ~40 ms): the charts move at once, the replay joins at the next drawing.
        """
        self._draw(results, until_ms=simulated_ms, skip=("replay",) if self._first_update_s is None else ())
        if self._first_update_s is None:
            self._first_update_s = time.perf_counter() - self._started
        duration = results.scenario.duration_ms
        self.status.value = f"running: {min(simulated_ms, duration) / 1000:g} of {duration / 1000:g} s simulated…"

    def _show_done(self, results: Results, ahead: bool = False) -> None:
        """Draw a whole run; `ahead`: it was run before it was asked for (in the background, or by an earlier change)."""
        simulated = time.perf_counter()
        self.previous, self.results = self.results, results
        self.redraw()
        done = time.perf_counter()
        first = self._first_update_s if self._first_update_s is not None else done - self._started
        self.timings = {"simulate_s": simulated - self._started, "draw_s": done - simulated,
                        "total_s": done - self._started, "first_update_s": first, "ahead": ahead,
                        "partials": 0 if ahead else self._runner.partials,
                        "partials_s": 0.0 if ahead else self._runner.partial_s}
        how = "already run: drawn" if ahead else "simulated,"
        self.status.value = (f"{results.summary['operations']:,} operations, {results.scenario.duration_ms / 1000:g} s "
                             f"{how} in {done - self._started:.2f} s")
        if self.lookahead is not None:
            self.lookahead.served += ahead
            self.lookahead.keep(results.scenario, results)

    def _plan_ahead(self) -> None:
        """Inside a kernel, run the settings one change away from the current one while the student looks."""
        if self.lookahead is None or not _in_a_kernel():
            return  # plain Python: no student is looking, nothing to run ahead
        self.lookahead.plan(neighbours(self._scenario, self.controls, self._last_change))

    def _show_failure(self, err: BaseException) -> None:
        """A model failure: say so in the Lab, keep the old charts."""
        self.error = f"run failed: {type(err).__name__}: {err}"
        self.message.value = f"<div style='color:#b00020'><b>{_escape(self.error)}</b></div>"
        self.status.value = "run failed"

    def redraw(self) -> None:
        """Write the latest Results into every chart (in place), the summary table and the notes."""
        if self.results is None:
            return
        self._draw(self.results)
        self.summary.value = self._summary_html()
        said = notes(self.results)
        self.notes.value = "".join(f"<div style='color:#0b4f8a;margin:4px 0'><b>{_escape(note.headline)}</b> "
                                   f"{_escape(note.text)}</div>" for note in said)
        if self.fault_panel is not None:
            self.fault_panel.refresh()

    def _draw(self, results: Results, until_ms: float | None = None, skip: tuple[str, ...] = ()) -> None:
        """Every chart from `results` but those in `skip`; `until_ms`: a run still going, simulated up to
        then (the rest shaded)."""
        for name in self.chart_options:
            if name in skip and name in self.figures:  # kept as it is (a chart never drawn is drawn now)
                continue
            if name == "topology":
                self._reset_topology_slider(results)
                self._draw_topology(results, until_ms)
                continue
            options = dict(self.chart_options[name])
            if name == "replay" and until_ms is not None:
                options["messages_ms"] = None
                options["slow_motion"] = False
            fig = self._chart(name, results, options)
            if until_ms is not None and name in TIME_CHARTS:
                plots.mark_not_yet_simulated(fig, until_ms, results.scenario.duration_ms)
            self._show(name)

    def _chart(self, name: str, results: Results, options: dict):
        """Draw one chart in place, or make it (and its place in its cell) at its first drawing."""
        fig = self.figures.get(name)
        if fig is not None:
            return plots.FIGURES[name](results, fig=fig, **options)
        if name == "replay":
            fig = plots.replay(results, width=CHART_WIDTH_PX, height=360, **options)
            height = fig.height + 60
        else:
            fig = plots.FIGURES[name](results, fig=PlainFigure(), **options)
            height = fig["layout"]["height"]
        shown = self._outputs[name] = widgets.Output(layout=widgets.Layout(min_height=f"{height}px"))
        self.figures[name] = fig
        cell = self._cells[name]
        cell.children = (shown, *cell.children[1:]) if name == "topology" else (shown,)
        return fig

    def _show(self, name: str) -> None:
        """Put a chart's current drawing in its Output (the notebook's own plotly renderer draws it)."""
        output, fig = self._outputs[name], self.figures[name]
        if isinstance(fig, Replay):
            data = fig._repr_mimebundle_()
        else:
            figure = json.loads(to_json_plotly(fig))  # numpy arrays and NaN written as JSON
            # a fixed width: plotly's autosize measures the grid cell before it is laid out and overflows it
            figure["layout"]["width"] = CHART_WIDTH_PX
            data = {"application/vnd.plotly.v1+json": {**figure, "config": {"displaylogo": False}},
                    "text/plain": f"<{name} chart>"}
        output.outputs = ({"output_type": "display_data", "metadata": {}, "data": data},)

    def _on_topology_t(self, _change) -> None:
        if not self._syncing:
            self._topology_t_moved = True
            self._draw_topology()

    def _reset_topology_slider(self, results: Results) -> None:
        """The slider spans the workload; it starts at the moment worth seeing (a fault's effect), or the end."""
        slider, end = self.topology_t, results.scenario.duration_ms
        self._syncing = True
        try:
            slider.max = end
            slider.step = results.scenario.record.sample_ms
            if not self._topology_t_moved:
                telling = moment_ms(results, []) if len(results.events) else end
                slider.value = round(telling / slider.step) * slider.step
            elif slider.value > end:
                slider.value = end
        finally:
            self._syncing = False

    def _draw_topology(self, results: Results | None = None, until_ms: float | None = None) -> None:
        results = results if results is not None else self.results
        if results is not None and not self._syncing:
            options = dict(self.chart_options["topology"])
            at = self.topology_t.value if until_ms is None else min(self.topology_t.value, until_ms)
            options.setdefault("t_ms", at)
            self._chart("topology", results, options)
            self._show("topology")

    def _summary_html(self) -> str:
        now, before = self.results.summary, self.previous.summary if self.previous else {}
        cell = "padding:1px 8px;line-height:1.3"
        rows = "".join(
            f"<tr title='{_escape(SUMMARY_DOC.get(k, ''))}'><td style='{cell}'>{k}</td>"
            f"<td style='{cell};text-align:right'>{_fmt(now[k])}</td>"
            f"<td style='{cell};text-align:right;color:#888'>{_fmt(before[k]) if k in before else ''}</td></tr>"
            for k in self.summary_keys if k in now)
        head = "".join(f"<th style='{cell}'>{h}</th>" for h in ("metric", "this run", "previous"))
        return f"<table style='font-size:12px;border-collapse:collapse'><tr>{head}</tr>{rows}</table>"

    def _layout(self) -> widgets.Widget:
        left = [widgets.HTML("<b>Scenario</b>"), *self.controls.values(),
                widgets.HBox([self.run_button, self.live]), self.status, self.message, self.notes]
        if self.fault_panel is not None:
            left.append(self.fault_panel.widget)
        top = widgets.HBox([widgets.VBox(left, layout=widgets.Layout(width="380px")), self.summary])
        if self.topology_t is not None:
            self._cells["topology"].children = (*self._cells["topology"].children, self.topology_t)
        grid = widgets.GridBox(list(self._cells.values()), layout=widgets.Layout(grid_template_columns=f"repeat(auto-fill, minmax({CHART_WIDTH_PX + 10}px, 1fr))",
                                                            width="100%"))
        return widgets.VBox([top, grid])


def _in_a_kernel() -> bool:
    """True on a running asyncio loop, as inside a Jupyter kernel (plain Python and pytest have none)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;")
