"""Draws the latency histograms a savantmetrics endpoint serves
(savant_stage_mux_latency_seconds, one bar series per stage) into a PNG.

    python3 scripts/plot-latency.py http://127.0.0.1:9464/metrics out.png

Needs matplotlib (not a dependency of the plugin: `pip install matplotlib`)."""

import re
import sys
import urllib.request

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

METRIC = "savant_stage_mux_latency_seconds_bucket"
LINE = re.compile(r'^' + METRIC + r'\{(?P<labels>[^}]*)\} (?P<value>\S+)$')


def buckets(text):
    """{element: [(le, cumulative count)]} of the metric."""
    series = {}
    for line in text.splitlines():
        match = LINE.match(line)
        if not match:
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match["labels"]))
        series.setdefault(labels["element"], []).append((labels["le"], float(match["value"])))
    return series


def main(url, out):
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    series = buckets(text)
    if not series:
        sys.exit(f"no {METRIC} at {url} (is a stage behind a savantmux running?)")
    figure, axes = plt.subplots(figsize=(8, 4), dpi=100)
    width = 0.8 / len(series)
    for i, (element, points) in enumerate(sorted(series.items())):
        labels = [le if le == "+Inf" else f"{float(le) * 1e3:g}" for le, _ in points]
        counts = [points[0][1]] + [b[1] - a[1] for a, b in zip(points, points[1:])]
        total = max(points[-1][1], 1)
        axes.bar([x + i * width for x in range(len(points))],
                 [100 * c / total for c in counts], width, label=element)
    axes.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(labels))])
    axes.set_xticklabels([f"<= {label}" for label in labels], rotation=45, ha="right")
    axes.set_xlabel("latency from savantmux to the end of the stage's call (ms)")
    axes.set_ylabel("frames (%)")
    axes.set_title("savant_stage_mux_latency_seconds, per stage")
    axes.legend()
    figure.tight_layout()
    figure.savefig(out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
