"""The batched Lovász-softmax equals the Lovász extension computed from its definition."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seal_train.losses import lovasz_grad, lovasz_softmax


def _naive(probs, labels, ignore_index, classes):
    """Straight from the definition: per class, sort the points by error, grow the mispredicted
    set one point at a time, and weight each error by the change in set Jaccard loss."""
    points = [i for i in range(len(labels)) if labels[i].item() != ignore_index]
    losses = []
    for c in range(probs.shape[1]):
        fg = {i for i in points if labels[i].item() == c}
        if classes == "present" and not fg:
            continue
        errors = {i: ((1.0 if i in fg else 0.0) - probs[i, c]).abs() for i in points}
        ranked = sorted(points, key=lambda i: -errors[i].item())
        mispredicted: set[int] = set()
        previous, loss = 0.0, probs.new_zeros(())
        for i in ranked:
            mispredicted.add(i)
            jaccard = 1.0 - len(fg - mispredicted) / len(fg | mispredicted)
            loss = loss + errors[i] * (jaccard - previous)
            previous = jaccard
        losses.append(loss)
    return torch.stack(losses).mean()


def _problem(N, C, seed, dtype=torch.float64, absent=None, ignored=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(N, C, generator=g, dtype=dtype) * 2
    labels = torch.randint(0, C, (N,), generator=g)
    if absent is not None:
        labels[labels == absent] = (absent + 1) % C
    labels[torch.randperm(N, generator=g)[:ignored]] = 0
    return logits.softmax(1).requires_grad_(True), labels


@pytest.mark.parametrize("classes", ["present", "all"])
@pytest.mark.parametrize(("N", "C", "absent", "ignore_index"),
                         [(1, 2, None, None), (9, 3, None, 0), (60, 5, 3, 0), (150, 7, 2, None)])
def test_matches_definition_with_gradients(N, C, absent, ignore_index, classes):
    probs, labels = _problem(N, C, seed=N, absent=absent, ignored=N // 5)
    fast = lovasz_softmax(probs, labels, ignore_index=ignore_index, classes=classes)
    (grad_fast,) = torch.autograd.grad(fast, probs)
    slow = _naive(probs, labels, ignore_index, classes)
    (grad_slow,) = torch.autograd.grad(slow, probs)
    assert abs(fast.item() - slow.item()) <= 1e-6
    assert torch.allclose(grad_fast, grad_slow, rtol=0, atol=1e-5)


def test_float32_matches_float64():
    probs, labels = _problem(200, 6, seed=3)
    fast64 = lovasz_softmax(probs, labels)
    fast32 = lovasz_softmax(probs.detach().float(), labels)
    assert abs(fast32.item() - fast64.item()) <= 1e-6


def test_gradient_matches_finite_differences():
    probs, labels = _problem(40, 4, seed=5, ignored=8)
    for classes in ("present", "all"):
        assert torch.autograd.gradcheck(
            lambda p, c=classes: lovasz_softmax(p, labels, classes=c), (probs,), eps=1e-7)


def test_lovasz_grad_by_hand():
    # gts = 2; I = [1, 1, 0], U = [2, 3, 3]; J = [1/2, 2/3, 1] -> differences.
    w = lovasz_grad(torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]], dtype=torch.float64))
    expected = torch.tensor([[1 / 2, 1 / 6, 1 / 3], [1.0, 0.0, 0.0]], dtype=torch.float64)
    assert torch.allclose(w, expected)


def test_perfect_prediction_is_zero():
    labels = torch.tensor([1, 2, 2, 0, 3, 1])
    probs = F.one_hot(labels, 4).double().requires_grad_(True)
    assert lovasz_softmax(probs, labels).item() == 0.0
    assert lovasz_softmax(probs, labels, ignore_index=None, classes="all").item() == 0.0


def test_confident_wrong_prediction_is_one():
    labels = torch.tensor([1, 2, 2, 3, 3, 1, 0])
    wrong = F.one_hot((labels % 3) + 1, 4).double()  # 1->2, 2->3, 3->1, never the label
    assert (wrong.argmax(1) != labels).all()
    assert lovasz_softmax(wrong, labels).item() == pytest.approx(1.0, abs=1e-12)
    assert lovasz_softmax(wrong, labels, ignore_index=None).item() == pytest.approx(1.0, abs=1e-12)


def test_ignored_points_change_nothing():
    probs, labels = _problem(50, 5, seed=7)
    labels[labels == 0] = 1
    extra_probs, _ = _problem(20, 5, seed=8)
    all_probs = torch.cat([probs, extra_probs]).detach().requires_grad_(True)
    all_labels = torch.cat([labels, torch.zeros(20, dtype=torch.long)])
    for classes in ("present", "all"):
        alone = lovasz_softmax(probs, labels, classes=classes)
        mixed = lovasz_softmax(all_probs, all_labels, classes=classes)
        assert torch.allclose(alone, mixed, rtol=0, atol=1e-12)
        (grad,) = torch.autograd.grad(mixed, all_probs)
        assert (grad[50:] == 0).all()
    # With ignore_index=None the same points count as class 0 and the loss moves.
    kept = lovasz_softmax(all_probs, all_labels, ignore_index=None)
    assert abs(kept.item() - lovasz_softmax(probs, labels).item()) > 1e-3


def test_all_adds_absent_classes_at_their_largest_probability():
    probs, labels = _problem(80, 6, seed=9, absent=4)
    present = sorted(set(labels[labels != 0].tolist()))
    absent = [c for c in range(6) if c not in present]  # class 4 and the ignore column 0
    assert absent == [0, 4]
    kept = probs[labels != 0]
    loss_present = lovasz_softmax(probs, labels, classes="present")
    loss_all = lovasz_softmax(probs, labels, classes="all")
    expected = (loss_present * len(present) + sum(kept[:, c].max() for c in absent)) / 6
    assert abs(loss_all.item() - loss_present.item()) > 1e-3
    assert torch.allclose(loss_all, expected, rtol=0, atol=1e-12)


def test_all_points_ignored_returns_zero_with_a_graph():
    probs = torch.rand(5, 3, dtype=torch.float64).softmax(1).requires_grad_(True)
    loss = lovasz_softmax(probs, torch.zeros(5, dtype=torch.long))
    assert loss.shape == () and loss.item() == 0.0
    loss.backward()
    assert probs.grad is not None and (probs.grad == 0).all()
    none = torch.empty(0, 3, requires_grad=True)
    assert lovasz_softmax(none, torch.empty(0, dtype=torch.long), classes="all").item() == 0.0


@pytest.mark.parametrize(("probs", "labels", "kwargs", "match"), [
    (torch.rand(4), torch.zeros(4, dtype=torch.long), {}, "probabilities must be a float"),
    (torch.ones(4, 3, dtype=torch.long), torch.zeros(4, dtype=torch.long), {}, "float"),
    (torch.rand(4, 3), torch.zeros(5, dtype=torch.long), {}, r"labels must be an integer \(4,\)"),
    (torch.rand(4, 3), torch.zeros(4), {}, "labels must be an integer"),
    (torch.rand(4, 3), torch.tensor([1, 2, 3, 0]), {}, r"\[0, 3\).*found \[1, 3\]"),
    (torch.rand(4, 3), torch.tensor([1, -1, 2, 0]), {"ignore_index": None}, "found"),
    (torch.rand(4, 3), torch.tensor([1, 2, 2, 0]), {"classes": "some"}, "'present' or 'all'"),
])
def test_rejects_bad_input(probs, labels, kwargs, match):
    with pytest.raises(ValueError, match=match):
        lovasz_softmax(probs, labels, **kwargs)


def test_cross_entropy_plus_lovasz_trains():
    g = torch.Generator().manual_seed(0)
    N, D, C = 120, 6, 4
    centres = torch.randn(C, D, generator=g) * 2
    labels = torch.randint(0, C, (N,), generator=g)
    points = centres[labels] + torch.randn(N, D, generator=g)
    model = torch.nn.Linear(D, C)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    history = []
    for _ in range(15):
        logits = model(points)
        loss = (F.cross_entropy(logits, labels)
                + lovasz_softmax(logits.softmax(1), labels, ignore_index=None))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        history.append(loss.item())
    assert history[-1] < 0.5 * history[0]
    with torch.no_grad():
        probs = model(points).softmax(1)
    assert lovasz_softmax(probs, labels, ignore_index=None) < lovasz_softmax(
        torch.full((N, C), 1 / C), labels, ignore_index=None)
