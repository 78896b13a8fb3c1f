import math

import pytest
import torch

from pacelib.losses import (
    LossWeights,
    pace_loss,
    pretext_loss,
    same_context_loss,
    same_pace_loss,
)

TEMPERATURES = [0.07, 0.5, 1.0, 3.0]


# ---------------------------------------------------------------- brute-force references


def _cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def _ref_same_context(z1, z2, tau):
    """DESIGN.md's formula, one Python loop per sum."""
    u = z1.tolist() + z2.tolist()
    n, m = len(z1), 2 * len(z1)
    total = 0.0
    for a in range(m):
        partner = (a + n) % m
        denom = sum(math.exp(_cos(u[a], u[k]) / tau) for k in range(m) if k != a)
        total += -math.log(math.exp(_cos(u[a], u[partner]) / tau) / denom)
    return total / m


def _ref_same_pace(z, labels, tau):
    u, y = z.tolist(), labels.tolist()
    per_anchor = []
    for a in range(len(u)):
        pos = [j for j in range(len(u)) if j != a and y[j] == y[a]]
        if not pos:
            continue
        denom = sum(math.exp(_cos(u[a], u[k]) / tau) for k in range(len(u)) if k != a)
        per_anchor.append(-sum(math.log(math.exp(_cos(u[a], u[j]) / tau) / denom) for j in pos) / len(pos))
    return sum(per_anchor) / len(per_anchor) if per_anchor else 0.0


def _ref_pace(logits, labels):
    total = 0.0
    for row, y in zip(logits.tolist(), labels.tolist()):
        total += -math.log(math.exp(row[y]) / sum(math.exp(v) for v in row))
    return total / len(labels)


# ---------------------------------------------------------------- equality with the formulas


@pytest.mark.parametrize("tau", TEMPERATURES)
@pytest.mark.parametrize("n", [1, 2, 5])
def test_same_context_loss_matches_the_written_formula(tau, n):
    g = torch.Generator().manual_seed(n)
    z1, z2 = torch.randn(n, 6, generator=g), torch.randn(n, 6, generator=g)
    got = same_context_loss(z1, z2, temperature=tau)
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(_ref_same_context(z1, z2, tau), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("tau", TEMPERATURES)
@pytest.mark.parametrize(
    "labels",
    [[0, 1, 0, 1, 2, 2], [0, 0, 0, 0], [0, 1, 2, 3, 0], [3, 1, 1, 0, 2, 3, 3]],  # some anchors lack positives
)
def test_same_pace_loss_matches_the_written_formula(tau, labels):
    g = torch.Generator().manual_seed(len(labels))
    labels = torch.tensor(labels)
    z = torch.randn(len(labels), 5, generator=g)
    got = same_pace_loss(z, labels, temperature=tau)
    assert got.item() == pytest.approx(_ref_same_pace(z, labels, tau), rel=1e-5, abs=1e-6)


def test_pace_loss_is_the_mean_cross_entropy():
    g = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(7, 4, generator=g) * 3, torch.randint(0, 4, (7,), generator=g)
    assert pace_loss(logits, labels).item() == pytest.approx(_ref_pace(logits, labels), rel=1e-6)


def test_same_context_loss_of_orthonormal_pairs_has_a_closed_form():
    # z1 = z2 = identity rows: the partner has similarity 1/tau, the 2N-2 others 0.
    n, tau = 4, 0.5
    eye = torch.eye(n)
    expected = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + 2 * n - 2))
    assert same_context_loss(eye, eye.clone(), tau).item() == pytest.approx(expected, rel=1e-6)


# ---------------------------------------------------------------- invariances


@pytest.mark.parametrize("scale", [1e-3, 0.5, 7.0, 1e4])
def test_contrastive_losses_ignore_the_scale_of_the_embeddings(scale):
    g = torch.Generator().manual_seed(1)
    z1, z2 = torch.randn(6, 8, generator=g), torch.randn(6, 8, generator=g)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    torch.testing.assert_close(same_context_loss(scale * z1, scale * z2), same_context_loss(z1, z2))
    torch.testing.assert_close(same_pace_loss(scale * z1, labels), same_pace_loss(z1, labels))


def test_permuting_the_batch_consistently_leaves_the_losses_unchanged():
    g = torch.Generator().manual_seed(2)
    z1, z2 = torch.randn(8, 5, generator=g), torch.randn(8, 5, generator=g)
    labels = torch.randint(0, 3, (8,), generator=g)
    logits = torch.randn(8, 3, generator=g)
    perm = torch.randperm(8, generator=g)
    torch.testing.assert_close(same_context_loss(z1[perm], z2[perm]), same_context_loss(z1, z2))
    torch.testing.assert_close(same_context_loss(z2, z1), same_context_loss(z1, z2))  # views are symmetric
    torch.testing.assert_close(same_pace_loss(z1[perm], labels[perm]), same_pace_loss(z1, labels))
    torch.testing.assert_close(pace_loss(logits[perm], labels[perm]), pace_loss(logits, labels))


def test_same_context_loss_depends_on_which_rows_are_paired():
    # Guards the pairing: permuting only one view changes the positives, hence the loss.
    g = torch.Generator().manual_seed(3)
    z1, z2 = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    assert not torch.allclose(same_context_loss(z1, z2.roll(1, dims=0)), same_context_loss(z1, z2))


def test_same_pace_loss_uses_the_labels():
    g = torch.Generator().manual_seed(4)
    z = torch.randn(6, 5, generator=g)
    a = same_pace_loss(z, torch.tensor([0, 0, 1, 1, 2, 2]))
    b = same_pace_loss(z, torch.tensor([0, 1, 2, 0, 1, 2]))
    assert not torch.allclose(a, b)


# ---------------------------------------------------------------- gradients and precision


def test_contrastive_losses_pass_gradcheck_in_float64():
    g = torch.Generator().manual_seed(5)
    z1 = torch.randn(4, 3, dtype=torch.float64, generator=g, requires_grad=True)
    z2 = torch.randn(4, 3, dtype=torch.float64, generator=g, requires_grad=True)
    labels = torch.tensor([0, 1, 0, 2])
    assert same_context_loss(z1, z2).dtype == torch.float64
    assert torch.autograd.gradcheck(lambda a, b: same_context_loss(a, b, temperature=0.3), (z1, z2))
    assert torch.autograd.gradcheck(lambda a: same_pace_loss(a, labels, temperature=0.3), (z1,))
    logits = torch.randn(4, 3, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: pace_loss(x, labels), (logits,))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_inputs_give_a_finite_float32_loss(dtype):
    g = torch.Generator().manual_seed(6)
    z1, z2 = torch.randn(8, 16, generator=g).to(dtype), torch.randn(8, 16, generator=g).to(dtype)
    labels = torch.tensor([0, 1, 2, 3] * 2)
    logits = (10 * torch.randn(8, 4, generator=g)).to(dtype)
    for loss, reference in [
        (same_context_loss(z1, z2, 0.1), same_context_loss(z1.float(), z2.float(), 0.1)),
        (same_pace_loss(z1, labels, 0.1), same_pace_loss(z1.float(), labels, 0.1)),
        (pace_loss(logits, labels), pace_loss(logits.float(), labels)),
    ]:
        assert loss.dtype == torch.float32 and torch.isfinite(loss)
        torch.testing.assert_close(loss, reference)


def test_losses_stay_float32_under_autocast():
    # Under CPU autocast a float32 matmul would otherwise run in bfloat16.
    g = torch.Generator().manual_seed(7)
    z1, z2 = torch.randn(16, 32, generator=g), torch.randn(16, 32, generator=g)
    labels = torch.randint(0, 4, (16,), generator=g)
    expected = same_context_loss(z1, z2, 0.1), same_pace_loss(z1, labels, 0.1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = same_context_loss(z1, z2, 0.1), same_pace_loss(z1, labels, 0.1)
    for g_, e in zip(got, expected):
        assert g_.dtype == torch.float32
        torch.testing.assert_close(g_, e, rtol=1e-6, atol=1e-6)


def test_large_logits_and_tiny_temperatures_stay_finite():
    z = torch.randn(6, 4)
    assert torch.isfinite(same_context_loss(z, z + 0.01, temperature=1e-4))
    assert torch.isfinite(same_pace_loss(z, torch.tensor([0, 0, 1, 1, 2, 2]), temperature=1e-4))
    assert torch.isfinite(pace_loss(torch.tensor([[1e4, -1e4], [-1e4, 1e4]]), torch.tensor([1, 0])))


def test_zero_embeddings_do_not_produce_nan():
    z = torch.zeros(4, 3, requires_grad=True)
    loss = same_context_loss(z, z) + same_pace_loss(z, torch.tensor([0, 0, 1, 1]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()


# ---------------------------------------------------------------- degenerate cases


def test_same_context_loss_with_one_pair_is_exactly_zero_with_zero_gradient():
    z1, z2 = torch.randn(1, 8, requires_grad=True), torch.randn(1, 8, requires_grad=True)
    loss = same_context_loss(z1, z2)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(z1.grad, torch.zeros_like(z1)) and torch.equal(z2.grad, torch.zeros_like(z2))


@pytest.mark.parametrize("labels", [[0, 1, 2, 3], [2]])
def test_same_pace_loss_without_positive_pairs_is_zero_but_still_in_the_graph(labels):
    z = torch.randn(len(labels), 8, requires_grad=True)
    loss = same_pace_loss(z, torch.tensor(labels))
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.equal(z.grad, torch.zeros_like(z))


def test_only_anchors_with_positives_count_in_same_pace_loss():
    g = torch.Generator().manual_seed(8)
    z = torch.randn(5, 4, generator=g)
    # Anchors 3 and 4 (labels 7, 8) have no positive: they add no term, but stay in the denominators.
    loss = same_pace_loss(z, torch.tensor([0, 0, 0, 7, 8]))
    assert loss.item() == pytest.approx(_ref_same_pace(z, torch.tensor([0, 0, 0, 7, 8]), 0.5), rel=1e-5)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: same_context_loss(torch.randn(4, 8), torch.randn(3, 8)), r"\(4, 8\) and \(3, 8\)"),
        (lambda: same_context_loss(torch.randn(4, 8), torch.randn(4, 6)), r"\(4, 8\) and \(4, 6\)"),
        (lambda: same_context_loss(torch.randn(8), torch.randn(8)), r"\(N, D\).*\(8,\)"),
        (lambda: same_context_loss(torch.randn(0, 8), torch.randn(0, 8)), r"N >= 1.*\(0, 8\)"),
        (lambda: same_pace_loss(torch.randn(4, 8), torch.tensor([0, 1, 2])), r"\(4,\).*\(3,\)"),
        (lambda: pace_loss(torch.randn(4, 3), torch.tensor([0, 1])), r"\(4, 3\) and \(2,\)"),
        (lambda: pace_loss(torch.randn(4), torch.tensor([0, 1, 0, 1])), r"\(4,\) and \(4,\)"),
        (lambda: same_context_loss(torch.randn(2, 3), torch.randn(2, 3), temperature=0), "temperature"),
        (lambda: same_pace_loss(torch.randn(2, 3), torch.tensor([0, 0]), temperature=-1), "temperature"),
    ],
)
def test_bad_shapes_and_temperatures_raise_value_error_naming_them(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---------------------------------------------------------------- combined objective


def _batch(m=8, p=4, d=6, seed=9):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(m, p, generator=g),
        torch.randint(0, p, (m,), generator=g),
        torch.randn(m, d, generator=g),
    )


def test_pretext_loss_weights_the_pace_and_contrastive_terms():
    logits, labels, emb = _batch()
    w = LossWeights(lambda_cls=2.0, lambda_ctr=0.25, temperature=0.3)
    out = pretext_loss(logits, labels, emb, contrastive="same_pace", weights=w)
    torch.testing.assert_close(out.pace, pace_loss(logits, labels))
    torch.testing.assert_close(out.contrastive, same_pace_loss(emb, labels, 0.3))
    torch.testing.assert_close(out.total, 2.0 * out.pace + 0.25 * out.contrastive)


def test_pretext_loss_same_context_pairs_the_two_halves_of_the_batch():
    logits, labels, emb = _batch()
    out = pretext_loss(logits, labels, emb, contrastive="same_context")
    torch.testing.assert_close(
        out.contrastive, same_context_loss(emb[:4], emb[4:], LossWeights().temperature)
    )
    torch.testing.assert_close(out.total, out.pace + LossWeights().lambda_ctr * out.contrastive)


def test_pretext_loss_without_contrastive_term_is_the_pace_loss():
    logits, labels, _ = _batch()
    out = pretext_loss(logits, labels)
    torch.testing.assert_close(out.total, pace_loss(logits, labels))
    assert out.contrastive.item() == 0.0


def test_loss_weight_defaults_are_the_documented_ones():
    assert LossWeights() == LossWeights(lambda_cls=1.0, lambda_ctr=0.5, temperature=0.5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"contrastive": "simclr"}, "simclr"),
        ({"contrastive": "same_pace", "embedding": None}, "embedding"),
        ({"contrastive": "same_pace", "embedding": torch.randn(5, 6)}, r"\(8, D\).*\(5, 6\)"),
    ],
)
def test_pretext_loss_rejects_bad_configurations(kwargs, message):
    logits, labels, _ = _batch()
    with pytest.raises(ValueError, match=message):
        pretext_loss(logits, labels, **kwargs)


def test_same_context_objective_needs_an_even_batch():
    logits, labels, emb = _batch(m=7)
    with pytest.raises(ValueError, match="even"):
        pretext_loss(logits, labels, emb, contrastive="same_context")


@pytest.mark.parametrize("kwargs", [{"lambda_ctr": -1.0}, {"lambda_cls": -0.1}, {"temperature": 0.0}])
def test_loss_weights_reject_negative_weights_and_bad_temperatures(kwargs):
    with pytest.raises(ValueError):
        LossWeights(**kwargs)


# ---------------------------------------------------------------- the supplement's literal form


def _dot(a, b):
    return sum(x * y for x, y in zip(a, b))


@pytest.mark.parametrize("n", [2, 4])
def test_dot_similarity_is_the_supplements_literal_z_transpose_z(n):
    torch.manual_seed(n)
    z1, z2 = torch.randn(n, 3, dtype=torch.float64), torch.randn(n, 3, dtype=torch.float64)
    u, m = z1.tolist() + z2.tolist(), 2 * n
    expected = 0.0
    for a in range(m):
        denom = sum(math.exp(_dot(u[a], u[k])) for k in range(m) if k != a)
        expected += -math.log(math.exp(_dot(u[a], u[(a + n) % m])) / denom) / m
    got = same_context_loss(z1, z2, temperature=1.0, similarity="dot")
    assert got.item() == pytest.approx(expected, rel=1e-9)
    # Unlike the cosine form, the literal form depends on the embeddings' scale.
    assert same_context_loss(3 * z1, 3 * z2, 1.0, "dot").item() != pytest.approx(got.item())
    labels = torch.tensor([0, 1] * n)
    assert torch.isfinite(same_pace_loss(torch.cat([z1, z2]), labels, 1.0, "dot"))


def test_pretext_loss_passes_the_similarity_and_the_gather_hook_to_the_contrastive_term():
    logits, labels, emb = _batch()
    doubled = lambda x: torch.cat([x, x])  # noqa: E731 - stands in for a two-rank all-gather
    weights = LossWeights(temperature=1.0, similarity="dot")
    out = pretext_loss(logits, labels, emb, contrastive="same_pace", weights=weights, gather=doubled)
    torch.testing.assert_close(out.contrastive, same_pace_loss(doubled(emb), doubled(labels), 1.0, "dot"))
    torch.testing.assert_close(out.pace, pace_loss(logits, labels))  # the pace term stays local
    z1, z2 = emb.chunk(2)
    out = pretext_loss(logits, labels, emb, contrastive="same_context", gather=doubled)
    torch.testing.assert_close(out.contrastive, same_context_loss(doubled(z1), doubled(z2), 0.5))


def test_unknown_similarity_is_refused():
    with pytest.raises(ValueError, match="cosinus"):
        LossWeights(similarity="cosinus")
    with pytest.raises(ValueError, match="cosinus"):
        same_context_loss(torch.randn(2, 3), torch.randn(2, 3), similarity="cosinus")
