"""A linear-probe exit: logistic regression on pooled features, answering above a threshold."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

__all__ = ["Probe"]


class Probe:
    """Standardized features, a multinomial logistic regression; ``answer`` gives the probe's
    label and top probability per row."""

    def __init__(self, random_state: int) -> None:
        self.random_state = random_state

    def fit(self, F: np.ndarray, y: np.ndarray, n_classes: int) -> Probe:
        self.mean_ = F.mean(axis=0)
        scale = F.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        Z = (F - self.mean_) / self.scale_
        self.n_classes = n_classes
        classes = np.unique(y)
        self.coef_ = np.zeros((F.shape[1], n_classes))
        self.intercept_ = np.full(n_classes, -np.inf)
        if classes.size == 1:
            self.intercept_[classes[0]] = 0.0
            return self
        lr = LogisticRegression(max_iter=300, random_state=self.random_state).fit(Z, y)
        if classes.size == 2:  # one logit: class 1 against class 0
            self.coef_[:, classes[1]] = lr.coef_[0]
            self.intercept_[classes[1]] = lr.intercept_[0]
            self.intercept_[classes[0]] = 0.0
        else:
            self.coef_[:, classes] = lr.coef_.T
            self.intercept_[classes] = lr.intercept_
        return self

    def answer(self, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(label, top probability) per row."""
        logits = ((F - self.mean_) / self.scale_) @ self.coef_ + self.intercept_
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        return p.argmax(axis=1).astype(np.int64), p.max(axis=1)
