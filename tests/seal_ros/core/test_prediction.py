"""Logits -> labels: the ignore class is masked before the argmax, probabilities are softmax's."""

from __future__ import annotations

import numpy as np
import torch

from seal_ros.core.prediction import labels_from_logits


def test_labels_from_logits_masks_ignore():
    logits = torch.tensor([[5.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    cls, prob = labels_from_logits(logits, ignore_id=0)
    assert cls.tolist() == [1, 2]
    expected = torch.softmax(logits, 1)
    np.testing.assert_allclose(prob, [expected[0, 1], expected[1, 2]], rtol=1e-6)
    cls, _ = labels_from_logits(logits, ignore_id=None)
    assert cls.tolist() == [0, 2]


def test_predict_never_returns_ignore():
    logits = torch.tensor([[9.0, 1.0, 2.0], [5.0, 0.0, -1.0]])
    assert labels_from_logits(logits, ignore_id=0)[0].tolist() == [2, 1]


def test_a_dominant_ignore_logit_still_gives_a_real_class():
    """Zeroing the ignore probability would leave all zeros (underflow) and pick class 0."""
    logits = torch.tensor([[200.0, -10.0, -5.0]], dtype=torch.float16)
    cls, prob = labels_from_logits(logits, ignore_id=0)
    assert cls.tolist() == [2] and prob.dtype == torch.float32 and float(prob[0]) == 0.0
    assert cls.dtype == torch.int64
