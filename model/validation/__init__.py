"""Validation against theory: the model put into special cases where a closed form is known.

Every case runs the model (or one public piece of it) with fixed seeds, derives the closed-form
value here, and applies ONE statistical test whose false-alarm rate (the chance of calling a
correct model wrong) is stated in the case's note. Every test is set at 0.1 %: a 99.9 % interval
that must contain the derived value, or a goodness-of-fit statistic that must stay below its
0.1 % critical value. With the ~20 cases of `CASES` a correct model therefore fails somewhere with
probability at most ~2 % (union bound); the seeds are fixed, so any failure is reproducible, and
quick mode runs the first streams of the full run (stream i depends only on (seed, i)).

Row semantics (`run_cases`): for interval cases `lower`/`upper` is the 99.9 % confidence interval
of the estimate and the case agrees iff it contains `expected`; for goodness-of-fit cases
`estimate` is the test statistic, `expected` its mean under the theory (chi-square: its degrees of
freedom; Kolmogorov-Smirnov: the mean of the exact null distribution), `[lower, upper]` the
acceptance region, and the case agrees iff the statistic falls in it.

-------------------------------------------------------------------------------------------------
1. Completion time of a stream under Poisson disconnects (Gaver 1962; Kulkarni, Nicola & Trivedi
   1987). Mapping of the model onto the theory (`completion_scenario`):

   * Work. In the model the server's generation goes on during a disconnect, so generation cannot
     be the work. Instead the server generates everything at once (`server.gap` = 0, a buffer
     larger than the response, no retention expiry) and the work is the link's serialisation:
     N = 1000 frames of 1000 B (`large` content, no envelope) at 100 kB/s, s = 0.01 s per frame,
     T = N s = 10 s. Propagation 0, no jitter, no loss: connecting, the handshake, the resume
     request and the last frame's flight take no time, so the stream starts at t = 0, is never
     slowed by anything but disconnects, and an undisturbed stream ends at exactly T.
   * Interruptions. One condition (`unstable`, sojourn infinite) with Poisson rate lambda = 0.1/s,
     clean closes only (detection delay 0); heartbeat pings pushed beyond reach (1e4 s).
   * Lost work. A close cuts the connection: frames that finished serialising before the break
     have arrived (propagation 0); the frame on the wire is lost and sent again from its start.
     `resume` is therefore preemptive-REPEAT at the level of a frame: each of the N frames is an
     independent job of length s that is repeated until it gets through an up-period, because
     every frame start is a renewal (Poisson arrivals are memoryless, the network is up with no
     outage pending while streaming). `restart` is preemptive-repeat of the whole job T.
   * Downtime. Disconnects are exogenous: they go on arriving while the client reconnects (each
     one's outage blocks connection attempts) - Daly's (2006) variant, so the downtime D is NOT
     the outage. The attempts are put on an exact grid: `first_delay` 0, `constant` backoff of
     0 s without jitter, one SYN per attempt (`syn_rto` >= `connect_timeout` = c), a handshake of
     zero duration. The attempt at the break itself always fails (its outage has just begun);
     attempt j+1 starts at break + j c and succeeds iff no outage covers that instant. So
     D = K c, K = the first grid index j >= 1 at which the network is up, and the attempts
     column is K + 1.
       - constant outage O, c = O + 1e-6 s: the instant break + j c is covered iff an event fell in
         (break + j c - O, break + j c]; these windows are disjoint for different j (c > O; the
         1e-6 s guard also keeps float round-off from landing an attempt on the outage's end), so
         K ~ Geometric(q = e^{-lambda O}) on {1, 2, ...}: E[D] = c e^{lambda O}.
       - exponential outage (mean m), c = 0.05 s: the number of live outages at the grid instants
         is a Markov chain (M/M/infinity sampled every c: each outage survives a step with
         probability e^{-c/m}, new live ones are Poisson(lambda m (1 - e^{-c/m}))), starting from
         one at the break; K is its first passage to 0, computed exactly from the chain
         (`grid_wait`). Without events during downtime K would be Geometric(1 - e^{-c/m}).
     D depends only on events after the break, so successive downtimes are i.i.d. and
     independent of the up-periods: the textbook's assumptions hold with this D.
   * Closed forms (preemptive-repeat of a job of length a with i.i.d. downtime D: the number of
     failed tries is Geometric with success e^{-lambda a}, a failed try lasts E[U | U < a] =
     1/lambda - a/(e^{lambda a} - 1)):  E = (1/lambda + E[D]) (e^{lambda a} - 1).
       restart: E[X] = (1/lambda + E[D])(e^{lambda T} - 1); restarts ~ Geometric0(e^{-lambda T});
                the work lost at each restart ~ Exp(lambda) truncated to [0, T).
       resume:  E[X] = N (1/lambda + E[D])(e^{lambda s} - 1) -> T (1 + lambda E[D]) as s -> 0
                (here larger by the factor (e^{lambda s} - 1)/(lambda s) = 1.0005);
                interruptions ~ NegativeBinomial(N, e^{-lambda s}) (-> Poisson(lambda T));
                P(no interruption) = e^{-lambda T} exactly;
                for constant O: X = T + M c + W, 0 <= W < s * interruptions, with M = sum of the
                interruptions' K: the model's version of P(X = T + n D). M's law is the
                NegativeBinomial mixture of sums of Geometric(q) (`attempts_sum_pmf`).
   The textbook values with E[D] = O (no disconnects during reconnection) are printed in the notes:
   the full runs can tell them apart from the model, the frame-level correction they cannot.

2. Backoff (`backoff_scenario`): one scheduled clean close at 0.5 s with an outage O drawn by this
   module from Exp(m = 6 s) (a schedule keeps other disconnects out, so the single-outage theory
   applies exactly), no random disconnects, 10 ms one way, 2 handshake round trips (40 ms).
   Attempts k = 1..K (K = 4): exponential delays 0.5, 1, 2 s without jitter, `connect_timeout`
   3.02 s, SYNs at 0, 1, 3 s of each attempt. A SYN at 3 s leaves, but its handshake cannot end
   within the timeout (3.04 > 3.02) and the attempt fails even if the network is back: such SYNs
   do not count. t_k = (start of attempt k) + (last SYN whose handshake fits) after the break:
   t = 1, 4.52, 8.54, 13.56 s. Attempt k succeeds iff t_{k-1} < O <= t_k, so
   P(give up) = e^{-t_K/m} and P(K = k) = e^{-t_{k-1}/m} - e^{-t_k/m} (t_0 = 0).

3. Link (public `LinkPhysics.arrivals`, frames 1 ms apart, no outage, no jitter; each frame's
   failed transmissions f are decoded from its delay, which must be a sum R + 2R + ... exactly).
   Gilbert-Elliott (netem `gemodel`): the chain steps once per frame's first transmission and a
   retransmission sees the long-run loss rate (README), so every transmission is lost with the
   stationary rate pi_G (1-k) + pi_B (1-h), pi_B = p/(p + r), and a loss burst is a run of
   consecutive frames whose first transmission was lost (f > 0): its mean length is
   P(lost) / P(previous kept, this lost), P(both lost) = sum_{s,s'} pi_s l_s P(s,s') l_s' (1/r for
   the simple Gilbert channel, k = 0, h = 0). A 200-frame warm-up brings the chain to stationarity.
   RTO (RFC 6298) delay with Bernoulli loss p and R = max(SRTT + 4 RTTVAR, rto_min) = 1 s, doubling
   (cap lifted): E = sum_f (1-p) p^f R (2^f - 1) = R p/(1 - 2p). These cases run with
   `link.fast_recovery=false`: every frame on its own RTO timer, as their theory assumes.
   Fast retransmit (SACK/RACK, `link.fast_recovery`; public `recovered_arrivals`: one connection,
   frames g = 0.115 s apart, Bernoulli p = 0.1 on every transmission, RTT = 0.04 s, R = 1 s). A
   frame's lost attempt sent at t is resent when the SACK of the first later frame that got
   through reaches the server: that frame left at t + N g (first attempt), arrived RTT/2 later and
   its SACK took RTT/2 more, so the resend leaves at d + N g + RTT for the first loss (RACK's
   window RTT/4 never binds: a later frame leaves at least g - RTT >= RTT/4 after any attempt).
   A lost resend is not repaired by a later SACK: in fast recovery an application-limited sender
   sends no new data until the resend is acknowledged (Linux's PRR, one delivery reported), so
   the timer repairs it, R, 3R, 7R, ... after the resend, each attempt lost with probability p:
   D = R(2^J - 1) with P(J = j) = p^j (1-p), E[D] = R p/(1-2p). If the ACK of the timeout
   retransmission that gets through (attempt J >= 1) is lost, with probability p, the sender
   times out once more and the model counts the frame at that attempt, R 2^J later: E[D] gains
   p sum_j p^(j-1) (1-p) p R 2^j = 2 R p^2 (1-p)/(1-2p). With N ~ Geometric(1-p) on
   {1, 2, ...} (other frames' first transmissions), the delay of a lost frame is N g + RTT + D and
   E = g/(1-p) + RTT + R p (1 + 2p(1-p))/(1-2p) (the timer never fires first unless
   N g + RTT >= R, i.e. N >= 9: probability p^8 = 1e-8).
   Go-back (one timer per connection): when an older frame's timeout retransmission gets through
   at h (a head), a lost frame still waiting goes back behind it, at h, before its own next
   attempt: its wait is shorter and it escapes the ACK-loss timeout. A head comes from a frame Y
   that is lost, whose resend is lost and whose timer's attempt gets through (with its ACK):
   about p^2 per older frame within reach. Heads before the lost frame's resend shorten it by a
   fraction of g (-0.185 p^2 s at g = 0.115, to first order), heads while a lost resend waits
   for its timer (probability p) by a fraction of R, from about R/g older frames: -0.011 s in all
   at p = 0.1 (a paired run with heads switched off, `recovery.LossRecovery.go_back`, 1,000
   replications at g = 0.115: -0.0111 +- 0.0007).
   `theory.fast_retransmit_go_back` computes the term: each frame's head law (less the heads
   moved by their own frame's go-back), heads taken as independent, and the lost frame's
   attempts followed with their probabilities, each time behind the first head before its next
   attempt. What it leaves out (correlations between heads through shared frames) is about
   (R/g) p^2 of the term. g = 0.115 keeps every head off every attempt's time (with g = 0.1,
   R = 10 g, ties are decided by float rounding). Lost frames share the later frames they wait
   for, so the mean is taken over independent replications (ratio estimator); the last 40 frames
   of each, which may wait for their RTO, are left out.

4. Statistics (`model.stats`): exact coverage of the Wilson and Clopper-Pearson intervals at
   p = 0.001, n = 2000 (sum of binomial probabilities of the counts whose interval covers p) against
   simulated coverage; Wald's SPRT error rates, computed exactly by propagating the probability of
   every undecided (failures, trials) state through `SPRT.update`, against simulation, and the
   exact rates against Wald's bounds alpha/(1 - beta) and beta/(1 - alpha).

Modules: `scenarios` (the special cases' configurations), `theory` (their closed forms), `context`
(the simulations the cases share, seeds and sizes), `rows` (the tests and the row they produce),
`cases` (the suite, `CASES`), `suite` (`run_cases`, `main_validate`: `midstream validate`).
"""

from model.validation.cases import CASES, Case
from model.validation.rows import ALPHA, CONFIDENCE, chi_square_row, interval_row, ks_row
from model.validation.scenarios import (
    FRAME_TIME,
    FRAMES,
    WORK,
    backoff_scenario,
    completion_scenario,
    link_scenario,
)
from model.validation.suite import WORKERS, format_row, main_validate, run_cases
from model.validation.theory import (
    attempts_sum_pmf,
    backoff_syn_times,
    constant_wait_pmf,
    grid_wait,
    repeat_mean,
    sprt_exact,
)

__all__ = [
    "run_cases",
    "main_validate",
    "format_row",
    "CASES",
    "Case",
    "WORKERS",
    "ALPHA",
    "CONFIDENCE",
    "completion_scenario",
    "backoff_scenario",
    "link_scenario",
    "FRAMES",
    "FRAME_TIME",
    "WORK",
    "repeat_mean",
    "constant_wait_pmf",
    "grid_wait",
    "attempts_sum_pmf",
    "backoff_syn_times",
    "sprt_exact",
    "interval_row",
    "chi_square_row",
    "ks_row",
]
