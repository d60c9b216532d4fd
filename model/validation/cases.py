"""The cases: each derives a closed-form value (theory), reads the model's estimate from the shared
simulations (context) and applies one test (rows). `CASES` is the suite, in order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from model import stats
from model.validation import rare
from model.validation.context import SEEDS, SIZES, Context, completion_times
from model.validation.rows import (
    CONFIDENCE,
    chi_square_row,
    failed_row,
    interval_row,
    ks_row,
    ratio_interval,
)
from model.validation.scenarios import (
    BACKOFF_MEAN_OUTAGE,
    FAST_GAP,
    FAST_LOSS,
    FRAME_TIME,
    FRAMES,
    GUARD,
    MEAN_OUTAGE,
    OUTAGE,
    POLL,
    RATE,
    WORK,
    backoff_scenario,
)
from model.validation.theory import (
    attempts_sum_pmf,
    backoff_syn_times,
    constant_wait_pmf,
    fast_retransmit_go_back,
    fast_retransmit_mean,
    gilbert_elliott_loss,
    grid_wait,
    mean_downtime,
    repeat_mean,
    sprt_exact,
)


def _mean_case(strategy: str, downtime: str):
    name = f"completion {strategy}, {downtime} outage: mean"

    def run(ctx: Context) -> dict:
        ed = mean_downtime(downtime)
        outage_mean = OUTAGE if downtime == "constant" else MEAN_OUTAGE
        if strategy == "resume":
            theory = FRAMES * repeat_mean(FRAME_TIME, RATE, ed)
            naive = WORK * (1 + RATE * outage_mean)
            formula = (
                f"N(1/l+E[D])(e^(l s)-1) (frame-level repeat; textbook resume T(1+l E[D]) = "
                f"{WORK * (1 + RATE * ed):.5g})"
            )
        else:
            theory = repeat_mean(WORK, RATE, ed)
            naive = repeat_mean(WORK, RATE, outage_mean)
            formula = "(1/l+E[D])(e^(l T)-1) (textbook restart, exact here)"
        expected = ctx.expected(name, theory)
        x, bad = completion_times(ctx.completion(strategy, downtime))
        d_text = (
            "E[D]=(O+1e-6)e^(l O)"
            if downtime == "constant"
            else "E[D]=0.05 E[K], K from the M/M/inf grid chain"
        )
        note = (
            f"{formula}, {d_text}={ed:.5g} s; with E[D]=outage mean (no disconnects during "
            f"reconnection, no polling grid) it would be {naive:.5g}; Student t 99.9 % interval "
            f"(CLT; false alarm ~0.1 %)"
        )
        if bad:
            return failed_row(
                name,
                expected,
                f"{bad} streams did not complete (censored or failed): "
                f"the special case does not hold; {note}",
            )
        est, lo, hi = stats.mean_interval(x, CONFIDENCE)
        return interval_row(name, expected, est, lo, hi, f"{note}; n={len(x)}")

    return name, run


def case_no_interruption(ctx: Context) -> dict:
    name = "completion resume, constant outage: P(no interruption)"
    res = ctx.completion("resume", "constant")
    s = res.streams
    untouched = s.disconnects == 0
    k, n = int(untouched.sum()), len(s)
    exact_t = bool(
        np.allclose(s.completion_time[untouched], WORK, rtol=0.0, atol=1e-9)
    )  # float sums of s
    expected = ctx.expected(name, math.exp(-RATE * WORK))
    lo, hi = stats.clopper_pearson_interval(k, n, CONFIDENCE)
    row = interval_row(
        name,
        expected,
        k / n,
        lo,
        hi,
        f"e^(-l T) = (e^(-l s))^N; Clopper-Pearson 99.9 % (false alarm <= 0.1 %); "
        f"uninterrupted streams end at exactly T: {exact_t}; n={n}",
    )
    row["agree"] = row["agree"] and exact_t
    return row


def case_interruption_counts(ctx: Context) -> dict:
    name = "completion resume, constant outage: interruptions ~ NegBin(N, e^(-l s))"
    counts = ctx.completion("resume", "constant").streams.disconnects.to_numpy()
    p = math.exp(-RATE * FRAME_TIME)
    kmax = 40
    probs = np.append(
        sps.nbinom.pmf(np.arange(kmax), FRAMES, p), sps.nbinom.sf(kmax - 1, FRAMES, p)
    )
    return chi_square_row(
        name,
        counts,
        probs,
        0,
        f"each frame a preemptive-repeat job of s={FRAME_TIME:g} s (mean N(e^(l s)-1)="
        f"{FRAMES * math.expm1(RATE * FRAME_TIME):.5g}; Poisson(l T={RATE * WORK:g}) in the limit)",
    )


def case_completion_distribution(ctx: Context) -> dict:
    name = "completion resume, constant outage: law of (X - T)/c"
    res = ctx.completion("resume", "constant")
    x, bad = completion_times(res)
    c = OUTAGE + GUARD
    if bad:
        return failed_row(name, math.nan, f"{bad} streams did not complete")
    m = np.floor((x - WORK) / c + 1e-9).astype(np.int64)
    mmax = 40
    pmf = attempts_sum_pmf(FRAMES, math.exp(-RATE * FRAME_TIME), math.exp(-RATE * OUTAGE), mmax)
    return chi_square_row(
        name,
        m,
        np.append(pmf[:-1], 0.0),
        0,
        "X = T + M c + W, W < s per interruption, so floor((X-T)/c) = M = total grid waits: "
        "NegBin(N, e^(-l s)) mixture of sums of Geometric(e^(-l O)) (the model's P(X = T + nD))",
    )


def case_constant_downtime(ctx: Context) -> dict:
    name = "downtime, constant outage: attempts - 1 ~ Geometric(e^(-l O))"
    d = ctx.completion("resume", "constant").disconnects
    k = d.attempts.to_numpy(dtype=np.int64) - 1
    c = OUTAGE + GUARD
    off = float(np.max(np.abs(d.reconnect_time.to_numpy(dtype=float) - k * c))) if len(d) else 0.0
    kmax = 30
    probs = np.append(
        constant_wait_pmf(RATE, OUTAGE, kmax - 1), (1 - math.exp(-RATE * OUTAGE)) ** (kmax - 1)
    )
    row = chi_square_row(
        name,
        k,
        probs,
        1,
        f"Daly variant: a disconnect during reconnection costs another c; E[K]=e^(l O)="
        f"{math.exp(RATE * OUTAGE):.5g} (1 if none could strike); reconnect_time = K c "
        f"to within {off:.2g} s",
    )
    row["agree"] = row["agree"] and off < 1e-6
    return row


def case_exponential_downtime(ctx: Context) -> dict:
    name = "downtime, exponential outage: attempts - 1 ~ M/M/inf grid first passage"
    d = ctx.completion("resume", "exponential").disconnects
    k = d.attempts.to_numpy(dtype=np.int64) - 1
    pmf, mean = grid_wait(RATE, MEAN_OUTAGE, POLL)
    kmax = 400
    probs = np.append(pmf[: kmax - 1], max(0.0, 1 - pmf[: kmax - 1].sum()))
    naive = 1 / -math.expm1(-POLL / MEAN_OUTAGE)
    return chi_square_row(
        name,
        k,
        probs,
        1,
        f"E[K]={mean:.5g} (Geometric(1-e^(-c/m)) without disconnects during reconnection: "
        f"{naive:.5g})",
        min_expected=5.0,
    )


def case_restart_counts(ctx: Context) -> dict:
    name = "completion restart, constant outage: restarts ~ Geometric0(e^(-l T))"
    counts = ctx.completion("restart", "constant").streams.disconnects.to_numpy()
    p = math.exp(-RATE * WORK)
    kmax = 40
    probs = np.append(p * (1 - p) ** np.arange(kmax), (1 - p) ** kmax)
    return chi_square_row(name, counts, probs, 0, f"mean e^(l T)-1={math.expm1(RATE * WORK):.5g}")


def case_restart_lost_work(ctx: Context) -> dict:
    name = "completion restart, constant outage: work lost per restart ~ Exp(l) | < T"
    d = ctx.completion("restart", "constant").disconnects.sort_values(["stream", "index"])
    previous = d.groupby("stream").connected_at.shift(1).fillna(0.0)  # the try began when connected
    lost = (d.time - previous).to_numpy(dtype=float)
    norm = -math.expm1(-RATE * WORK)
    return ks_row(
        name,
        lost,
        lambda x: -np.expm1(-RATE * np.asarray(x)) / norm,
        "break time minus the (re)connection: the up-period of a failed try, Exp(l) given < T",
    )


def case_backoff_give_up(ctx: Context) -> dict:
    name = "backoff: P(give up after K attempts) = e^(-t_K/m)"
    outages, attempts, gave_up, other = ctx.backoff()
    t = backoff_syn_times(backoff_scenario(1.0))
    expected = ctx.expected(name, math.exp(-t[-1] / BACKOFF_MEAN_OUTAGE))
    if other:
        return failed_row(
            name, expected, f"{other} replications neither recovered nor gave up (network_timeout)"
        )
    k, n = int(gave_up.sum()), len(gave_up)
    lo, hi = stats.clopper_pearson_interval(k, n, CONFIDENCE)
    naive = math.exp(-(t[-1] + 2.0) / BACKOFF_MEAN_OUTAGE)
    return interval_row(
        name,
        expected,
        k / n,
        lo,
        hi,
        f"t_k = {', '.join(f'{v:.4g}' for v in t)} s after the break (last SYN whose handshake "
        f"fits the 3.02 s connect timeout); counting the 3 s SYN would give {naive:.4g}; "
        f"Clopper-Pearson 99.9 % (false alarm <= 0.1 %); n={n}",
    )


def case_backoff_attempts(ctx: Context) -> dict:
    name = "backoff: attempts until connected (or gave up)"
    outages, attempts, gave_up, other = ctx.backoff()
    t = [0.0] + backoff_syn_times(backoff_scenario(1.0))
    if other:
        return failed_row(
            name, math.nan, f"{other} replications neither recovered nor gave up (network_timeout)"
        )
    m = BACKOFF_MEAN_OUTAGE
    probs = [math.exp(-t[k - 1] / m) - math.exp(-t[k] / m) for k in range(1, len(t))] + [
        math.exp(-t[-1] / m)
    ]
    values = np.where(gave_up, len(t), attempts)  # give-up coded as K + 1
    return chi_square_row(
        name, values, np.array(probs), 1, "P(K=k) = e^(-t_(k-1)/m) - e^(-t_k/m), give-up coded K+1"
    )


GE = {"model": "gilbert_elliott", "p": 0.05, "r": 0.3, "loss_good": 0.01, "loss_bad": 0.5}


def case_ge_loss_rate(ctx: Context) -> dict:
    name = "link: Gilbert-Elliott loss rate"
    fails, _, bad = ctx.link_failures("ge", GE, ctx.size("ge_reps"), SIZES["ge_frames"])
    rate, _ = gilbert_elliott_loss(GE["p"], GE["r"], GE["loss_good"], GE["loss_bad"])
    expected = ctx.expected(name, rate)
    lost = [f.sum() for f in fails]
    sent = [f.sum() + len(f) for f in fails]
    est, lo, hi = ratio_interval(lost, sent)
    row = interval_row(
        name,
        expected,
        est,
        lo,
        hi,
        f"pi_G(1-k)+pi_B(1-h), pi_B=p/(p+r) (netem gemodel p={GE['p']}, r={GE['r']}, "
        f"1-k={GE['loss_good']}, 1-h={GE['loss_bad']}); lost/sent transmissions decoded from "
        f"arrivals(); ratio estimator over {len(fails)} independent replications, delta-method t "
        f"99.9 % (false alarm ~0.1 %); {bad} undecodable delays",
    )
    row["agree"] = row["agree"] and bad == 0
    return row


def _burst_lengths(lost: np.ndarray) -> np.ndarray:
    """Lengths of the maximal runs of True in `lost`."""
    edges = np.diff(np.concatenate([[0], lost.astype(np.int8), [0]]))
    return np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)


def case_ge_burst(ctx: Context) -> dict:
    name = "link: Gilbert-Elliott mean loss-burst length"
    fails, _, bad = ctx.link_failures("ge", GE, ctx.size("ge_reps"), SIZES["ge_frames"])
    _, burst = gilbert_elliott_loss(GE["p"], GE["r"], GE["loss_good"], GE["loss_bad"])
    expected = ctx.expected(name, burst)
    runs = [_burst_lengths(f > 0) for f in fails]  # frames whose first transmission was lost
    est, lo, hi = ratio_interval([r.sum() for r in runs], [len(r) for r in runs])
    row = interval_row(
        name,
        expected,
        est,
        lo,
        hi,
        "the chain steps once per frame's first transmission (README), so a burst is a run of "
        "consecutive frames whose first transmission was lost: mean P(lost)/P(kept then lost), "
        f"P(both lost) = sum pi_s l_s P(s,s') l_s'; bad-state mean run 1/r={1 / GE['r']:.3g}; "
        f"ratio estimator over {len(fails)} replications, delta-method t 99.9 % (false alarm ~0.1 "
        "%)",
    )
    row["agree"] = row["agree"] and bad == 0
    return row


def case_rto_delay(ctx: Context) -> dict:
    name = "link: RTO retransmission delay R p/(1-2p)"
    p, R = 0.1, 1.0
    n = ctx.size("rto")
    _, (delay,), bad = ctx.link_failures("rto", {"model": "bernoulli", "p": p}, 1, n)
    if bad:
        return failed_row(
            name, R * p / (1 - 2 * p), f"{bad} delays are no sum of R, 2R, 4R, ... (or infinite)"
        )
    expected = ctx.expected(name, R * p / (1 - 2 * p))
    est, lo, hi = stats.mean_interval(delay, CONFIDENCE)
    row = interval_row(
        name,
        expected,
        est,
        lo,
        hi,
        f"Bernoulli p={p}, R=max(SRTT+4 RTTVAR, rto_min)=1 s doubling (uncapped; 30 retries: "
        "truncation < 1e-12); finite variance since 4p<1; Student t 99.9 % (CLT, false alarm "
        f"~0.1 %); n={n}",
    )
    return row


def case_fast_retransmit_delay(ctx: Context) -> dict:
    name = "link: fast retransmit delay g/(1-p) + RTT + Rp(1+2p(1-p))/(1-2p) + go-back"
    p, g, rtt, rto = FAST_LOSS, FAST_GAP, 2 * 0.02, 1.0
    sums, counts = ctx.fast_retransmit()
    closed, go_back = fast_retransmit_mean(g, p, rtt, rto), fast_retransmit_go_back(g, p, rtt, rto)
    expected = ctx.expected(name, closed + go_back)
    est, lo, hi = ratio_interval(sums, counts)
    return interval_row(
        name,
        expected,
        est,
        lo,
        hi,
        f"SACK/RACK (link.fast_recovery): frames g={g} s apart, Bernoulli "
        f"p={p}, RTT={rtt} s, R={rto} s; a lost frame is resent one RTT after the next "
        f"frame that gets through left (N ~ Geometric frames), a lost resend by the "
        f"timer R, 3R, ... after it, the ACK of that timeout retransmission lost with p (one "
        f"more backed-off timeout): g E[N] + RTT + Rp(1+2p(1-p))/(1-2p) = {closed:.5g} s "
        f"(textbook RTO model: R/(1-2p) = {1.0 / (1 - 2 * p):.4g} s); plus the go-back "
        f"term {go_back:.4g} s (a lost frame goes back behind an older frame's timeout "
        f"retransmission; summed over the heads' law, docstring 3); mean delay of a lost "
        f"frame, ratio estimator over {len(sums)} independent replications of "
        f"{SIZES['fast_frames']} frames, delta-method t 99.9 % (false alarm ~0.1 %); "
        f"{sum(counts)} lost frames",
    )


def _coverage_case(method: str):
    name = f"stats: {method} 95 % coverage at p=0.001, n=2000"
    interval = stats.wilson_interval if method == "wilson" else stats.clopper_pearson_interval

    def run(ctx: Context) -> dict:
        p, n, conf = 0.001, 2000, 0.95
        xs = np.arange(0, 61)  # P(X > 60) < 1e-50
        covers = np.array([lo <= p <= hi for lo, hi in (interval(int(x), n, conf) for x in xs)])
        exact = float(np.sum(sps.binom.pmf(xs, n, p)[covers]))
        expected = ctx.expected(name, exact)
        reps = ctx.size("coverage")
        draws = np.random.default_rng(SEEDS[method]).binomial(n, p, reps)
        hits = int(covers[np.minimum(draws, 60)].sum())
        lo, hi = stats.clopper_pearson_interval(hits, reps, CONFIDENCE)
        guarantee = method == "wilson" or exact >= conf
        row = interval_row(
            name,
            expected,
            hits / reps,
            lo,
            hi,
            f"exact coverage sum_x Binom(x; n, p)[p in CI(x)] = {exact:.5f} vs nominal 0.95"
            + ("" if method == "wilson" else " (Clopper-Pearson guarantees >= 0.95)")
            + f"; {reps} simulated samples, Clopper-Pearson 99.9 % (false alarm <= 0.1 %)",
        )
        row["agree"] = row["agree"] and guarantee
        return row

    return name, run


SPRT_TEST = stats.SPRT(p0=0.01, p1=0.05, alpha=0.05, beta=0.05)


def _simulate_sprt(sprt: stats.SPRT, p: float, runs: int, rng: np.random.Generator) -> dict:
    counts = {"accept_h0": 0, "accept_h1": 0}
    for _ in range(runs):
        failures, trials, decision = 0, 0, "continue"
        while decision == "continue":
            for bad in (rng.random(64) < p).tolist():
                trials += 1
                failures += int(bad)
                decision = sprt.update(failures, trials)
                if decision != "continue":
                    break
        counts[decision] += 1
    return counts


def _sprt_case(hypothesis: str):
    wrong = "accept_h1" if hypothesis == "h0" else "accept_h0"
    label = "alpha'" if hypothesis == "h0" else "beta'"
    name = f"stats: SPRT error rate {label} (p={'p0' if hypothesis == 'h0' else 'p1'})"

    def run(ctx: Context) -> dict:
        s = SPRT_TEST
        p = s.p0 if hypothesis == "h0" else s.p1
        bound = s.alpha / (1 - s.beta) if hypothesis == "h0" else s.beta / (1 - s.alpha)
        exact = sprt_exact(s, p)
        expected = ctx.expected(name, exact[wrong])
        runs = ctx.size("sprt")
        rng = np.random.default_rng([SEEDS["sprt"], 0 if hypothesis == "h0" else 1])
        counts = _simulate_sprt(s, p, runs, rng)
        lo, hi = stats.clopper_pearson_interval(counts[wrong], runs, CONFIDENCE)
        row = interval_row(
            name,
            expected,
            counts[wrong] / runs,
            lo,
            hi,
            f"SPRT(p0={s.p0}, p1={s.p1}, alpha={s.alpha}, beta={s.beta}); exact rate by "
            "propagating undecided (failures, trials) states through SPRT.update (undecided mass "
            f"{exact['undecided']:.1g}, ASN {exact['asn']:.4g}); Wald's bound {bound:.4g} "
            f"{'holds' if exact[wrong] <= bound else 'VIOLATED'}; {runs} simulated tests, "
            "Clopper-Pearson 99.9 % (false alarm <= 0.1 %)",
        )
        row["agree"] = row["agree"] and exact[wrong] <= bound
        return row

    return name, run


@dataclass(frozen=True)
class Case:
    name: str
    run: Callable[[Context], dict]
    completion_runs: bool = False  # it reads the shared completion simulations (`Context`)


def _completion_case(name: str, run: Callable[[Context], dict]) -> Case:
    return Case(name, run, completion_runs=True)


CASES: list[Case] = [
    _completion_case(*_mean_case("resume", "constant")),
    _completion_case(
        "completion resume, constant outage: P(no interruption)", case_no_interruption
    ),
    _completion_case(
        "completion resume, constant outage: interruptions ~ NegBin(N, e^(-l s))",
        case_interruption_counts,
    ),
    _completion_case(
        "completion resume, constant outage: law of (X - T)/c", case_completion_distribution
    ),
    _completion_case(
        "downtime, constant outage: attempts - 1 ~ Geometric(e^(-l O))", case_constant_downtime
    ),
    _completion_case(*_mean_case("resume", "exponential")),
    _completion_case(
        "downtime, exponential outage: attempts - 1 ~ M/M/inf grid first passage",
        case_exponential_downtime,
    ),
    _completion_case(*_mean_case("restart", "constant")),
    _completion_case(
        "completion restart, constant outage: restarts ~ Geometric0(e^(-l T))", case_restart_counts
    ),
    _completion_case(
        "completion restart, constant outage: work lost per restart ~ Exp(l) | < T",
        case_restart_lost_work,
    ),
    _completion_case(*_mean_case("restart", "exponential")),
    Case("backoff: P(give up after K attempts) = e^(-t_K/m)", case_backoff_give_up),
    Case("backoff: attempts until connected (or gave up)", case_backoff_attempts),
    Case("link: Gilbert-Elliott loss rate", case_ge_loss_rate),
    Case("link: Gilbert-Elliott mean loss-burst length", case_ge_burst),
    Case("link: RTO retransmission delay R p/(1-2p)", case_rto_delay),
    Case(
        "link: fast retransmit delay g/(1-p) + RTT + Rp(1+2p(1-p))/(1-2p) + go-back",
        case_fast_retransmit_delay,
    ),
    Case(*_coverage_case("wilson")),
    Case(*_coverage_case("clopper-pearson")),
    Case(*_sprt_case("h0")),
    Case(*_sprt_case("h1")),
    *(Case(name, run) for name, run in rare.CASES),
]
