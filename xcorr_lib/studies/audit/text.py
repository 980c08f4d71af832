"""One-paragraph answers for the audit notebook, with every number taken from the tables."""

from __future__ import annotations

import pandas as pd


def _f(x: float, nd: int = 2) -> str:
    return f"{x:.{nd}f}"


def describe_null(table: pd.DataFrame) -> str:
    """Answer of section 1 from a :func:`~xcorr_lib.studies.audit.null_calibration` table."""
    small, large = int(table.probe_size.min()), int(table.probe_size.max())
    sh = table[table.null_kind == "shuffled"]
    lo, hi = sh[sh.probe_size == small], sh[sh.probe_size == large]
    widest = lo.loc[lo.n_units_b.idxmax()]
    parts = [
        f"With {small} probes the trained pairs score {_f(lo.score.mean())} on average, and the same "
        f"pairs with shuffled probes already score {_f(lo.null_score.mean())} "
        f"({100 * lo.null_score.sum() / lo.score.sum():.0f}% of the score)."
    ]
    un = table[(table.null_kind == "untrained") & (table.probe_size == small)]
    if not un.empty:
        parts.append(f"Against untrained networks the score is {_f(un.null_score.mean())}.")
    parts.append(
        f"A unit's best |rho| among the {int(widest.n_units_b)} units of {widest.model_b} reaches "
        f"{_f(widest.chance_max_abs_rho)} by chance (analytic value for independent units: "
        f"{_f(widest.expected_max_abs_rho)}).")
    parts.append(
        f"With {large} probes the shuffled null falls to {_f(hi.null_score.mean())} while the "
        f"trained pairs keep {_f(hi.score.mean())}: the signal (score minus null) grows from "
        f"{_f(lo.difference.mean())} to {_f(hi.difference.mean())}.")
    return " ".join(parts)


def describe_probe_size(table: pd.DataFrame) -> str:
    """Answer of section 2 from a :func:`~xcorr_lib.studies.audit.probe_size_table` table."""
    small, large = int(table.probe_size.min()), int(table.probe_size.max())
    parts = []
    for kind, grp in table.groupby("probe_kind", sort=False):
        a = grp[grp.probe_size == small].score.mean()
        b = grp[grp.probe_size == large].score.mean()
        parts.append(f"on {kind} the mean score goes from {_f(a)} ({small} probes) to {_f(b)} ({large})")
    text = "Averaged over pairs, " + "; ".join(parts) + "."
    kinds = list(dict.fromkeys(table.probe_kind))
    if len(kinds) >= 2:
        w = table[table.probe_size == large].pivot_table(index="pair", columns="probe_kind", values="score")
        diff = w[kinds[1]] - w[kinds[0]]
        k = int((diff > 0).sum())
        text += (f" At {large} probes {kinds[1]} gives a higher score than {kinds[0]} for {k} of "
                 f"{len(w)} pairs (mean difference {diff.mean():+.3f}, largest |difference| {diff.abs().max():.3f})")
        # a conclusion only when the data say so: the same sign for every pair, not a tiny shift
        text += (": the score depends on what the probes are, not only on the networks."
                 if k in (0, len(w)) and diff.abs().min() > 0.01 else
                 "; the probe kind does not move every pair the same way here.")
    return text


def describe_seeds(summary: pd.DataFrame) -> str:
    """Answer of section 3 from :func:`~xcorr_lib.studies.audit.seed_variability`."""
    acc = summary[summary.quantity == "accuracy"]
    sc = summary[summary.quantity == "score"]
    n = int(summary.n.max())
    text = (f"Over {n} seeds the test accuracy of a net varies with a standard deviation of up to "
            f"{_f(100 * acc.sd.max(), 1)} points ({acc.loc[acc.sd.idxmax(), 'name']}).")
    if not sc.empty:
        w = sc.loc[(sc.ci_high - sc.ci_low).idxmax()]
        text += (f" Scores vary with a standard deviation of up to {_f(sc.sd.max(), 3)}; the widest "
                 f"95% interval is {w['name']}: {_f(w['mean'], 3)} [{_f(w.ci_low, 3)}, {_f(w.ci_high, 3)}]. "
                 "Differences between nets smaller than that are not established by one run.")
    return text


def describe_alignment(stats_table: pd.DataFrame) -> str:
    """Answer of section 4 from :func:`~xcorr_lib.studies.audit.alignment_vs_robustness`: the
    verdict rests on the network-level (clustered) interval when there is one."""
    s = stats_table.set_index("statistic")
    sp, kd = s.loc["spearman"], s.loc["kendall"]
    main = s.loc["spearman_clustered"] if "spearman_clustered" in s.index else sp
    if main.ci_high < 0:
        verdict = "the interval lies below 0, so these runs support the claim"
    elif main.ci_low > 0:
        verdict = "the interval lies above 0, so these runs contradict the claim"
    else:
        verdict = "the interval includes 0, so these runs can neither confirm nor refute the claim"
    text = (f"Across {int(sp.n)} (net, seed) points, Spearman's rho between alignment with the CNN and "
            f"relative degradation is {_f(sp.value)} (95% bootstrap interval over points [{_f(sp.ci_low)}, "
            f"{_f(sp.ci_high)}], permutation p = {_f(sp.p_value, 3)}); Kendall's tau is {_f(kd.value)} "
            f"(p = {_f(kd.p_value, 3)}).")
    if main is not sp:
        text += (f" With the {int(main.n)} networks as the independent units (seeds of one network are not "
                 f"independent), the interval is [{_f(main.ci_low)}, {_f(main.ci_high)}] and the permutation "
                 f"of whole networks gives p = {_f(main.p_value, 3)}.")
    return text + f" The paper's claim predicts a negative correlation; {verdict}."


def describe_nulls(table: pd.DataFrame) -> str:
    """One line per measure of a :func:`~xcorr_lib.studies.audit.measures_table` with nulls: its
    mean value, its mean shuffled-probe null and in how many pairs the value exceeds the null's
    mean by more than 3 null sds."""
    if "null_mean" not in table:
        return "No null was computed (n_null = 0)."
    lines = []
    for name, g in table.groupby("measure", sort=False):
        above = int(((g.value - g.null_mean) > 3 * g.null_sd.fillna(0.0)).sum())
        lines.append(f"{name}: mean {_f(g.value.mean(), 3)} against a shuffled-probe null of "
                     f"{_f(g.null_mean.mean(), 3)}; above the null (by > 3 sd of {int(g.n_null.iloc[0])} draws) "
                     f"in {above} of {len(g)} pairs")
    return "\n".join(lines)


def describe_measures(agreement: pd.DataFrame, anchor: str = "neuron_correlation") -> str:
    """Answer of section 5 from :func:`~xcorr_lib.studies.audit.measure_agreement`."""
    with_anchor = agreement[(agreement.measure_a == anchor) | (agreement.measure_b == anchor)]
    others = agreement.drop(with_anchor.index)
    n = int(agreement.n_pairs.max())
    text = ""
    if not with_anchor.empty:
        best = with_anchor.loc[with_anchor.kendall_tau.idxmax()]
        partner = best.measure_b if best.measure_a == anchor else best.measure_a
        text = (f"Over {n} pairs, the paper's score agrees with the other measures' ranking with a mean "
                f"Kendall tau of {_f(with_anchor.kendall_tau.mean())} (best: {partner}, "
                f"{_f(best.kendall_tau)}). ")
    if not others.empty:
        lo = others.loc[others.kendall_tau.idxmin()]
        text += (f"Among the other measures the mean tau is {_f(others.kendall_tau.mean())}; the least "
                 f"agreeing are {lo.measure_a} and {lo.measure_b} ({_f(lo.kendall_tau)}).")
    return text.strip() or "No pairs of measures to compare."

