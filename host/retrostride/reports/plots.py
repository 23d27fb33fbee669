"""A session over time, for `retrostride show --plot`: cadence (each step,
coloured by its direction), the lean against the reference with the alert
threshold and the alerts, the buzzes (a replay knows them), the bouts. PNG
through matplotlib; HTML is one self-contained page (the summary and the same
figure as inline SVG): no server, no script."""
import html
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt  # noqa: E402
from ..errors import UsageError

COLOURS = {"forward": "#1f77b4", "backward": "#d62728", "unknown": "#7f7f7f"}
BOUT_COLOURS = {"walk": "#c7e9c0", "run": "#74c476", "rest": "#ffffff"}


def figure(report, threshold_deg, title=""):
    steps = report["steps"]
    fig, (ax_c, ax_l, ax_b) = plt.subplots(3, 1, sharex=True, figsize=(10, 6.5),
                                           gridspec_kw={"height_ratios": [3, 3, 1]})
    t0 = steps[0]["t"] if steps else 0.0
    minutes = lambda t: (t - t0) / 60.0  # noqa: E731
    for d, colour in COLOURS.items():
        pts = [(minutes(s["t"]), s["cadence_spm"]) for s in steps if s["cadence_spm"] and s["direction"] == d]
        if pts:
            ax_c.scatter(*zip(*pts), s=4, color=colour, label=d)
    ax_c.set_ylabel("cadence (steps/min)")
    ax_c.legend(loc="upper right", fontsize=8, markerscale=3)
    lean = [(minutes(s["t"]), s["lean"]) for s in steps if s["lean"] is not None]
    if lean:
        ax_l.plot(*zip(*lean), color="#444444", linewidth=0.8, label="lean against the reference")
    ax_l.axhline(threshold_deg, color="#d62728", linestyle="--", linewidth=0.8, label=f"alert ({threshold_deg} deg)")
    for a in report["alerts"]:
        end = a["end"] if a["end"] is not None else a["start"]
        ax_l.axvspan(minutes(a["start"]), minutes(end) + 1e-3, color="#d62728", alpha=0.2)
    for b in report.get("buzzes", []):
        ax_l.axvline(minutes(b["t"]), color="#ff7f0e", linewidth=0.6, alpha=0.7)
    ax_l.set_ylabel("lean (deg)")
    ax_l.legend(loc="upper right", fontsize=8)
    bouts = report["bouts"]
    end = minutes(steps[-1]["t"]) if steps else 1.0
    for i, b in enumerate(bouts):
        stop = minutes(bouts[i + 1]["t"]) if i + 1 < len(bouts) else end
        ax_b.axvspan(minutes(b["t"]), stop, color=BOUT_COLOURS.get(b["kind"], "#ffffff"))
        if b["kind"] != "rest" and b["direction"] == "backward":
            ax_b.axvspan(minutes(b["t"]), stop, ymin=0, ymax=0.35, color=COLOURS["backward"])
    ax_b.set_yticks([])
    ax_b.set_ylabel("bouts", rotation=0, ha="right", va="center")
    ax_b.set_xlabel("minutes (walk light, run dark green; red below: backwards)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def write_plot(report, path, threshold_deg, summary=None, title=""):
    """PNG or HTML by the file's suffix."""
    path = Path(path)
    fig = figure(report, threshold_deg, title)
    try:
        if path.suffix.lower() == ".png":
            fig.savefig(path, dpi=110)
        elif path.suffix.lower() in (".html", ".htm"):
            svg = io.StringIO()
            fig.savefig(svg, format="svg")
            rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                           for k, v in (summary or {}).items())
            path.write_text("<!doctype html><html><head><meta charset='utf-8'><title>"
                            f"{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
                            "th{text-align:left;padding-right:1em}</style></head><body>"
                            f"<h1>{html.escape(title)}</h1><table>{rows}</table>{svg.getvalue()}</body></html>\n",
                            encoding="utf-8")
        else:
            raise UsageError(f"--plot {path}: say FILE.png or FILE.html")
    finally:
        plt.close(fig)
    return path
