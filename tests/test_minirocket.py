"""minirocket (models/minirocket.py, minirocket_transform.py): PPV features equal hand-computed values and, on
both paths (compiled and pure PyTorch), a float64 definition; biases are the paper's quantiles, variable lengths
count each series' own steps, and the model fits real series through fit()."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from blobbotronic.data import Spec
from blobbotronic.errors import BlobError
from blobbotronic.models import create, minirocket_native
from blobbotronic.models.minirocket_transform import GOLDEN, KERNELS, MiniRocketTransform, kernel_weights

POSITIONS = list(itertools.combinations(range(9), 3))  # kernel k weighs 2 at POSITIONS[k], -1 elsewhere
COMPILED = minirocket_native.kernels() is not None


@pytest.fixture(params=["compiled", "pytorch"])
def path(request, monkeypatch):
    """Each transform test runs on both paths: the compiled CPU kernel (where it is built) and pure PyTorch."""
    if request.param == "compiled":
        if not COMPILED:
            pytest.skip(f"compiled transform not built here: {minirocket_native.status()}")
    else:
        monkeypatch.setattr(minirocket_native, "usable", lambda x: False)
    return request.param


def test_kernels_are_the_84_choices_of_three_twos():
    w = kernel_weights()
    assert w.shape == (84, 9) and set(w.unique().tolist()) == {-1.0, 2.0}
    assert (w.sum(1) == 0).all()  # three 2s and six -1s: a constant series convolves to zero
    assert {tuple(torch.nonzero(row == 2)[:, 0].tolist()) for row in w} == set(POSITIONS)


def test_ppv_of_an_impulse_equals_hand_computed_values(path):
    """A unit impulse at step 10 of 20: kernel k at dilation d gives its own weights back, reversed, at the steps
    10 - (j - 4) d (j = 0..8): 2 at three of them, -1 at six, 0 elsewhere. With bias 0, the padded kernels count
    3 positives in 20 steps; the others count only steps [4d, 20 - 4d)."""
    t = MiniRocketTransform(20, 1, features=2 * KERNELS, max_dilations=2)
    assert t.dilations == [1, 2] and t.counts == [1, 1]
    x = torch.zeros(1, 1, 20)
    x[0, 0, 10] = 1.0
    feats = t(x)[0]
    assert feats.shape == (168,)
    # dilation 1: the nine steps 6..14 lie inside [4, 16), so the unpadded kernels see 3 positives in 12 steps
    assert torch.allclose(feats[:42], torch.full((42,), 3 / 20))
    assert torch.allclose(feats[42:84], torch.full((42,), 3 / 12))
    # dilation 2: padded, 3 in 20; unpadded, only steps 8..11 count: step 10 holds weight j=4, step 8 weight j=5
    assert torch.allclose(feats[84:126], torch.full((42,), 3 / 20))
    for row, k in enumerate(t.order[1][42:].tolist()):
        expected = ((4 in POSITIONS[k]) + (5 in POSITIONS[k])) / 4
        assert feats[126 + row].item() == pytest.approx(expected), (k, POSITIONS[k])
    # a bias of -0.5 also counts the zeros: 20 - 6 in 20 padded, 12 - 6 in 12 unpadded (dilation 1)
    t2 = MiniRocketTransform(20, 1, features=2 * KERNELS, max_dilations=1)
    assert t2.dilations == [1] and t2.counts == [2]
    t2.biases.view(KERNELS, 2)[:, 1] = -0.5
    f2 = t2(x)[0].view(KERNELS, 2)
    assert torch.allclose(f2[:42], torch.tensor([3 / 20, 14 / 20]).expand(42, 2))
    assert torch.allclose(f2[42:], torch.tensor([3 / 12, 6 / 12]).expand(42, 2))


def test_biases_are_golden_ratio_quantiles_of_a_training_series(path):
    """With one training series every kernel/dilation pair draws it; its biases are numpy's (linear) quantiles
    of that kernel's zero-padded convolution at the fractional parts of i x golden ratio."""
    torch.manual_seed(0)
    series = torch.randn(1, 1, 30)
    t = MiniRocketTransform(30, 1, features=4 * KERNELS, max_dilations=2)
    t.fit_biases(series)
    q = (np.arange(1, t.features + 1) * GOLDEN) % 1
    s = series[0, 0].double().numpy()
    for i, d, f, start in t.blocks():
        padded = np.concatenate([np.zeros(4 * d), s, np.zeros(4 * d)])
        for row, k in enumerate(t.order[i].tolist()):
            w = kernel_weights()[k].double().numpy()
            conv = np.array([w @ padded[p : p + 8 * d + 1 : d] for p in range(30)])
            lo = start + row * f
            np.testing.assert_allclose(t.biases[lo : lo + f].numpy(), np.quantile(conv, q[lo : lo + f]), rtol=1e-5,
                                       atol=1e-5)


def test_variable_lengths_count_each_series_own_steps_and_ignore_the_padding(path):
    torch.manual_seed(0)
    spec = Spec("v", "sequence", "classify", (40, 3), 2)
    model = create("minirocket", spec, features=840)
    lengths = torch.tensor([40, 33, 17, 9, 5, 3, 40])
    x = torch.randn(7, 40, 3)
    model.fit_readout(x, torch.tensor([0, 1, 0, 1, 0, 1, 1]), lengths)
    x = x * (torch.arange(40)[None, :, None] < lengths[:, None, None])  # zero-padded, as loaders give it
    together = model.forward_features(x, lengths)
    for i, n in enumerate(lengths.tolist()):  # each series alone, cut to its own length
        alone = model.forward_features(x[i : i + 1, :n], None)[0]
        torch.testing.assert_close(together[i], alone, msg=f"series {i} of length {n}")
    noisy = x + 5 * torch.rand_like(x) * (torch.arange(40)[None, :, None] >= lengths[:, None, None])
    torch.testing.assert_close(model.forward_features(noisy, lengths), together)  # what lies beyond is never read



def test_long_series_counted_time_last_give_the_same_features(monkeypatch):
    from blobbotronic.models import minirocket_transform

    monkeypatch.setattr(minirocket_native, "usable", lambda x: False)  # the time-last layout is the PyTorch path's
    torch.manual_seed(0)
    t = MiniRocketTransform(450, 2, features=8 * KERNELS)
    x = torch.randn(5, 2, 450)
    t.fit_biases(x)
    assert 450 >= minirocket_transform.LONG
    long = t(x)
    monkeypatch.setattr(minirocket_transform, "LONG", 10**9)  # the general path, time first
    torch.testing.assert_close(t(x), long)


def test_multivariate_kernels_sum_a_random_subset_of_one_to_nine_channels():
    torch.manual_seed(0)
    t = MiniRocketTransform(50, 12, features=KERNELS * 20)
    used = (t.weights.view(len(t.dilations), KERNELS, 12, 9) != 0).any(-1).sum(-1)  # channels per kernel/dilation
    assert used.min() >= 1 and used.max() <= 9 and len(used.unique()) > 3
    one = MiniRocketTransform(50, 1, features=KERNELS * 20)
    assert (one.weights.view(-1, 9) != 0).all()



def conv64(t: MiniRocketTransform, i: int, d: int, s: np.ndarray) -> np.ndarray:
    """The definition in float64: dilation block i's 84 kernels (their weights on their channels) dotted with each
    window of the series s (C, n), zero-padded by 4d on both sides: (84, n)."""
    C, n = s.shape
    w = t.weights[i].double().view(KERNELS, C, 9).numpy()
    padded = np.pad(s, ((0, 0), (4 * d, 4 * d)))
    windows = np.stack([padded[:, j * d : j * d + n] for j in range(9)], -1)  # (C, n, 9)
    return np.einsum("cnj,kcj->kn", windows, w)


def ppv64(t: MiniRocketTransform, x: torch.Tensor, lengths: torch.Tensor | None, eps: float):
    """(B, features) three times: the PPV of the float64 convolutions over each series' own steps against each
    bias, against each bias + eps and against each bias - eps (a feature computed in float32 lies between these
    two: an output within rounding of a bias may count either way)."""
    B, C, L = x.shape
    biases = t.biases.double().numpy()
    out = np.zeros((3, B, t.features))
    for b in range(B):
        n = L if lengths is None else int(lengths[b])
        for i, d, f, start in t.blocks():
            conv = conv64(t, i, d, x[b, :, :n].double().numpy())
            for r in range(KERNELS):
                lo, hi = (4 * d, n - 4 * d) if r >= KERNELS // 2 and n > 8 * d else (0, n)
                at = slice(start + r * f, start + (r + 1) * f)
                for k, shift in enumerate((0.0, eps, -eps)):
                    out[k, b, at] = (conv[r, lo:hi, None] > biases[at] + shift).mean(0)
    return out


@pytest.mark.parametrize("channels,length,variable", [(1, 70, False), (1, 45, True), (4, 50, False), (3, 40, True)])
def test_features_equal_the_float64_definition(path, channels, length, variable):
    """Random walks (outputs of many sizes), univariate and multivariate, equal and variable lengths (down to one
    step, shorter than any kernel): every feature lies within the definition's rounding bracket."""
    torch.manual_seed(channels * length)
    x = torch.randn(7, channels, length).cumsum(2)
    lengths = torch.tensor([length, length - 1, 33, 16, 9, 4, 1]) if variable else None
    if variable:
        x = x * (torch.arange(length)[None, None] < lengths[:, None, None])
    t = MiniRocketTransform(length, channels, features=KERNELS * 12)
    assert len(t.dilations) >= 3
    t.fit_biases(x, lengths)
    got = t(x, lengths).double().numpy()
    exact, above, below = ppv64(t, x, lengths, eps=1e-4)
    assert ((above - 1e-6 <= got) & (got <= below + 1e-6)).all()
    # the bracket is tight: only a feature with an output within 1e-4 of its bias may differ from the definition;
    # few do, but for series shorter than a kernel (4 and 1 steps), whose few outputs are often a bias drawn from them
    loose = above != below
    assert loose[:5].mean() < 0.01 and np.isclose(got[:5], exact[:5], atol=1e-6).mean() > 0.99


def test_biases_of_multivariate_variable_length_series_are_quantiles_of_one_of_them(path):
    torch.manual_seed(3)
    lengths = torch.tensor([40, 23, 11])
    x = torch.randn(3, 4, 40) * (torch.arange(40)[None, None] < lengths[:, None, None])
    t = MiniRocketTransform(40, 4, features=6 * KERNELS)
    t.fit_biases(x, lengths)
    q = (np.arange(1, t.features + 1) * GOLDEN) % 1
    for i, d, f, start in t.blocks():
        convs = [conv64(t, i, d, x[b, :, :n].double().numpy()) for b, n in enumerate(lengths.tolist())]
        for r in range(KERNELS):
            at = slice(start + r * f, start + (r + 1) * f)
            got = t.biases[at].double().numpy()
            assert any(np.allclose(got, np.quantile(c[r], q[at]), rtol=1e-5, atol=1e-5) for c in convs), (i, r)


def test_the_compiled_transform_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("BLOBBOTRONIC_NATIVE", "0")
    assert minirocket_native.build() == (None, "BLOBBOTRONIC_NATIVE=0")


@pytest.mark.parametrize("n,features,classes", [(30, 200, 2), (25, 300, 4), (60, 40, 3)])
def test_ridge_readout_equals_scikit_learns_ridge_classifier_cv(n, features, classes):
    """The paper's readout, StandardScaler(with_mean=False) then RidgeClassifierCV(alphas=logspace(-3, 3, 10)): the
    same alpha and the same scores, by the n x n Gram matrix (n <= features) or the covariance (n > features)."""
    pytest.importorskip("sklearn")
    from sklearn.linear_model import RidgeClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from blobbotronic.models.minirocket import RIDGE_ALPHAS, ridge_cv

    rng = np.random.default_rng(n)
    x = (rng.random((n, features)) * rng.random(features) * 3).astype(np.float32)
    y = np.arange(n) % classes
    x[:, 0] += y  # one informative feature among noise
    ref = make_pipeline(StandardScaler(with_mean=False), RidgeClassifierCV(alphas=np.array(RIDGE_ALPHAS))).fit(x, y)
    w, b, notes = ridge_cv(torch.tensor(x), torch.tensor(y), classes)
    assert notes["alpha"] == pytest.approx(ref[-1].alpha_)
    new = rng.random((40, features)).astype(np.float32)
    scores = (torch.tensor(new) @ w.T + b).numpy()
    np.testing.assert_allclose(scores[:, 1] if classes == 2 else scores, ref.decision_function(new), atol=1e-4)

@pytest.fixture(scope="module")
def gunpoint_run():
    from blobbotronic.train import train

    return train("gunpoint", "minirocket", seed=0, quiet=True, threads=1)


def test_fits_gunpoint_through_fit_and_reports_its_cost(gunpoint_run):
    run = gunpoint_run
    assert run.metrics["accuracy"] >= 0.95, run.metrics  # aeon's MiniRocket: 0.993 on the same test split
    assert run.stopped == "untrained" and run.cost["steps"] == 1  # fitted in closed form; one step to measure it
    cost = run.cost
    assert cost["features"] == 9996 and cost["readout"] == "ridge" and cost["alpha"] > 0
    assert cost["train_seconds"] >= cost["fit_seconds"] >= cost["transform_seconds"] > 0
    assert cost["fit_seconds"] >= cost["readout_seconds"] > 0
    n_train = 40  # 80% of GunPoint's 50 published training series: their features alone take 40 x 9996 floats
    assert cost["memory_mb"] >= cost["fit_memory_mb"] > n_train * 9996 * 4 / 2**20
    assert cost["params"] == 2 * 9996 + 2  # the readout's fitted weights are counted, though never trained


def test_multivariate_and_variable_length_sets_fit():
    from blobbotronic.train import train

    motions = train("basic_motions", "minirocket", seed=0, quiet=True, threads=1)  # 6 channels
    assert motions.metrics["accuracy"] >= 0.9, motions.metrics  # aeon: 1.000
    vowels = train("japanese_vowels", "minirocket", seed=0, quiet=True, threads=1)  # 12 channels, lengths 7-29
    assert vowels.metrics["accuracy"] >= 0.95, vowels.metrics  # aeon, padded to equal lengths: 0.98


def test_a_checkpoint_keeps_the_fitted_transform_and_readout(gunpoint_run, tmp_path):
    from blobbotronic.data import load
    from blobbotronic.train import load_checkpoint, save_checkpoint

    test = load("gunpoint").test
    model = gunpoint_run.model.eval()
    save_checkpoint(model, tmp_path / "ckpt")
    again, _ = load_checkpoint(tmp_path / "ckpt")
    with torch.no_grad():
        torch.testing.assert_close(again.eval()(test.x[:20]), model(test.x[:20]))


def test_the_logistic_readout_fits_too():
    from blobbotronic.data import load

    ds = load("gunpoint")
    torch.manual_seed(0)
    model = create("minirocket", ds.spec, readout="logistic")
    cost = model.fit_readout(ds.train.x, ds.train.y)
    assert cost["readout"] == "logistic" and cost["l2"] > 0
    with torch.no_grad():
        accuracy = (model.eval()(ds.test.x).argmax(1) == ds.test.y).float().mean().item()
    assert accuracy >= 0.9


def test_bad_settings_say_what_would_do():
    spec = Spec("s", "sequence", "classify", (30, 1), 2)
    with pytest.raises(BlobError, match="at least one feature per kernel, so give 84 or more"):
        create("minirocket", spec, features=50)
    with pytest.raises(BlobError, match="at least 2 training series"):
        create("minirocket", spec).fit_readout(torch.randn(1, 30, 1), torch.tensor([0]))


# ---- the claim random-filters: its verdict follows the rule stated before the numbers ----------------------------


def _evidence(cells: dict[tuple[str, str], tuple[list[float], float, float]]):
    from blobbotronic.claims.base import Evidence

    return Evidence({key: [{"seed": i, "metric": "accuracy", "metrics": {"accuracy": a},
                            "cost": {"train_seconds": seconds, "memory_mb": memory}} for i, a in enumerate(accs)]
                     for key, (accs, seconds, memory) in cells.items()})


SETS = ("gunpoint", "italy_power_demand", "japanese_vowels")


def _cells(rocket: list[float], fcn: list[float], rocket_seconds: float = 1.0, lstm: list[float] | None = None):
    cells = {}
    for ds in SETS:
        cells[("minirocket", ds)] = (rocket, rocket_seconds, 30.0)
        cells[("fcn", ds)] = (fcn, 20.0, 3.0)
        if lstm is not None:
            cells[("lstm", ds)] = (lstm, 40.0, 2.0)
    return cells


def test_random_filters_verdicts_follow_the_stated_rule(monkeypatch):
    from blobbotronic.claims import random_filters as rf

    close = rf.decide(_evidence(_cells([0.97, 0.98, 0.97], [0.98, 0.99, 0.98])))  # 1 point behind, 1/20 the time
    assert close.verdict == "supported" and close.numbers["close_and_cheaper"] == 3
    assert "at most 0.02 below" in close.rule and "at most 0.25x" in close.rule and "memory is reported" in close.rule
    assert "0.05x its training time and 10x its memory" in close.key  # 1 s against 20; 30 MiB against 3
    # trained filters clearly better: 5 points, the interval of the per-seed difference wholly below zero
    behind = rf.decide(_evidence(_cells([0.90, 0.91, 0.92], [0.95, 0.96, 0.97])))
    assert behind.verdict == "refuted" and behind.numbers["trained_better"] == 3
    # as accurate but not at a fraction of the time: neither
    slow = rf.decide(_evidence(_cells([0.98, 0.99, 0.98], [0.98, 0.99, 0.98], rocket_seconds=10.0)))
    assert slow.verdict == "mixed" and slow.numbers["other"] == 3
    # the margin decides: 5 points behind is 'close' under a margin of 6
    monkeypatch.setattr(rf, "MARGIN", 0.06)
    assert rf.decide(_evidence(_cells([0.90, 0.91, 0.92], [0.95, 0.96, 0.97]))).verdict == "supported"


def test_random_filters_compares_with_the_better_trained_model():
    from blobbotronic.claims import random_filters as rf

    # the LSTM beats the FCN here, and minirocket trails the LSTM by 4 points: 'trained better' on every set
    v = rf.decide(_evidence(_cells([0.93, 0.94, 0.93], [0.90, 0.91, 0.90], lstm=[0.97, 0.98, 0.97])))
    assert v.verdict == "refuted"
    assert {s["best_trained"] for s in v.numbers["per_set"].values()} == {"lstm"}
    assert v.numbers["per_set"]["gunpoint"]["time_ratio"] == pytest.approx(1 / 40)


def test_random_filters_quick_is_small():
    """--quick: three sets, minirocket against the FCN on each and the LSTM where it was the better trained model
    (ItalyPowerDemand), 3 seeds; --full puts both trained models on every set."""
    from blobbotronic.claims import CLAIMS

    claim = CLAIMS.get("random-filters")
    quick = {(a.label, ds) for a in claim.arms for ds in a.sources("quick")}
    assert quick == {(m, ds) for m in ("minirocket", "fcn") for ds in SETS} | {("lstm", "italy_power_demand")}
    assert claim.seeds["quick"] == 3
    assert {"mnist1d", *SETS} <= {ds for a in claim.arms for ds in a.sources("full")}
    assert {a.label for a in claim.arms if a.sources("full")} == {"minirocket", "fcn", "lstm"}
