"""Benchmark workloads: for each, a loss function gradc compiles and a hand-written
NumPy value-and-gradient function, as a careful practitioner would write it.

The gradc losses are plain `def` functions in this file because gradc reads their
source with `inspect`. All data is passed in as arguments: module-level arrays
would be baked into the generated code as constants.

Each workload is described by a `Workload` (see `WORKLOADS` at the bottom):
`make(rng)` builds the arguments, `wrt` names the differentiated ones, `loss`
is the gradc function and `hand(*args) -> (value, grads)` the NumPy reference,
with `grads` a tuple in `wrt` order.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from gradc.nn import log_softmax, sigmoid, softplus


# -- 1. seed000: the lecture's logistic regression with squared loss -----------

def rss_loss(w, X1, X2, C1, C2):
    z1 = X1 @ w
    z2 = X2 @ w
    y1 = sigmoid(z1)
    y2 = sigmoid(z2)
    r1 = C1 - y1
    r2 = C2 - y2
    return r1**2 + r2**2


def rss_hand(w, X1, X2, C1, C2):
    y1 = 1.0 / (1.0 + np.exp(-(X1 @ w)))
    y2 = 1.0 / (1.0 + np.exp(-(X2 @ w)))
    r1 = C1 - y1
    r2 = C2 - y2
    # d/dw (c - s(x.w))^2 = -2 (c - s) s (1 - s) x
    gw = (-2.0 * r1 * y1 * (1.0 - y1)) * X1 + (-2.0 * r2 * y2 * (1.0 - y2)) * X2
    return r1 * r1 + r2 * r2, (gw,)


def rss_make(rng):
    w = np.array([-1.0, 1.5, 0.5])
    X1 = np.array([1.0, 1.0, 1.5])
    X2 = np.array([1.0, 1.5, -1.0])
    return (w, X1, X2, 0.0, 1.0)


# -- 2. softmax regression (CIFAR-sized: d=3072, C=10, n=100) with L2 ----------

def softmax_regression_loss(W, b, X, Y, lam):
    logp = log_softmax(X @ W.T + b, axis=-1)
    return -np.mean(np.sum(Y * logp, axis=1)) + lam * np.sum(W**2)


def softmax_regression_hand(W, b, X, Y, lam):
    n = X.shape[0]
    S = X @ W.T + b                                    # (n, C)
    S -= S.max(axis=1, keepdims=True)
    E = np.exp(S)
    Z = E.sum(axis=1, keepdims=True)
    logp = S - np.log(Z)
    J = -np.sum(Y * logp) / n + lam * np.sum(W * W)
    G = (E / Z - Y) / n                                # dJ/dS
    gW = G.T @ X + (2.0 * lam) * W
    gb = G.sum(axis=0)
    return J, (gW, gb)


def softmax_regression_make(rng):
    n, d, C = 100, 3072, 10
    W = 0.01 * rng.standard_normal((C, d))
    b = np.zeros(C)
    X = rng.standard_normal((n, d))
    Y = np.eye(C)[rng.integers(0, C, size=n)]
    return (W, b, X, Y, 1e-3)


# -- 3. MLP 784-256-256-10, tanh then relu, softmax cross-entropy, batch 128 ----

def mlp_loss(W1, b1, W2, b2, W3, b3, X, Y):
    h1 = np.tanh(X @ W1 + b1)
    h2 = np.maximum(h1 @ W2 + b2, 0.0)
    logits = h2 @ W3 + b3
    return -np.mean(np.sum(Y * log_softmax(logits, axis=-1), axis=1))


def mlp_hand(W1, b1, W2, b2, W3, b3, X, Y):
    n = X.shape[0]
    h1 = np.tanh(X @ W1 + b1)
    a2 = h1 @ W2 + b2
    h2 = np.maximum(a2, 0.0)
    S = h2 @ W3 + b3
    S -= S.max(axis=1, keepdims=True)
    E = np.exp(S)
    Z = E.sum(axis=1, keepdims=True)
    J = -np.sum(Y * (S - np.log(Z))) / n
    G3 = (E / Z - Y) / n                               # dJ/dlogits
    gW3 = h2.T @ G3
    gb3 = G3.sum(axis=0)
    G2 = G3 @ W3.T
    G2 *= a2 > 0                                       # relu'
    gW2 = h1.T @ G2
    gb2 = G2.sum(axis=0)
    G1 = G2 @ W2.T
    G1 *= 1.0 - h1 * h1                                # tanh'
    gW1 = X.T @ G1
    gb1 = G1.sum(axis=0)
    return J, (gW1, gb1, gW2, gb2, gW3, gb3)


def mlp_make(rng):
    n, sizes = 128, (784, 256, 256, 10)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params.append(rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in))
        params.append(0.01 * rng.standard_normal(fan_out))
    X = rng.standard_normal((n, sizes[0]))
    Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], size=n)]
    return (*params, X, Y)


# -- 4. large logistic regression: n=200000, d=50, mean softplus(z) - y z -------

def logreg_loss(w, X, y):
    z = X @ w
    return np.mean(softplus(z) - y * z)


def logreg_hand(w, X, y):
    n = X.shape[0]
    z = X @ w
    J = np.mean(np.logaddexp(0.0, z) - y * z)
    r = 1.0 / (1.0 + np.exp(-z))                       # sigmoid(z) = d softplus / dz
    r -= y
    gw = (r @ X) / n
    return J, (gw,)


def logreg_make(rng):
    n, d = 200_000, 50
    X = rng.standard_normal((n, d))
    w_true = rng.standard_normal(d) / np.sqrt(d)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(X @ w_true)))).astype(np.float64)
    w = 0.1 * rng.standard_normal(d)
    return (w, X, y)


# -- 5. seed002: the lecture's scalar formula on one Python float -----------------

def seed002_loss(x):
    return np.sqrt(x**2 + np.exp(x**2)) + np.cos(x**2 + np.exp(x**2))


SEED002_FORMULA = "sqrt(x**2 + exp(x**2)) + cos(x**2 + exp(x**2))"  # the same, as gradc's CLI takes it


def seed002_hand(x):
    a = x * x
    b = np.exp(a)
    c = a + b
    d = np.sqrt(c)
    c_bar = 0.5 / d - np.sin(c)                        # d/dc (sqrt(c) + cos(c))
    return d + np.cos(c), (float(c_bar * (1.0 + b) * 2.0 * x),)


def seed002_make(rng):
    return (0.5,)


# -- the same losses for other frameworks ---------------------------------------
# Used only when JAX, PyTorch or HIPS autograd is importable. Each returns a dict
# workload name -> loss with the gradc loss's signature.

def xp_losses(xp, sigmoid, softplus, log_softmax):
    """The four losses written against a NumPy-like module (jax.numpy, autograd.numpy)."""

    def rss(w, X1, X2, C1, C2):
        r1 = C1 - sigmoid(X1 @ w)
        r2 = C2 - sigmoid(X2 @ w)
        return r1**2 + r2**2

    def softmax_reg(W, b, X, Y, lam):
        logp = log_softmax(X @ W.T + b)
        return -xp.mean(xp.sum(Y * logp, axis=1)) + lam * xp.sum(W**2)

    def mlp(W1, b1, W2, b2, W3, b3, X, Y):
        h1 = xp.tanh(X @ W1 + b1)
        h2 = xp.maximum(h1 @ W2 + b2, 0.0)
        return -xp.mean(xp.sum(Y * log_softmax(h2 @ W3 + b3), axis=1))

    def logreg(w, X, y):
        z = X @ w
        return xp.mean(softplus(z) - y * z)

    def seed002(x):
        return xp.sqrt(x**2 + xp.exp(x**2)) + xp.cos(x**2 + xp.exp(x**2))

    return {"seed000": rss, "softmax_reg": softmax_reg, "mlp": mlp, "logreg_200k": logreg, "seed002": seed002}


def torch_losses(torch):
    """The four losses written with PyTorch tensor ops."""
    F = torch.nn.functional

    def rss(w, X1, X2, C1, C2):
        r1 = C1 - torch.sigmoid(X1 @ w)
        r2 = C2 - torch.sigmoid(X2 @ w)
        return r1**2 + r2**2

    def softmax_reg(W, b, X, Y, lam):
        logp = torch.log_softmax(X @ W.T + b, dim=-1)
        return -(Y * logp).sum(dim=1).mean() + lam * (W**2).sum()

    def mlp(W1, b1, W2, b2, W3, b3, X, Y):
        h1 = torch.tanh(X @ W1 + b1)
        h2 = torch.relu(h1 @ W2 + b2)
        return -(Y * torch.log_softmax(h2 @ W3 + b3, dim=-1)).sum(dim=1).mean()

    def logreg(w, X, y):
        z = X @ w
        return (F.softplus(z) - y * z).mean()

    def seed002(x):
        return torch.sqrt(x**2 + torch.exp(x**2)) + torch.cos(x**2 + torch.exp(x**2))

    return {"seed000": rss, "softmax_reg": softmax_reg, "mlp": mlp, "logreg_200k": logreg, "seed002": seed002}


# -- registry --------------------------------------------------------------------

@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    loss: Callable
    hand: Callable
    make: Callable
    wrt: tuple


WORKLOADS = [
    Workload("seed000", "lecture logistic RSS, 2 points, d=3",
             rss_loss, rss_hand, rss_make, ("w",)),
    Workload("seed002", "lecture scalar formula on a Python float",
             seed002_loss, seed002_hand, seed002_make, ("x",)),
    Workload("softmax_reg", "softmax regression d=3072 C=10 n=100, L2",
             softmax_regression_loss, softmax_regression_hand, softmax_regression_make, ("W", "b")),
    Workload("mlp", "MLP 784-256-256-10 tanh/relu, CE, batch 128",
             mlp_loss, mlp_hand, mlp_make, ("W1", "b1", "W2", "b2", "W3", "b3")),
    Workload("logreg_200k", "logistic regression n=200000 d=50",
             logreg_loss, logreg_hand, logreg_make, ("w",)),
]
