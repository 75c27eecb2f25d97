"""The figure of specialization against forgetting from ``bench/specialize.py`` results.

    python bench/specialize_figure.py RESULT.json [RESULT.json ...] --out FIGURE.png [--html F]

One point per option (and L1 value), averaged over seeds: the subdomain's tail + rare concepts
detected as a share of the linear probe's, against the general head + mid concepts still
detected. The figure is ``report.plots.specialization_forgetting``, the Compare page's; the PNG is
a headless Chromium screenshot of its HTML (no plotly image engine needed).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ssae_core.report.plots import specialization_forgetting  # noqa: E402


def points(paths: list[str]) -> pd.DataFrame:
    """One row per option (and L1), the means over seeds, in the figure's columns."""
    rows = []
    for path in paths:
        payload = json.loads(Path(path).read_text())
        probe = payload.get("probe") or next(
            r["tail_rare"] for r in payload["rows"] if r["sae"] == "linear probe"
        )
        for r in payload["rows"]:
            if r["sae"] == "linear probe":
                continue
            option = r.get("option", r["sae"])
            label = option if option == "GSAE" or "l1" not in r else f"{option} · L1 {r['l1']:g}"
            rows.append(
                {
                    "sae": label,
                    "tail_rare": r["tail_rare"] / r["tail_rare_of"],
                    "of_probe": r["tail_rare"] / probe,
                    "head_mid": r["head_mid"] / r["head_mid_of"],
                    "general_l0": r["general_l0"],
                }
            )
    table = pd.DataFrame(rows).groupby("sae", sort=False, as_index=False).mean()
    gsae = table.general_l0[table.sae == "GSAE"]
    table["general_l0_vs_gsae"] = table.general_l0 / gsae.iloc[0]
    return table


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("results", nargs="+")
    p.add_argument("--out", required=True, help="the PNG to write")
    p.add_argument("--html", help="also keep the figure's HTML here")
    args = p.parse_args()
    fig = specialization_forgetting(points(args.results))
    fig.update_layout(width=900, height=600)
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(args.html or Path(tmp) / "figure.html")
        fig.write_html(page, include_plotlyjs="inline", config={"displayModeBar": False})
        browser = shutil.which("chromium") or shutil.which("chromium-browser")
        if browser is None:
            raise SystemExit("No chromium on PATH: install it (scripts/test.sh does) to get a PNG.")
        out = Path(args.out).resolve()
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
        cmd += ["--window-size=920,620", f"--screenshot={out}", page.resolve().as_uri()]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    print(out)


if __name__ == "__main__":
    main()
