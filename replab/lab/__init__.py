"""Lab: a live replication experiment in a notebook, in one line.

    from replab import Scenario
    from replab.lab import Lab

    lab = Lab(Scenario.preset("leader-follower"),
              controls=["topology.followers", "workload.write_ratio", "replication.ack"],
              charts=["latency", "throughput", "lag", "topology"],
              faults=True)
    lab                      # displays the controls, charts and summary table

Constructor
    Lab(scenario, controls=DEFAULT_CONTROLS, charts=DEFAULT_CHARTS, faults=False, live=True,
        summary=DEFAULT_SUMMARY, debounce_s=0.0, run=True, lookahead=None)
    controls   dotted Scenario fields; each becomes a widget built from the field's rules
               (slider within a teaching range, dropdown of choices, checkbox), so it
               cannot hold a value the model rejects (see replab.lab.controls).
    charts     names from replab.viz.plots.FIGURES: "latency", "throughput", "lag",
               "topology", "spacetime", "traffic", "state", "replay"; or a dict name -> keyword arguments of the plot,
               e.g. {"throughput": {"bin_ms": 100}, "spacetime": {"start_ms": 2990}}.
    faults     True for the buttons "crash-leader", "recover", "clear", or a list taken
               from replab.lab.faults.FAULT_BUTTONS.
    live       re-run after a control change (also a checkbox): debounce_s after the last one,
               by default at the kernel loop's next turn, so changes made together run once.
    summary    summary keys shown in the table (None: all), with the previous run's values.
    run        run once at construction so the charts are filled.
    lookahead  inside a kernel, run the settings one change away (the next notch of the
               slider moved last, the other options of each dropdown and checkbox, one notch
               of each slider) in a background process while the student looks; choosing one
               then draws it at once (replab.lab.lookahead). None: on when the machine has a
               spare CPU and REPLAB_LOOKAHEAD is not 0.

What a notebook or a test uses
    lab.widget     the top-level ipywidgets box (a Lab also displays itself)
    lab.scenario   the Scenario the next run uses
    lab.results    the latest Results (lab.previous: the one before)
    lab.figures    dict chart name -> plotly Figure (the replay: its widget), made at the first run and
                   updated in place; each is shown through an Output widget
    lab.controls   dict field path -> widget
    lab.error      the last rejected value's message ("field = value: what is allowed"), or None
    lab.timings    seconds the last run took: simulate_s, draw_s, total_s; ahead: drawn from a run
                   done ahead (or before)
    lab.lookahead  its store of runs and plan of runs ahead (None: off)
    lab.set(path, value)   move a control / change any field; bad values show, never raise
    lab.run()              run now, synchronously, redraw, return Results
    lab.wait()             do the pending live re-run now (headless code calls this after set)
    lab.add_fault(at_ms, action="crash", target="leader"), lab.clear_faults()   and re-run

Headless: nothing waits for a browser. Live re-runs go through the kernel's asyncio loop
when there is one and a daemon timer thread otherwise; `lab.wait()` makes them happen now.
Inside a kernel a run goes on in the background: the charts show its first simulated
seconds at once (the rest shaded) and fill in; a newer change cancels a stale run; a setting
run before, or run ahead, is drawn from its Results without simulating again.
"""

from replab.lab.controls import TEACHING_RANGES, control_for, teaching_range
from replab.lab.faults import FAULT_BUTTONS
from replab.lab.lab import DEFAULT_CHARTS, DEFAULT_CONTROLS, DEFAULT_SUMMARY, Lab

__all__ = ["DEFAULT_CHARTS", "DEFAULT_CONTROLS", "DEFAULT_SUMMARY", "FAULT_BUTTONS", "Lab", "TEACHING_RANGES",
           "control_for", "teaching_range"]
