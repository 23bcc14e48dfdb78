"""ML losses written the way they are written in notebooks."""
import math

import numpy as np

from . import case
from ._jax import jax, jnp


def _n(r, *shape):
    return r.normal(size=shape)


def softmax_xent_handwritten(W, b, X, Y):
    logits = X @ W + b
    m = logits.max(axis=1, keepdims=True)
    z = logits - m
    logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.mean(np.sum(Y * logp, axis=1))


case(softmax_xent_handwritten, wrt=("W", "b"),
     args=lambda r: (_n(r, 4, 3), _n(r, 3), _n(r, 6, 4), np.eye(3)[r.integers(0, 3, 6)]))


def logistic_regression(w, b, X, y):
    z = X @ w + b
    p = 1 / (1 + np.exp(-z))
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


case(logistic_regression, wrt=("w", "b"),
     args=lambda r: (_n(r, 3), 0.1, _n(r, 8, 3), r.integers(0, 2, 8).astype(float)))


def hinge_loss_l2(w, X, y, C=0.5):
    margins = 1 - y * (X @ w)
    return C * np.mean(np.maximum(0, margins)) + 0.5 * np.sum(w ** 2)


case(hinge_loss_l2, wrt="w",
     args=lambda r: (_n(r, 4), _n(r, 10, 4), np.sign(_n(r, 10))))


def huber_loss(pred, target, delta=1.0):
    r = pred - target
    a = np.abs(r)
    return np.mean(np.where(a <= delta, 0.5 * r ** 2, delta * (a - 0.5 * delta)))


case(huber_loss, wrt="pred", args=lambda r: (2 * _n(r, 10), _n(r, 10)))


def focal_loss(logits, y, gamma=2.0, alpha=0.25):
    p = 1.0 / (1.0 + np.exp(-logits))
    pt = np.where(y == 1, p, 1 - p)
    at = np.where(y == 1, alpha, 1 - alpha)
    return -np.mean(at * (1 - pt) ** gamma * np.log(pt))


case(focal_loss, wrt="logits", args=lambda r: (_n(r, 12), r.integers(0, 2, 12)))


def mse_with_l2(W, X, Y, lam):
    pred = X @ W
    return np.mean((pred - Y) ** 2) + lam * np.sum(W * W)


case(mse_with_l2, wrt="W", args=lambda r: (_n(r, 3, 2), _n(r, 7, 3), _n(r, 7, 2), 0.01))


def mlp_relu_mse(W1, b1, W2, b2, X, y):
    h = np.maximum(0, X @ W1 + b1)
    out = h @ W2 + b2
    return np.mean((out.ravel() - y) ** 2)


case(mlp_relu_mse, wrt=(0, 1, 2, 3),
     args=lambda r: (_n(r, 3, 5), _n(r, 5), _n(r, 5, 1), _n(r, 1), _n(r, 6, 3), _n(r, 6)))


def mlp_tanh_softmax(params, X, y):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    h = np.tanh(X @ W1 + b1)
    logits = h @ W2 + b2
    logits = logits - logits.max(axis=1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(y)), y].mean()


case(mlp_tanh_softmax, wrt="params", tags=("real_numpy",),
     args=lambda r: ({"W1": _n(r, 4, 5), "b1": _n(r, 5), "W2": _n(r, 5, 3), "b2": _n(r, 3)},
                     _n(r, 6, 4), r.integers(0, 3, 6)))


def layer_norm_loss(x, gamma, beta, target):
    mu = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    xhat = (x - mu) / np.sqrt(var + 1e-5)
    y = gamma * xhat + beta
    return np.sum((y - target) ** 2)


case(layer_norm_loss, wrt=("x", "gamma", "beta"), tags=("real_numpy",),
     args=lambda r: (_n(r, 3, 6), 1 + 0.1 * _n(r, 6), 0.1 * _n(r, 6), _n(r, 3, 6)))


def attention_loss(Q, K, V, target):
    d = Q.shape[-1]
    scores = Q @ K.T / np.sqrt(d)
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights = weights / weights.sum(axis=-1, keepdims=True)
    out = weights @ V
    return np.mean((out - target) ** 2)


case(attention_loss, wrt=("Q", "K", "V"), tags=("real_numpy",),
     args=lambda r: (_n(r, 4, 3), _n(r, 5, 3), _n(r, 5, 2), _n(r, 4, 2)))


def gelu(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def gelu_mlp(W1, W2, X, y):
    h = gelu(X @ W1)
    return np.mean((h @ W2 - y) ** 2)


case(gelu_mlp, wrt=("W1", "W2"), tags=("real_numpy",),
     args=lambda r: (_n(r, 3, 4), _n(r, 4), _n(r, 5, 3), _n(r, 5)))


def gaussian_nll_diag(mu, log_sigma, x):
    sigma = np.exp(log_sigma)
    return 0.5 * np.sum(((x - mu) / sigma) ** 2 + 2 * log_sigma + np.log(2 * np.pi))


case(gaussian_nll_diag, wrt=("mu", "log_sigma"), args=lambda r: (_n(r, 5), 0.3 * _n(r, 5), _n(r, 5)))


def vae_kl(mu, logvar):
    return -0.5 * np.sum(1 + logvar - mu ** 2 - np.exp(logvar))


case(vae_kl, wrt=("mu", "logvar"), args=lambda r: (_n(r, 2, 4), 0.5 * _n(r, 2, 4)))


def bce_with_logits_stable(z, y):
    return np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))


case(bce_with_logits_stable, wrt="z", args=lambda r: (2 * _n(r, 9), r.integers(0, 2, 9).astype(float)))


def poisson_nll(log_rate, k):
    return np.sum(np.exp(log_rate) - k * log_rate)


case(poisson_nll, wrt="log_rate", args=lambda r: (0.5 * _n(r, 6), r.poisson(2.0, 6).astype(float)))


def info_nce(Z1, Z2, tau=0.5):
    Z1 = Z1 / np.linalg.norm(Z1, axis=1, keepdims=True)
    Z2 = Z2 / np.linalg.norm(Z2, axis=1, keepdims=True)
    sim = Z1 @ Z2.T / tau
    n = sim.shape[0]
    sim = sim - sim.max(axis=1, keepdims=True)
    logp = sim - np.log(np.exp(sim).sum(axis=1, keepdims=True))
    return -np.mean(logp[np.arange(n), np.arange(n)])


case(info_nce, wrt=("Z1", "Z2"), tags=("real_numpy",), args=lambda r: (_n(r, 4, 3), _n(r, 4, 3)))


def triplet_loss(a, p, n, margin=1.0):
    d_ap = np.sum((a - p) ** 2, axis=1)
    d_an = np.sum((a - n) ** 2, axis=1)
    return np.mean(np.maximum(d_ap - d_an + margin, 0.0))


case(triplet_loss, wrt="a", args=lambda r: (_n(r, 5, 3), _n(r, 5, 3), _n(r, 5, 3)))


def smooth_l1(pred, target, beta=0.5):
    diff = np.abs(pred - target)
    loss = np.where(diff < beta, 0.5 * diff ** 2 / beta, diff - 0.5 * beta)
    return loss.sum()


case(smooth_l1, wrt="pred", args=lambda r: (_n(r, 8), _n(r, 8)))


def label_smoothing_xent(logits, y, eps=0.1):
    n, C = logits.shape
    onehot = np.eye(C)[y]
    target = (1 - eps) * onehot + eps / C
    m = np.max(logits, axis=1, keepdims=True)
    lse = m + np.log(np.sum(np.exp(logits - m), axis=1, keepdims=True))
    return -np.sum(target * (logits - lse)) / n


case(label_smoothing_xent, wrt="logits", tags=("real_numpy",),
     args=lambda r: (_n(r, 5, 4), r.integers(0, 4, 5)))


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def gru_cell_loss(params, x, h):
    z = sigmoid(x @ params["Wz"] + h @ params["Uz"])
    r = sigmoid(x @ params["Wr"] + h @ params["Ur"])
    n = np.tanh(x @ params["Wn"] + (r * h) @ params["Un"])
    h_new = (1 - z) * n + z * h
    return np.sum(h_new ** 2)


case(gru_cell_loss, wrt="params", tags=("real_numpy",),
     args=lambda r: ({k: 0.5 * _n(r, 3 if k[0] == "W" else 4, 4) for k in ("Wz", "Uz", "Wr", "Ur", "Wn", "Un")},
                     _n(r, 2, 3), _n(r, 2, 4)))


def lstm_cell_loss(W, U, b, x, h, c):
    gates = x @ W + h @ U + b
    i, f, g, o = np.split(gates, 4, axis=-1)
    i, f, o = sigmoid(i), sigmoid(f), sigmoid(o)
    g = np.tanh(g)
    c_new = f * c + i * g
    h_new = o * np.tanh(c_new)
    return np.sum(h_new) + 0.5 * np.sum(c_new ** 2)


case(lstm_cell_loss, wrt=("W", "U", "b"), tags=("real_numpy",),
     args=lambda r: (0.5 * _n(r, 3, 8), 0.5 * _n(r, 2, 8), 0.1 * _n(r, 8), _n(r, 2, 3), _n(r, 2, 2), _n(r, 2, 2)))


def softmax_regression_nll(W, X, y):
    logits = X @ W
    logits -= logits.max(axis=1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1))[:, None]
    n = X.shape[0]
    return -log_probs[np.arange(n), y].sum() / n


case(softmax_regression_nll, wrt="W", tags=("real_numpy",),
     args=lambda r: (_n(r, 3, 4), _n(r, 7, 3), r.integers(0, 4, 7)))


def elastic_net(w, X, y, l1=0.1, l2=0.01):
    r = X @ w - y
    return 0.5 * np.dot(r, r) / len(y) + l1 * np.sum(np.abs(w)) + l2 * np.sum(w ** 2)


case(elastic_net, wrt="w", args=lambda r: (_n(r, 4), _n(r, 9, 4), _n(r, 9)))


def cosine_embedding_loss(a, b):
    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return np.mean(1 - cos)


case(cosine_embedding_loss, wrt=("a", "b"), tags=("real_numpy",), args=lambda r: (_n(r, 4, 3), _n(r, 4, 3)))


def vae_elbo(enc_W, dec_W, x, eps):
    h = x @ enc_W
    mu, logvar = h[:, :2], h[:, 2:]
    z = mu + np.exp(0.5 * logvar) * eps
    x_hat = 1 / (1 + np.exp(-(z @ dec_W)))
    recon = -np.sum(x * np.log(x_hat + 1e-9) + (1 - x) * np.log(1 - x_hat + 1e-9))
    kl = -0.5 * np.sum(1 + logvar - mu ** 2 - np.exp(logvar))
    return (recon + kl) / x.shape[0]


case(vae_elbo, wrt=("enc_W", "dec_W"),
     args=lambda r: (0.3 * _n(r, 5, 4), 0.3 * _n(r, 2, 5), r.uniform(size=(3, 5)), _n(r, 3, 2)))


def pinball_loss(pred, y, q=0.9):
    r = y - pred
    return np.mean(np.maximum(q * r, (q - 1) * r))


case(pinball_loss, wrt="pred", args=lambda r: (_n(r, 10), _n(r, 10)))


def dice_loss(logits, mask):
    p = 1 / (1 + np.exp(-logits))
    inter = np.sum(p * mask)
    return 1 - (2 * inter + 1) / (np.sum(p) + np.sum(mask) + 1)


case(dice_loss, wrt="logits", args=lambda r: (_n(r, 4, 4), (r.uniform(size=(4, 4)) > 0.5).astype(float)))


def log_cosh_loss(pred, y):
    return np.mean(np.log(np.cosh(pred - y)))


case(log_cosh_loss, wrt="pred", args=lambda r: (_n(r, 8), _n(r, 8)))


def knowledge_distillation(student, teacher, T=2.0):
    def log_softmax(z):
        z = z - z.max(axis=-1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    p_t = np.exp(log_softmax(teacher / T))
    return T * T * np.mean(np.sum(p_t * (np.log(p_t) - log_softmax(student / T)), axis=-1))


case(knowledge_distillation, wrt="student", args=lambda r: (_n(r, 3, 5), _n(r, 3, 5)))


def negative_sampling_w2v(center, context, negatives):
    pos = np.log(1 / (1 + np.exp(-center @ context)))
    neg = np.sum(np.log(1 / (1 + np.exp(negatives @ center))))
    return -(pos + neg)


case(negative_sampling_w2v, wrt=("center", "context"), args=lambda r: (_n(r, 5), _n(r, 5), _n(r, 3, 5)))


def ranknet_pairwise(scores, i_idx, j_idx):
    diff = scores[i_idx] - scores[j_idx]
    return np.sum(np.log1p(np.exp(-diff)))


case(ranknet_pairwise, wrt="scores", tags=("real_numpy",),
     args=lambda r: (_n(r, 6), np.array([0, 0, 1, 2, 3]), np.array([1, 2, 3, 4, 5])))
