"""How well the model agrees with a real stack: fidelity table, acceptance checks, ECDF overlays.

`fidelity_table(real, model)` compares two `Results` with the columns of `simulate()`'s tables
(the real side may hold NaN, or lack a column, where a figure is not measurable: that row says
n/a). Assumptions and methods:

- Stream i of both sides saw the same weather (one seed tree), so per-stream figures are paired by
  `stream`, and a disconnect is paired with the other side's disconnect of the same stream whose
  break time lies within `PAIR_TOLERANCE` seconds (both blame the same weather event; a real fault
  is applied a little after its scheduled time). Where fewer than two disconnects pair (e.g. the
  real break times are unknown), per-stream means are paired instead; failing that, the two
  samples are compared unpaired (Welch).
- A paired difference is conditional on the pair existing (a disconnect both sides recorded); the
  means, intervals and distribution tests use every finite value of each side. NaN (not reached,
  or not measurable) is left out; n says how many values remain.
- Means get Student t intervals (floored at 0 for non-negative data); a count whose values are
  all equal gets the exact Poisson (Garwood) interval instead of a zero-width one. The share of
  outages that became disconnects is a ratio of sums over streams with a delta-method (clustered
  by stream) interval, falling back to Clopper-Pearson when that variance is zero.
- Tests: the paired t test of the difference; where the pairs leave values out (a disconnect
  only one side recorded), also Welch's test of the two means, which sees what the pairs cannot
  (e.g. a longer heartbeat turning detected silent outages into stalls); two-sample
  Kolmogorov-Smirnov and k-sample Anderson-Darling (scipy; its p-value is clipped to
  [0.001, 0.25]). Verdict "differ" when one of them rejects at 1 % after Bonferroni over the tests
  that apply to the row, so a row's false-alarm rate is at most 1 %; "agree" otherwise; "n/a"
  when no test applies.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats as sps

from model import stats
from model.figures import _finish, _seconds
from model.simulation import Results

__all__ = [
    "fidelity_table",
    "acceptance",
    "ecdf_figure",
    "pair_disconnects",
    "estimate_rows",
    "comparison_rows",
    "check_rows",
    "reading",
    "provenance_rows",
    "aligned",
    "MEASURES",
    "PAIR_TOLERANCE",
]

ALPHA = 0.01  # "differ at 1 %"
CONFIDENCE = 0.95  # every interval in the table
PAIR_TOLERANCE = 0.25  # s: two break times this close are the same weather event


@dataclass(frozen=True)
class Measure:
    key: str  # stream column, disconnect column, or a derived figure's name
    label: str  # row label, with its unit
    per: str  # "stream", "completed stream", "disconnect" or "outage"
    count: bool = False  # whole numbers (Poisson interval when constant)


MEASURES = [
    Measure("completion_time", "completion time (s)", "completed stream"),
    Measure("disconnects", "disconnects per stream", "stream", count=True),
    Measure("stalls_absorbed", "outages absorbed as stalls per stream", "stream", count=True),
    Measure("outage_share", "share of outages that became disconnects", "outage"),
    Measure("detection_delay", "detection delay (s)", "disconnect"),
    Measure("reconnect_time", "reconnect time (s)", "disconnect"),
    Measure("resume_time", "resume time (s)", "disconnect"),
    Measure("recovery_time", "recovery time (s)", "disconnect"),
    Measure("detected_to_first_frame", "detected to first frame (s)", "disconnect"),
    Measure("attempts", "attempts per disconnect", "disconnect", count=True),
    Measure("spurious", "spurious disconnects per stream", "stream", count=True),
]
BY_KEY = {m.key: m for m in MEASURES}
COLUMNS = [
    "key",
    "figure",
    "per",
    "real_n",
    "real",
    "real_lower",
    "real_upper",
    "model_n",
    "model",
    "model_lower",
    "model_upper",
    "paired_by",
    "pairs",
    "difference",
    "difference_lower",
    "difference_upper",
    "relative_difference",
    "p_difference",
    "p_means",
    "p_ks",
    "p_ad",
    "verdict",
]
NAN4 = (math.nan,) * 4


# ---------------------------------------------------------------- values of one side


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    """A column as floats; a missing column is all NaN (not measurable)."""
    if name not in df:
        return pd.Series(np.nan, index=df.index, dtype=float)
    return pd.to_numeric(df[name], errors="coerce").astype(float)


def _finite(v: pd.Series) -> pd.Series:
    return v[np.isfinite(v.to_numpy(dtype=float))]


def _by_stream(df: pd.DataFrame) -> pd.DataFrame:
    """`df` indexed by its stream id (float, so both sides' ids compare alike)."""
    return df.set_axis(pd.Index(_col(df, "stream").to_numpy(), name="stream"), axis=0)


def stream_values(res: Results, key: str) -> pd.Series:
    """A per-stream figure, indexed by stream, finite values only."""
    s = _by_stream(res.streams)
    if key == "completion_time":
        done = s[s["outcome"] == "completed"] if "outcome" in s else s.iloc[:0]
        return _finite(_col(done, "completion_time") - _col(done, "start_time").fillna(0.0))
    if key == "spurious":
        d = _by_stream(res.disconnects)
        if len(d) and ("cause" not in d or d["cause"].isna().all()):
            return pd.Series(dtype=float)  # disconnects with no cause recorded: not measurable
        loss = (d["cause"] == "loss").astype(float) if len(d) else pd.Series(dtype=float)
        return loss.groupby(level=0).sum().reindex(s.index, fill_value=0.0)
    return _finite(_col(s, key))


def disconnect_values(d: pd.DataFrame, key: str) -> pd.Series:
    """A per-disconnect figure aligned with the rows of `d` (NaN kept)."""
    if key == "detected_to_first_frame":
        return _col(d, "resumed_at") - _col(d, "detected_at")
    return _col(d, key)


def _outages(res: Results) -> pd.DataFrame:
    """Per stream: outages while streaming (x) and how many became disconnects (y), finite only."""
    s = _by_stream(res.streams)
    x = _col(s, "outages_while_streaming")
    out = pd.DataFrame({"x": x, "y": x - _col(s, "stalls_absorbed")})
    return out[np.isfinite(out.x) & np.isfinite(out.y)]


def pair_disconnects(
    real: pd.DataFrame, model: pd.DataFrame, tolerance: float = PAIR_TOLERANCE
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions (real, model) of disconnects of the same stream whose break times are within
    `tolerance` s, closest first, each row used at most once."""
    r = pd.DataFrame(
        {"stream": _col(real, "stream"), "t": _col(real, "time"), "r": np.arange(len(real))}
    )
    m = pd.DataFrame(
        {"stream": _col(model, "stream"), "t": _col(model, "time"), "m": np.arange(len(model))}
    )
    r, m = r[np.isfinite(r.stream)], m[np.isfinite(m.stream)]
    j = r.merge(m, on="stream", suffixes=("_r", "_m"))
    j["gap"] = (j.t_r - j.t_m).abs()
    j = j[j.gap <= tolerance].sort_values(["gap", "r", "m"], kind="stable")
    j = j.drop_duplicates("r").drop_duplicates("m").sort_values("r")
    return j.r.to_numpy(), j.m.to_numpy()


# ---------------------------------------------------------------- statistics


def _side(x: np.ndarray, count: bool) -> tuple[int, float, float, float]:
    """(n, mean, lower, upper) at CONFIDENCE."""
    if len(x) == 0:
        return 0, *NAN4[:3]
    mean, lo, hi = stats.mean_interval(x, CONFIDENCE)
    if count and (x == x[0]).all() and (x >= 0).all():
        lo, hi = _poisson_mean_interval(float(x.sum()), len(x))
    return len(x), mean, max(lo, 0.0) if (x >= 0).all() else lo, hi


def _poisson_mean_interval(total: float, n: int) -> tuple[float, float]:
    """Exact (Garwood) interval for a Poisson mean per unit from `total` events in `n` units."""
    a = 1 - CONFIDENCE
    lo = sps.chi2.ppf(a / 2, 2 * total) / (2 * n) if total > 0 else 0.0
    return float(lo), float(sps.chi2.ppf(1 - a / 2, 2 * total + 2) / (2 * n))


def _t_difference(diff: float, se: float, df: float) -> tuple[float, float, float, float]:
    """(difference, lower, upper, two-sided p) of a t statistic; a zero standard error means the
    difference is exact (p 1 if it is 0, else 0)."""
    if not (np.isfinite(diff) and np.isfinite(se)) or df < 1:
        return diff, math.nan, math.nan, math.nan
    if se == 0:
        return diff, diff, diff, 1.0 if diff == 0 else 0.0
    half = float(sps.t.isf((1 - CONFIDENCE) / 2, df)) * se
    return diff, diff - half, diff + half, float(2 * sps.t.sf(abs(diff) / se, df))


def _paired(d: np.ndarray) -> tuple[float, float, float, float]:
    return _t_difference(float(d.mean()), _se(d), len(d) - 1) if len(d) else NAN4


def _welch(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float, float]:
    """Mean of b minus mean of a, unpaired."""
    if len(a) == 0 or len(b) == 0:
        return NAN4
    diff = float(b.mean() - a.mean())
    if len(a) < 2 or len(b) < 2:
        return diff, math.nan, math.nan, math.nan
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if va + vb > 0 else 1
    return _t_difference(diff, math.sqrt(va + vb), df)


def _distribution_tests(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(KS p, AD p); NaN with fewer than two values on a side."""
    if min(len(a), len(b)) < 2:
        return math.nan, math.nan
    with warnings.catch_warnings():  # KS's switch to asymptotic p, AD's "p-value capped"
        warnings.simplefilter("ignore")
        p_ks = float(sps.ks_2samp(a, b).pvalue)
        if np.unique(np.concatenate([a, b])).size < 2:
            return p_ks, 1.0  # one value on both sides: nothing to tell apart
        return p_ks, float(sps.anderson_ksamp([a, b]).pvalue)


def _verdict(*ps: float) -> str:
    ps = [p for p in ps if np.isfinite(p)]
    if not ps:
        return "n/a"
    return "differ" if min(ps) < ALPHA / len(ps) else "agree"


def _ratio(o: pd.DataFrame) -> tuple[float, np.ndarray]:
    """Share y/x over streams and each stream's linearised contribution (delta method)."""
    r = o.y.sum() / o.x.sum()
    return float(r), ((o.y - r * o.x) / o.x.mean()).to_numpy()


def _se(z: np.ndarray) -> float:
    return float(z.std(ddof=1)) / math.sqrt(len(z)) if len(z) > 1 else math.nan


def _share_side(o: pd.DataFrame) -> tuple[int, float, float, float]:
    if len(o) == 0 or o.x.sum() <= 0:
        return len(o), *NAN4[:3]
    r, z = _ratio(o)
    if _se(z) == 0 and float(o.y.sum()).is_integer():  # every stream alike: outages as trials
        k, n = int(o.y.sum()), int(o.x.sum())
        return len(o), r, *stats.clopper_pearson_interval(k, n, CONFIDENCE)
    _, lo, hi, _ = _t_difference(r, _se(z), len(z) - 1)
    return len(o), r, max(0.0, lo), min(1.0, hi)


def _share_row(real: Results, model: Results) -> dict:
    a, b = _outages(real), _outages(model)
    row = _sides(_share_side(a), _share_side(b))
    both = a.add_suffix("_r").join(b.add_suffix("_m"), how="inner")
    sides = [both[[f"x{s}", f"y{s}"]].set_axis(["x", "y"], axis=1) for s in ("_r", "_m")]
    row.update(p_means=math.nan, p_ks=math.nan, p_ad=math.nan)
    if len(both) < 2 or min(o.x.sum() for o in sides) <= 0:
        return {**row, "paired_by": "none", "pairs": 0, **_difference(*NAN4)}
    (rr, zr), (rm, zm) = _ratio(sides[0]), _ratio(sides[1])
    diff = _t_difference(rm - rr, _se(zm - zr), len(both) - 1)
    return {**row, "paired_by": "stream", "pairs": len(both), **_difference(*diff)}


# ---------------------------------------------------------------- the table


def _sides(real: tuple, model: tuple) -> dict:
    """(n, mean, lower, upper) of each side as table columns."""
    names = ("{}_n", "{}", "{}_lower", "{}_upper")
    return {
        f.format(side): v
        for side, values in (("real", real), ("model", model))
        for f, v in zip(names, values)
    }


def _difference(diff, lo, hi, p) -> dict:
    return {"difference": diff, "difference_lower": lo, "difference_upper": hi, "p_difference": p}


def _compare(
    a: np.ndarray, b: np.ndarray, pairs: tuple[np.ndarray, np.ndarray], paired_by: str, count: bool
) -> dict:
    """Both sides' summaries, the paired difference (Welch without pairs), the unpaired test of
    the means where the pairs leave values out, and the distribution tests."""
    row = _sides(_side(a, count), _side(b, count))
    welch = _welch(a, b)
    if len(pairs[0]) >= 2:
        diff = _difference(*_paired(pairs[1] - pairs[0]))
        row.update(paired_by=paired_by, pairs=len(pairs[0]), **diff)
        covered = len(pairs[0]) == len(a) == len(b)
        row["p_means"] = math.nan if covered else welch[3]  # covered: the paired test asks it
    else:
        row.update(paired_by="none", pairs=0, **_difference(*welch), p_means=math.nan)
    row["p_ks"], row["p_ad"] = _distribution_tests(a, b)
    return row


def _stream_row(real: Results, model: Results, m: Measure) -> dict:
    a, b = stream_values(real, m.key), stream_values(model, m.key)
    common = a.index.intersection(b.index)
    pairs = (a.loc[common].to_numpy(), b.loc[common].to_numpy())
    return _compare(a.to_numpy(), b.to_numpy(), pairs, "stream", m.count)


def _disconnect_row(real: Results, model: Results, m: Measure, matched) -> dict:
    dr, dm = real.disconnects, model.disconnects
    a, b = disconnect_values(dr, m.key).to_numpy(), disconnect_values(dm, m.key).to_numpy()
    ri, mi = matched
    ok = np.isfinite(a[ri]) & np.isfinite(b[mi])
    pairs, how = (a[ri][ok], b[mi][ok]), "disconnect"
    if ok.sum() < 2:  # no usable disconnect pairs: pair the streams' means instead
        mean_r = pd.Series(a, index=_col(dr, "stream")).dropna().groupby(level=0).mean()
        mean_m = pd.Series(b, index=_col(dm, "stream")).dropna().groupby(level=0).mean()
        common = mean_r.index.intersection(mean_m.index)
        pairs, how = (mean_r.loc[common].to_numpy(), mean_m.loc[common].to_numpy()), "stream mean"
    return _compare(a[np.isfinite(a)], b[np.isfinite(b)], pairs, how, m.count)


def fidelity_table(
    real: Results, model: Results, tolerance: float = PAIR_TOLERANCE
) -> pd.DataFrame:
    """One row per figure of MEASURES: each side's mean with its 95 % interval, the paired
    difference (model - real) with its interval and p-value, the relative difference of the means,
    KS and AD p-values and the verdict at 1 %."""
    matched = pair_disconnects(real.disconnects, model.disconnects, tolerance)
    rows = []
    for m in MEASURES:
        if m.key == "outage_share":
            row = _share_row(real, model)
        elif m.per == "disconnect":
            row = _disconnect_row(real, model, m, matched)
        else:
            row = _stream_row(real, model, m)
        r, mo = row["real"], row["model"]
        row["relative_difference"] = (
            0.0 if r == mo == 0 else (mo - r) / abs(r) if r != 0 else math.nan
        )
        row["verdict"] = _verdict(*(row[k] for k in ("p_difference", "p_means", "p_ks", "p_ad")))
        rows.append({"key": m.key, "figure": m.label, "per": m.per, **row})
    return pd.DataFrame(rows, columns=COLUMNS)


# ---------------------------------------------------------------- acceptance criteria


def acceptance(table: pd.DataFrame) -> pd.DataFrame:
    """The issue's acceptance criteria, each PASS, FAIL or N/A (nothing to judge)."""
    t = table.set_index("key")

    def row(check, criterion, key, value, ok):
        status = "N/A" if ok is None or not np.isfinite(value) else "PASS" if ok else "FAIL"
        return {
            "check": check,
            "criterion": criterion,
            "real": t.real[key],
            "model": t.model[key],
            "value": value,
            "status": status,
        }

    rel = t.relative_difference["detected_to_first_frame"]
    share = t.model["outage_share"] - t.real["outage_share"]
    # the real mean's own uncertainty, beside a 10 % criterion: a few reconnects that land in
    # the next outage can move it by more than that (README "Fidelity")
    own = (
        (t.real_upper - t.real_lower)["detected_to_first_frame"]
        / 2
        / t.real["detected_to_first_frame"]
    )
    rows = [
        row(
            "detected to first frame",
            "|mean model - mean real| <= 10 % of real"
            + (f" (real mean's 95 % interval ±{own:.0%})" if np.isfinite(own) else ""),
            "detected_to_first_frame",
            abs(rel),
            abs(rel) <= 0.10,
        ),
        row(
            "outages that became disconnects",
            "|share model - share real| <= 0.05",
            "outage_share",
            abs(share),
            abs(share) <= 0.05,
        ),
    ]
    for key, name in (("completion_time", "completion time"), ("recovery_time", "recovery time")):
        p = float(np.fmin(t.p_ks[key], t.p_ad[key]))
        rows.append(
            row(
                f"{name} distribution",
                "neither KS nor AD rejects at 1 % (lower p)",
                key,
                p,
                p >= ALPHA,
            )
        )
    lo, hi, model = t.real_lower["spurious"], t.real_upper["spurious"], t.model["spurious"]
    inside = lo <= model <= hi if np.isfinite([lo, hi, model]).all() else None
    rows.append(
        row(
            "spurious disconnects per stream",
            "model mean inside the real 95 % interval",
            "spurious",
            model,
            inside,
        )
    )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- ECDF overlays

ECDF_KEYS = ("completion_time", "detection_delay", "reconnect_time", "recovery_time")


def _sample(res: Results, key: str) -> np.ndarray:
    if BY_KEY[key].per == "disconnect":
        v = disconnect_values(res.disconnects, key).to_numpy()
        return np.sort(v[np.isfinite(v)])
    return np.sort(stream_values(res, key).to_numpy())


def ecdf_figure(real: Results, model: Results, name: str = "") -> Figure:
    """Empirical CDFs of the real stack against the model: completion, detection, reconnect and
    recovery times (finite values), with a caption giving medians and the KS test of each."""
    fig = Figure(figsize=(7.0, 4.6), layout="constrained")
    parts = []
    for ax, key in zip(fig.subplots(2, 2).ravel(), ECDF_KEYS):
        a, b = _sample(real, key), _sample(model, key)
        for x, label, style in (
            (a, "real stack", dict(color="black", lw=1.6)),
            (b, "model", dict(color="#2171b5", lw=1.2, ls="--")),
        ):
            if len(x):
                ax.step(
                    np.r_[x[0], x],
                    np.r_[0.0, np.arange(1, len(x) + 1) / len(x)],
                    where="post",
                    label=f"{label} (n={len(x):,})",
                    **style,
                )
        if not len(a) and not len(b):
            ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)
        pos = np.concatenate([a, b])
        pos = pos[pos > 0]
        if len(pos) and pos.max() / pos.min() > 200:
            ax.set_xscale("log")
        ax.set(title=BY_KEY[key].label.replace(" (s)", ""), xlabel="seconds", ylim=(0, 1.02))
        ax.set_ylabel("fraction", fontsize="small")
        ax.grid(alpha=0.3)
        if len(a) or len(b):
            ax.legend(fontsize="x-small", loc="lower right")
        parts.append(_ecdf_sentence(key, a, b))
    fig.suptitle("Real stack against the model" + (f" ({name})" if name else ""), fontsize="medium")
    cap = (
        "Empirical CDFs of the real stack (solid) and the model (dashed) on the same seeds, "
        "finite values only. " + " ".join(parts)
    )
    return _finish(fig, cap)


def _ecdf_sentence(key: str, a: np.ndarray, b: np.ndarray) -> str:
    label = BY_KEY[key].label.replace(" (s)", "")
    if not len(a) or not len(b):
        return f"{label.capitalize()}: {'no real values' if not len(a) else 'no model values'}."
    p_ks, _ = _distribution_tests(a, b)
    test = f"KS p = {p_ks:.2g}" if np.isfinite(p_ks) else "too few values to test"
    return (
        f"{label.capitalize()}: median {_seconds(float(np.median(a)))} real against "
        f"{_seconds(float(np.median(b)))} model ({test})."
    )


# ---------------------------------------------------------------- text for the CLI and the report


def _num(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "n/a"
    return f"{x:.{digits}g}" if abs(x) < 10**digits else f"{x:,.0f}"


def _interval(v, lo, hi) -> str:
    if not np.isfinite(v):
        return "n/a"
    return _num(v) + (f" [{_num(lo)}, {_num(hi)}]" if np.isfinite(lo) and np.isfinite(hi) else "")


def _p(p: float, clipped: bool = False) -> str:
    """A p-value; `clipped`: scipy's Anderson-Darling p, which only says <= 0.001 or >= 0.25."""
    if not np.isfinite(p):
        return "n/a"
    if clipped and (p <= 0.001 or p >= 0.25):
        return "<=0.001" if p <= 0.001 else ">=0.25"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _relative(x: float) -> str:
    return f"{100 * x:+.1f} %" if np.isfinite(x) else "n/a"


def estimate_rows(table: pd.DataFrame) -> list[list[str]]:
    """Each side's mean with its 95 % interval and n, and the relative difference (text cells
    with a header row, for the CLI and the report)."""
    rows = [["figure", "per", "real [95 % CI]", "n", "model [95 % CI]", "n", "model/real - 1"]]
    for r in table.itertuples():
        rows.append(
            [
                r.figure,
                r.per,
                _interval(r.real, r.real_lower, r.real_upper),
                f"{r.real_n:,}",
                _interval(r.model, r.model_lower, r.model_upper),
                f"{r.model_n:,}",
                _relative(r.relative_difference),
            ]
        )
    return rows


def comparison_rows(table: pd.DataFrame) -> list[list[str]]:
    """The paired difference, the p-values and the verdict of each figure (text cells)."""
    rows = [
        [
            "figure",
            "model - real [95 % CI]",
            "paired",
            "p diff",
            "p means",
            "p KS",
            "p AD",
            "verdict",
        ]
    ]
    for r in table.itertuples():
        pairs = f"{r.pairs:,} by {r.paired_by}" if r.pairs else "unpaired"
        rows.append(
            [
                r.figure,
                _interval(r.difference, r.difference_lower, r.difference_upper),
                pairs,
                _p(r.p_difference),
                _p(r.p_means),
                _p(r.p_ks),
                _p(r.p_ad, clipped=True),
                r.verdict,
            ]
        )
    return rows


def check_rows(checks: pd.DataFrame) -> list[list[str]]:
    rows = [["acceptance check", "criterion", "real", "model", "value", "status"]]
    for c in checks.itertuples():
        rows.append([c.check, c.criterion, _num(c.real), _num(c.model), _num(c.value), c.status])
    return rows


def aligned(rows: list[list[str]]) -> str:
    """Rows of text cells as aligned columns (the first column left-aligned, the rest right)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))
        ).rstrip()
        for r in rows
    )


def reading(table: pd.DataFrame, checks: pd.DataFrame) -> str:
    """A short computed paragraph: what agrees, what differs, and the acceptance checks."""
    agree = table[table.verdict == "agree"].figure.tolist()
    differ = table[table.verdict == "differ"]
    na = table[table.verdict == "n/a"].figure.tolist()
    text = f"Of {len(table)} figures, {len(agree)} agree with the real stack at the 1 % level"
    text += f" ({', '.join(agree)})" if agree else ""
    if len(differ):
        text += "; the model differs in " + "; ".join(
            f"{r.figure} (real {_num(r.real)}, model {_num(r.model)}"
            + (
                f", {_relative(r.relative_difference)})"
                if np.isfinite(r.relative_difference)
                else ")"
            )
            for r in differ.itertuples()
        )
    text += "." + (f" Not measurable or too few values: {', '.join(na)}." if na else "")
    passed = checks[checks.status == "PASS"].check.tolist()
    failed = checks[checks.status == "FAIL"].check.tolist()
    text += f" Acceptance: {len(passed)} of {len(checks)} checks pass"
    text += f"; failing: {', '.join(failed)}." if failed else "."
    return text


def provenance_rows(prov: dict) -> list[list[str]]:
    """What made a calibration: command, seed, streams, versions, matched model settings."""
    matched = prov.get("matched", {})
    bed = prov.get("testbed", {})
    return [
        ["", ""],
        ["command", str(prov.get("command", ""))],
        [
            "scenario / seed / streams",
            f"{prov.get('scenario')} / {prov.get('seed')} / {prov.get('streams')}",
        ],
        ["overrides", "; ".join(prov.get("overrides", [])) or "none"],
        [
            "model settings matched to the testbed",
            "; ".join(f"{k}={v['value']} ({v['why']})" for k, v in matched.items()) or "none",
        ],
        [
            "testbed",
            "; ".join(f"{k}={v}" for k, v in bed.items() if not isinstance(v, (dict, list)))
            or "no provenance",
        ],
        [
            "created (UTC) / git commit / version",
            f"{prov.get('created_utc')} / {prov.get('git_commit') or 'unknown'} / "
            f"{prov.get('version')}",
        ],
        ["wall time", "; ".join(f"{k} {v:.0f} s" for k, v in prov.get("seconds", {}).items())],
    ]
