"""gate_core.transfer.ratio_table: ratios ranked, shares and whether a ratio stands clear."""

from gate_core.transfer.ratio_table import ratio_frame


def test_shares_follow_lambda_and_close_ratios_are_marked():
    # stored per-member shares averaged can disagree with λ's order (omega 1.83 / 8.25 %, hansen_dH 1.76 / 8.81 %)
    ratios = {
        "omega": {"ratio": 1.83, "ratio_std": 0.05, "share": 0.0825},
        "hansen_dH": {"ratio": 1.76, "ratio_std": 0.05, "share": 0.0881},
        "Tb_K": {"ratio": 0.5, "ratio_std": 0.1, "share": 0.03},
    }
    frame = ratio_frame(ratios)
    assert list(frame["source"]) == ["omega", "hansen_dH", "Tb_K"]
    assert frame["share"].is_monotonic_decreasing and abs(frame["share"].sum() - 1) < 1e-9
    assert list(frame["vs_next"]) == ["within the spread", "clearly higher", ""]
