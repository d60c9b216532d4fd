"""Content kinds: each is generated, delivered and verified; every injected fault is detected and
counted, never delivered as intact.

Calm runs (no loss, no jitter, 20 ms one way, 50 frames/s; see test_mechanisms). `large` runs 128
frames of 16 KiB (2 MiB) generated at once and sent at link speed, with a replay buffer that holds
the whole body so the ack window does not throttle it.
"""

import json

import numpy as np
import pytest

from conftest import calm, faulty_sender, rows
from model import connection as link
from model.config import ConfigError, Content, Scenario, apply_overrides
from model.content import make_frames, poisson, verify
from model.simulation import Components, run_stream

KINDS = ("text", "json", "multipart", "large")
LARGE = dict(
    content__frames=128,
    content__frame_bytes=16_384,
    server__gap__scale=0.0,
    server__buffer_bytes=4_000_000,
)


def scenario(kind, **overrides):
    return calm(content__kind=kind, **(LARGE if kind == "large" else {}), **overrides)


def delivered(r):
    """What the application received: frame numbers and digests in order."""
    h = r.client.health
    seqs = np.concatenate(h.seqs) if h.seqs else np.empty(0, np.int64)
    digests = np.concatenate(h.digests) if h.digests else np.empty(0, np.uint64)
    return seqs, digests


def run(cfg, stream=0, **seams):
    r = run_stream(cfg, 0, stream, **seams)
    frames = r.server.content[r.stream][0]
    return (r, frames, *rows(r), verify(frames, *delivered(r)))


def assert_intact(r, frames, row, v):
    seqs, digests = delivered(r)
    assert row["outcome"] == "completed" and row["integrity_ok"] and v["integrity_ok"]
    assert np.array_equal(seqs, np.arange(len(frames))) and np.array_equal(digests, frames.digest)
    assert row["duplicates_delivered"] == 0


# ---- every kind, calm
@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_completes_intact_on_a_calm_run(kind):
    r, frames, row, discs, v = run(scenario(kind))
    assert_intact(r, frames, row, v)
    assert not discs and r.client.health.corrupt_detected == 0
    if kind == "json":
        assert v["json_valid"] and v["schema_valid"]
        assert json.loads(frames.payload)["usage"]["items"] >= 1
    if kind == "multipart":
        assert (
            v["missing_components"] == v["misordered_components"] == ""
            and v["component_duplicates"] == 0
        )
        assert len(np.unique(frames.component)) == 4
    if kind == "large":
        assert frames.size.sum() >= 2 * 2**20


@pytest.mark.parametrize("frames", [1, 7, 300, 2000])
def test_every_generated_json_document_is_schema_valid(frames):
    # verify_json trusts a byte-identical reassembly to be valid: this is what makes that true
    from model.content import schema_validator

    for seed in range(25):
        payload = make_frames(
            Content(kind="json", frames=frames), np.random.default_rng(seed)
        ).payload
        assert schema_validator().is_valid(json.loads(payload)), (frames, seed)


@pytest.mark.parametrize("kind", KINDS)
def test_generation_is_deterministic_and_each_kind_keeps_its_keys(kind):
    cfg = Content(kind=kind, frames=40, components=3)
    a, b = make_frames(cfg, np.random.default_rng(5)), make_frames(cfg, np.random.default_rng(5))
    assert (
        np.array_equal(a.digest, b.digest)
        and np.array_equal(a.size, b.size)
        and a.payload == b.payload
    )
    full, none = verify(a, np.arange(40), a.digest), verify(a, [], [])
    assert full.keys() == none.keys() and full["integrity_ok"] and not none["integrity_ok"]


def test_json_chunks_reassemble_to_the_document_and_carry_its_bytes():
    frames = make_frames(Content(kind="json", frames=300, chunk_bytes=20), np.random.default_rng(1))
    assert len(frames) == 300 and (np.diff(frames.offsets) >= 1).all()
    assert frames.offsets[-1] == len(frames.payload) >= 300 * 20
    assert np.array_equal(frames.size, np.diff(frames.offsets) + 32)
    assert len(np.unique(frames.digest)) == 300  # the checksum covers the frame number


# ---- corrupted frames: detected by the checksum, repaired by resuming, never delivered
@pytest.mark.parametrize("kind", KINDS)
def test_corrupted_frames_are_detected_and_repaired_by_resuming(kind):
    r, frames, row, discs, v = run(scenario(kind, link__corruption_rate=0.02))
    detected = r.client.health.corrupt_detected
    assert detected > 0 and [d["cause"] for d in discs] == ["corruption"] * detected
    assert all(
        d["detected_by"] == "checksum" and d["detection_delay"] == 0 and d["outcome"] == "recovered"
        for d in discs
    )
    assert_intact(r, frames, row, v)  # every corrupted frame was fetched again


def corrupt_frame_7(times) -> Components:
    """Connections through a faulty middlebox that damages frame 7 the first `times` times it is
    sent."""
    seen = []

    class Middlebox(link.Connection):
        def draw_corruption(self, seq):
            hit = (seq == 7) & (len(seen) < times)
            seen.extend(seq[hit])
            return super().draw_corruption(seq) | hit

    return Components(connection=Middlebox)


def test_a_frame_corrupted_again_on_replay_is_detected_again():
    r, frames, row, discs, v = run(scenario("json"), components=corrupt_frame_7(2))
    assert r.client.health.corrupt_detected == 2 and len(discs) == 2
    assert [
        int(conn.seq[0]) for conn in sorted(r.server.streams[0].served, key=lambda c: c.opened)
    ] == [0, 7, 7]
    assert_intact(r, frames, row, v) and v["json_valid"]


def test_restart_after_corruption_starts_over_and_ends_intact():
    cfg = scenario("text", client__strategy="restart")
    r, frames, row, (d,), v = run(cfg, components=corrupt_frame_7(1))
    assert r.client.health.corrupt_detected == 1 and d["cause"] == "corruption"
    assert d["bytes_replayed"] > d["bytes_missing"] > 0  # the 7 frames already held are sent again
    assert_intact(r, frames, row, v)


@pytest.mark.parametrize("kind", ("text", "json", "multipart"))
def test_a_corrupted_digest_in_the_application_buffer_fails_verification(kind):
    # defence in depth: had a corrupted frame been delivered, its digest would not match
    frames = make_frames(Content(kind=kind, frames=50), np.random.default_rng(2))
    digests = frames.digest.copy()
    digests[20] ^= link.CORRUPTED
    assert not verify(frames, np.arange(50), digests)["integrity_ok"]


# ---- duplicated frames: dropped and counted by the client
@pytest.mark.parametrize("kind", KINDS)
def test_a_duplicated_frame_is_dropped_and_counted(kind):
    cfg = scenario(kind)
    faulty = faulty_sender(cfg, upto=8, resume_at=7)  # frame 7 sent twice
    r, frames, row, _, v = run(cfg, components=faulty)
    assert list(r.server.streams[0].conn.seq[6:10]) == [6, 7, 7, 8]
    assert row["duplicates_received"] == 1
    assert_intact(r, frames, row, v)


def test_a_component_frame_delivered_twice_or_out_of_order_is_named():
    frames = make_frames(
        Content(kind="multipart", frames=60, components=4), np.random.default_rng(3)
    )
    seqs = np.arange(60)
    v = verify(frames, np.append(seqs, 10), np.append(frames.digest, frames.digest[10]))
    assert v["component_duplicates"] == 1 and not v["integrity_ok"]
    # swap two frames of one component
    comp = frames.component[10]
    a, b = np.flatnonzero(frames.component == comp)[:2]
    swapped = seqs.copy()
    swapped[[a, b]] = swapped[[b, a]]
    v = verify(frames, swapped, frames.digest[swapped])
    assert (
        v["misordered_components"] == str(comp)
        and v["missing_components"] == ""
        and not v["integrity_ok"]
    )


# ---- missing components
def test_missing_components_are_named():
    frames = make_frames(
        Content(kind="multipart", frames=200, components=5), np.random.default_rng(4)
    )
    for lacking in ([2], [2, 3]):
        keep = np.flatnonzero(~np.isin(frames.component, lacking))
        v = verify(frames, keep, frames.digest[keep])
        assert v["missing_components"] == ",".join(map(str, lacking)) and not v["integrity_ok"]
    # one frame of component 4 missing is enough to name it
    keep = np.delete(np.arange(200), np.flatnonzero(frames.component == 4)[-1])
    assert verify(frames, keep, frames.digest[keep])["missing_components"] == "4"


def test_a_stream_cut_short_names_the_components_it_lacks():
    cfg = scenario("multipart", disconnects__schedule="5:close:1", client__auth_failure_prob=1.0)
    r, frames, row, _, v = run(cfg)
    assert row["outcome"] == "failed" and not v["integrity_ok"]
    seqs, _ = delivered(r)
    incomplete = [
        k for k in range(4) if (frames.component[seqs] == k).sum() < (frames.component == k).sum()
    ]
    assert incomplete and v["missing_components"] == ",".join(map(str, incomplete))


# ---- truncated and damaged JSON
def test_truncated_json_is_invalid_and_not_intact():
    frames = make_frames(Content(kind="json", frames=100), np.random.default_rng(6))
    for n in (99, 50, 1):
        v = verify(frames, np.arange(n), frames.digest[:n])
        assert not v["json_valid"] and not v["schema_valid"] and not v["integrity_ok"]
    missing_middle = np.delete(np.arange(100), 40)
    assert not verify(frames, missing_middle, frames.digest[missing_middle])["integrity_ok"]


def test_a_json_stream_that_fails_midway_is_never_reported_intact():
    r, _, row, _, v = run(
        scenario("json", disconnects__schedule="5:close:1", client__auth_failure_prob=1.0)
    )
    assert row["outcome"] == "failed" and not v["json_valid"] and not v["integrity_ok"]


# ---- large: replay only what was missing
def test_large_response_replays_exactly_the_bytes_lost_in_flight():
    r, frames, row, (d,), v = run(scenario("large", disconnects__schedule="1:close:1"))
    assert_intact(r, frames, row, v)
    total = int(frames.size.sum())
    assert row["bytes_replayed"] == row["bytes_missing"] == d["bytes_missing"]
    assert 0 < row["bytes_missing"] < total / 20
    # independently, from the two connections: frames that left before the cut but never arrived
    first, second = sorted(r.server.streams[0].served, key=lambda c: c.opened)
    sent, got = first.sent_by(first.cut), first.delivered_until(first.cut)
    assert row["bytes_missing"] == first.size[got:sent].sum() > 0
    assert second.seq[0] == got and row["bytes_replayed"] == second.size[second.seq < sent].sum()


# ---- configuration
@pytest.mark.parametrize(
    "assignment, fragment",
    [
        ("content.kind=video", "content.kind='video': one of text, json, multipart, large"),
        ("content.components=0", "content.components=0: a number in [1, 10000]"),
        ("link.corruption_rate=1", "link.corruption_rate=1.0: a number in [0.0, 1.0)"),
        ("content.frame_bytes=0", "content.frame_bytes=0: a number in [1, 1000000000]"),
    ],
)
def test_bad_content_settings_name_the_field_the_value_and_what_is_allowed(assignment, fragment):
    with pytest.raises(ConfigError) as err:
        apply_overrides(Scenario(), [assignment])
    assert fragment in str(err.value)


def test_multipart_needs_a_frame_per_component():
    with pytest.raises(ConfigError, match=r"content.components=8: at most frames \(5\)"):
        apply_overrides(
            Scenario(), {"content.kind": "multipart", "content.frames": 5, "content.components": 8}
        )
    apply_overrides(
        Scenario(), {"content.frames": 5, "content.components": 8}
    )  # irrelevant to text


@pytest.mark.parametrize("mean", [0.4, 15.0, 300.0, 2500.0])
def test_text_payload_sizes_are_poisson(mean):
    """The table sampler (and numpy's, above `POISSON_TABLE_MAX`) draws Poisson(mean): a
    chi-square goodness of fit over the cells holding at least 20 expected draws (the rest pooled
    into the two tails), 40,000 draws, fixed seed, at the 0.1 % level; mean and variance within 4
    standard errors."""
    from scipy import stats

    n = 40_000
    x = poisson(np.random.default_rng(7), mean, n)
    assert x.dtype.kind == "i" and (x >= 0).all()
    lo, hi = (int(v) for v in stats.poisson.ppf([1e-4, 1 - 1e-4], mean))
    # cells: below lo, each value lo..hi, above hi
    values = np.arange(lo, hi + 1)
    p = np.concatenate([[stats.poisson.cdf(lo - 1, mean)], stats.poisson.pmf(values, mean)])
    expected = n * np.append(p, stats.poisson.sf(hi, mean))
    observed = np.bincount(np.clip(x - lo + 1, 0, len(values) + 1), minlength=len(values) + 2)
    keep = expected >= 20
    pooled_obs = np.append(observed[keep], observed[~keep].sum())
    pooled_exp = np.append(expected[keep], expected[~keep].sum())
    assert stats.chisquare(pooled_obs, pooled_exp).pvalue > 1e-3
    assert abs(x.mean() - mean) < 4 * np.sqrt(mean / n)
    assert abs(x.var() - mean) < 4 * mean * np.sqrt(2 / n) + 4 * np.sqrt(mean / n)
