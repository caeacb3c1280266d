"""User text reaches plotly figures as plain text: no link, style or line break of its own."""

import json

import numpy as np
import pandas as pd

from gate_app import bench_charts, charts

EVIL = '<a href="http://x">u</a>'
ESCAPED = '&lt;a href="http://x"&gt;u&lt;/a&gt;'


def _everything(fig) -> str:
    return json.dumps(fig.to_plotly_json(), default=str)


def test_chart_text_escapes_the_three_characters_plotly_reads_as_markup():
    assert charts.chart_text(EVIL) == ESCAPED
    assert charts.chart_text("a & b <br> c") == "a &amp; b &lt;br&gt; c"
    assert charts.chart_text("log units") == "log units"


def test_no_chart_carries_user_markup_unescaped():
    y = np.array([1.0, 2.0, 3.0])
    ratios = pd.DataFrame(
        {
            "source": [EVIL, "Tb_K"],
            "ratio": [0.5, 0.2],
            "ratio_std": [0.1, 0.1],
            "share": [0.7, 0.3],
            "kind": [EVIL, "computed"],
        }
    )
    traj = pd.DataFrame(
        {"member": [0, 0], "step": [0, 1], "source": [EVIL, EVIL], "ratio": [1.0, 0.5]}
    )
    figures = [
        charts.value_histogram(y, EVIL, EVIL),
        charts.parity(
            y, y, y, EVIL, EVIL, title=f"{EVIL}: predicted vs measured ('{EVIL}')", series=EVIL
        ),
        charts.roc([0, 1, 1], [0.2, 0.8, 0.6], None, title=EVIL, series=EVIL),
        charts.ratio_bars(ratios),
        charts.ratio_trajectory(traj),
        charts.ratio_heatmap(pd.DataFrame([[0.5]], index=[EVIL], columns=[EVIL])),
        charts.latent_scatter(
            np.zeros((3, 2)), [EVIL, "CCN", "CCC"], pd.Series([EVIL, "b", "c"]), EVIL, EVIL
        ),
        charts.latent_scatter(
            np.zeros((3, 2)), [EVIL, "CCN", "CCC"], pd.Series([1.0, 2.0, np.nan]), EVIL, EVIL
        ),
        bench_charts.target_bars([EVIL], [1.0], 2.0, EVIL, EVIL),
        bench_charts.target_bars([EVIL], [1.0], 2.0, EVIL, EVIL, log=True),
    ]
    for fig in figures:
        text = _everything(fig)
        assert "<a href" not in text and ESCAPED.replace('"', '\\"') in text, text[:300]
