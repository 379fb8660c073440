"""Draw the benchmark chart (PNG) from a results document; runs in ``bench/.venv-tools``.

    python bench/chart.py RESULTS.json CHART.png
"""
from __future__ import annotations

import json
import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend
from matplotlib import ticker  # noqa: E402

LITE, KEYSTONE, TRIVIAL = "#2a7ab0", "#c8553d", "#999999"


def _log_axis(axis, values) -> None:
    """Log scale from the power of ten below the smallest bar, with plain tick labels."""
    axis.set_yscale("log")
    smallest = min(value for value in values if value)
    axis.set_ylim(bottom=10 ** math.floor(math.log10(smallest)))
    axis.yaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    axis.yaxis.set_minor_formatter(ticker.NullFormatter())


def _bars(axis, labels, series, title, unit, log=False):
    """Grouped bars: ``series`` = [(name, colour, [value or None per label])]."""
    width = 0.8 / len(series)
    for index, (name, colour, values) in enumerate(series):
        positions = [x + (index - (len(series) - 1) / 2) * width for x in range(len(labels))]
        shown = [value or 0 for value in values]
        bars = axis.bar(positions, shown, width, label=name, color=colour)
        for bar, value in zip(bars, values):
            if value:
                axis.annotate(f"{value:,.0f}" if value >= 10 else f"{value:.2f}",
                              (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                              ha="center", va="bottom", fontsize=7)
    axis.set_xticks(range(len(labels)), labels, fontsize=8)
    axis.set_title(title, fontsize=10)
    axis.set_ylabel(unit)
    if log:
        _log_axis(axis, [value for _, _, values in series for value in values])
    axis.legend(fontsize=8)


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        results = json.load(handle)
    panels = []
    inproc = results.get("inprocess")
    if inproc:
        names = ["issue", "validate", "validate_nocatalog", "revoke"]
        panels.append(lambda axis: _bars(
            axis, ["issue", "validate", "validate\n?nocatalog", "revoke"],
            [("keystone_lite", LITE, [inproc["lite"]["operations"][n]["ops_per_s"]
                                      for n in names]),
             ("Keystone", KEYSTONE, [inproc["keystone"]["operations"][n]["ops_per_s"]
                                     for n in names])],
            "In process, one thread", "operations/s (log)", log=True))
    http = results.get("http")
    if http:
        labels, values, colours = [], [], []
        for server, label in (("gunicorn", "gunicorn"), ("apache", "Apache")):
            for app, name, colour in (("trivial", "trivial", TRIVIAL),
                                      ("lite", "keystone_lite", LITE),
                                      ("keystone", "Keystone", KEYSTONE)):
                if app in (http.get(server) or {}):
                    labels.append(f"{label}\n{name}")
                    values.append(http[server][app]["req_per_s"])
                    colours.append(colour)

        def draw_http(axis):
            bars = axis.bar(range(len(labels)), values, color=colours)
            for bar, value in zip(bars, values):
                axis.annotate(f"{value:,.0f}", (bar.get_x() + bar.get_width() / 2,
                                                bar.get_height()),
                              ha="center", va="bottom", fontsize=7)
            axis.set_xticks(range(len(labels)), labels, fontsize=7)
            axis.set_title("HTTP validation (wrk, 127.0.0.1)", fontsize=10)
            axis.set_ylabel("requests/s (log)")
            _log_axis(axis, values)
        panels.append(draw_http)
    startup = results.get("startup")
    if startup and http:
        panels.append(lambda axis: _bars(
            axis, ["start-up (s)", "peak RSS/worker\n(MiB, gunicorn)"],
            [("keystone_lite", LITE, [startup["lite"]["seconds"],
                                      http["gunicorn"]["lite"]["peak_rss_mib"]]),
             ("Keystone", KEYSTONE, [startup["keystone"]["seconds"],
                                     http["gunicorn"]["keystone"]["peak_rss_mib"]])],
            "Start-up and memory", "seconds / MiB (log)", log=True))
    cold = results.get("cold_http")
    if cold:
        servers = [server for server in ("gunicorn", "apache")
                   if {"lite", "keystone"} <= set(cold.get(server) or {})]
        if servers:
            panels.append(lambda axis: _bars(
                axis, servers,
                [("keystone_lite", LITE, [cold[s]["lite"]["req_per_s"] for s in servers]),
                 ("Keystone", KEYSTONE, [cold[s]["keystone"]["req_per_s"] for s in servers])],
                "Cold validation over HTTP (each token once)", "requests/s (log)", log=True))
    if not panels:
        panels.append(lambda axis: axis.text(0.5, 0.5, "no phase with a chart in this run",
                                             ha="center", va="center"))
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.5), squeeze=False)
    for draw, axis in zip(panels, axes[0]):
        draw(axis)
    figure.suptitle(f"keystone_lite vs OpenStack Keystone {results['versions']['keystone']} "
                    f"({results['date'][:10]}, {results['machine']['cpus']} shared cores)",
                    fontsize=11)
    figure.tight_layout()
    figure.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
