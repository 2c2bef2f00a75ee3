"""Trial figures as PNG bytes for Dagster metadata: Kaplan–Meier curves with numbers at
risk, and the adverse-event dot plot (incidence per arm | risk difference forest).

matplotlib is imported lazily with the Agg backend, and figures are rendered to bytes,
by the helpers of ``models.plates.plots`` (the project's one definition of both).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from models.plates.plots import _png, _pyplot
from models.trials.stats import kaplan_meier, tte_frame, control_arm

DPI = 100
KM_SIZE = (8.0, 5.5)          # ~800 × 550 px at DPI
AT_RISK_TICKS = 6
_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _arm_colors(arms) -> dict[str, str]:
    """The control arm grey, the others in a fixed order, so every figure agrees."""
    ctl = control_arm(arms)
    others = [a for a in sorted(arms) if a != ctl]
    return {ctl: "#555555", **{a: _COLORS[i % len(_COLORS)] for i, a in enumerate(others)}}


def _no_data(plt, title: str, what: str) -> bytes:
    fig, ax = plt.subplots(figsize=KM_SIZE)
    ax.set_axis_off()
    ax.text(0.5, 0.5, what, ha="center", va="center", fontsize=12)
    ax.set_title(title, fontsize=11)
    return _png(fig, dpi=DPI)


def km_png(curve_or_adtte: pl.DataFrame, paramcd: str, title: str) -> bytes:
    """Kaplan–Meier curves of ``paramcd`` per arm with 95% CI bands and the numbers at
    risk under the axis (~800×550 px PNG). Takes ADTTE (then lifelines draws the curves
    and ``add_at_risk_counts`` the table) or a ``stats.km_curve`` frame (then the steps
    and the at-risk numbers at the ticks are read from it). One study per figure."""
    plt = _pyplot()
    df = curve_or_adtte
    is_adtte = "cnsr" in df.columns
    if is_adtte:
        df = tte_frame(df.filter(pl.col("paramcd") == paramcd), None)
    if not df.height:
        return _no_data(plt, title, f"no {paramcd} data")
    colors = _arm_colors(df["arm"].unique().to_list())
    fig, ax = plt.subplots(figsize=KM_SIZE)
    if is_adtte:
        fitters = []
        for arm in sorted(colors):
            a = df.filter(pl.col("arm") == arm)
            k = kaplan_meier(a["time"].to_numpy(), a["event"].to_numpy(), arm)
            k.plot_survival_function(ax=ax, ci_show=True, color=colors[arm],
                                     show_censors=True, censor_styles={"ms": 5, "marker": "|"})
            fitters.append(k)
        from lifelines.plotting import add_at_risk_counts

        add_at_risk_counts(*fitters, ax=ax, rows_to_show=["At risk"], fig=fig)
    else:
        for arm in sorted(colors):
            a = df.filter(pl.col("arm") == arm).sort("time")
            t = a["time"].to_numpy()
            ax.step(t, a["survival"].to_numpy(), where="post", color=colors[arm], label=arm)
            ax.fill_between(t, a["lo"].to_numpy(), a["hi"].to_numpy(), step="post",
                            color=colors[arm], alpha=0.2)
        _at_risk_table(ax, df, colors)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("days")
    ax.set_ylabel("probability event-free")
    ax.set_title(title, fontsize=11)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return _png(fig, dpi=DPI)


def _at_risk_table(ax, curve: pl.DataFrame, colors: dict[str, str]) -> None:
    """Numbers at risk per arm at the x ticks, under the axis (from a km_curve frame: the
    at-risk count at the first curve time at or after the tick, 0 beyond the curve)."""
    from matplotlib.ticker import MaxNLocator

    tmax = float(curve["time"].max())
    ticks = [x for x in MaxNLocator(AT_RISK_TICKS).tick_values(0, tmax) if 0 <= x <= tmax]
    ax.set_xticks(ticks)
    for i, arm in enumerate(sorted(colors)):
        a = curve.filter(pl.col("arm") == arm).sort("time")
        t, r = a["time"].to_numpy(), a["at_risk"].to_numpy()
        y = -0.16 - 0.06 * i
        ax.text(-0.02, y, arm, transform=ax.transAxes, ha="right", va="center", fontsize=7,
                color=colors[arm])
        for x in ticks:
            j = np.searchsorted(t, x, side="left")
            n = int(r[j]) if j < len(r) else 0
            ax.text(x, y, str(n), transform=ax.get_xaxis_transform(), ha="center",
                    va="center", fontsize=7)


def ae_dot_png(ae_incidence_frame: pl.DataFrame, top: int = 15,
               studyid: str | None = None) -> bytes:
    """The AE dot plot: for the ``top`` preferred terms by subjects with the event (all
    arms), the left panel the % of subjects per arm, the right panel each non-control
    arm's risk difference versus the control with its 95% CI (a forest; empty for a
    single-arm study). Input: ``stats.ae_incidence`` (its "pt" / "all" rows); one study
    (``studyid``, default the first)."""
    plt = _pyplot()
    df = ae_incidence_frame.filter((pl.col("level") == "pt") & (pl.col("stratum") == "all"))
    if df.height:
        studyid = studyid or sorted(df["studyid"].unique().to_list())[0]
        df = df.filter(pl.col("studyid") == studyid)
    title = f"{studyid or ''} treatment-emergent adverse events".strip()
    if not df.height:
        return _no_data(plt, title, "no treatment-emergent adverse events")
    terms = (df.group_by("aedecod").agg(pl.col("n_subjects").sum().alias("_n"))
             .sort(["_n", "aedecod"], descending=[True, False]).head(top)["aedecod"].to_list())
    terms = terms[::-1]  # most frequent at the top
    ypos = {t: i for i, t in enumerate(terms)}
    df = df.filter(pl.col("aedecod").is_in(terms))
    colors = _arm_colors(df["arm"].unique().to_list())
    height = max(3.0, 1.2 + 0.32 * len(terms))
    fig, (left, right) = plt.subplots(1, 2, sharey=True, figsize=(9.0, height),
                                      gridspec_kw={"width_ratios": [1.2, 1]})
    markers = "osD^vP"
    for i, arm in enumerate(sorted(colors)):
        a = df.filter(pl.col("arm") == arm)
        left.scatter(a["pct"].to_numpy(), [ypos[t] for t in a["aedecod"]], color=colors[arm],
                     marker=markers[i % len(markers)], label=arm, zorder=3)
    left.set_yticks(range(len(terms)), terms, fontsize=7)
    left.set_xlim(left=0)
    left.set_xlabel("% of subjects")
    left.grid(axis="y", color="#eeeeee")
    left.legend(fontsize=7, loc="lower right")
    rd = df.filter(pl.col("rd").is_not_null())
    arms = sorted(rd["arm"].unique().to_list())
    for i, arm in enumerate(arms):
        a = rd.filter(pl.col("arm") == arm)
        off = (i - (len(arms) - 1) / 2) * 0.2
        y = np.array([ypos[t] for t in a["aedecod"]]) + off
        est, lo, hi = (a[c].to_numpy() for c in ("rd", "rd_lo", "rd_hi"))
        right.errorbar(est, y, xerr=[est - lo, hi - est], fmt=markers[i % len(markers)],
                       color=colors[arm], ms=4, capsize=2, label=f"{arm} − {a['control_arm'][0]}")
    right.axvline(0, color="#888888", lw=0.8, ls="--")
    right.set_xlabel("risk difference (%-points, 95% CI)")
    if arms:
        right.legend(fontsize=7, loc="lower right")
    else:
        right.text(0.5, 0.5, "single arm: no comparison", ha="center", va="center",
                   transform=right.transAxes, fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _png(fig, dpi=DPI)
