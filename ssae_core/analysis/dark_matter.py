"""SAE dark matter: the error e = x - x_hat as an object of study (Engels et al., Eq. 2-5).

Every fit is a linear regression with a bias (ridge on the weights only), fit on a
seeded train share of the tokens and scored by R² on the held-out rest; every result
carries its train / test sizes. Definitions:

- norm prediction (Eq. 2): ``||e||²`` from x; baselines from token identity (the train
  mean of ``||e||²`` per token id), from ``||x||`` (and ``||x||²``) and from L0.
- vector prediction (Eq. 3): e from x, R² averaged over dimensions; the prediction is the
  *linear error*, the rest ``e - Bx`` the *nonlinear error*.
- nonlinear FVU (Eq. 4): the FVU of ``x_hat + Bx``, next to the SAE's own FVU.
- cross-SAE (Eq. 5): one SAE's ``||e||²`` from another's (one coefficient and a bias).
- synthetic check (App. B.3): inputs built from the SAE's own features, so no feature is
  absent; then the linearly predictable error estimates the *dense* part of x (noise
  added to x should land there) and the nonlinear FVU the *introduced* error (noise added
  to x_hat should land there). Note the nonlinear error is exactly the part of x_hat that
  is not linear in x (its least-squares residual).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd
import torch

from ssae_core.evaluate import tail
from ssae_core.models.activations import collect, kept_counts, kept_tokens, pad_id

if TYPE_CHECKING:
    from ssae_core.models.base import Base


@dataclass(frozen=True)
class Fit:
    """A held-out R² with the sizes it came from."""

    r2: float
    n_train: int
    n_test: int


def train_test(n: int, test_share: float = 0.4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of n rows (the paper: 150k train, 97k test, i.e. ~40% held out)."""
    perm = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(test_share * n)))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def ridge_fit(X: torch.Tensor, Y: torch.Tensor, ridge: float = 1e-6) -> torch.Tensor:
    """Weights (d + 1, k) of ``Y ≈ [X, 1] W`` in float64; the bias row is not penalised.

    ``ridge`` is relative to the mean diagonal of the centred X'X (0: plain least squares).
    """
    X, Y = X.double(), Y.double()
    mx, my = X.mean(0), Y.mean(0)
    Xc, Yc = X - mx, Y - my
    gram = Xc.T @ Xc
    gram = gram + ridge * gram.diagonal().mean() * torch.eye(
        len(gram), dtype=gram.dtype, device=gram.device
    )
    W = torch.linalg.lstsq(gram, Xc.T @ Yc).solution
    return torch.cat([W, (my - mx @ W)[None]])


def predict(W: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    return X.double() @ W[:-1] + W[-1]


def r2_score(Y: torch.Tensor, pred: torch.Tensor) -> float:
    """R² averaged over the columns of Y (one column: the usual R²)."""
    Y, pred = Y.double().reshape(len(Y), -1), pred.double().reshape(len(Y), -1)
    resid = (Y - pred).pow(2).sum(0)
    total = (Y - Y.mean(0)).pow(2).sum(0).clamp_min(1e-30)
    return float((1 - resid / total).mean())


def held_out_r2(
    X: torch.Tensor, Y: torch.Tensor, train: np.ndarray, test: np.ndarray, ridge: float = 1e-6
) -> tuple[Fit, torch.Tensor]:
    """Fit on ``train`` rows, score on ``test`` rows: (Fit, predictions on the test rows)."""
    W = ridge_fit(X[train], Y[train], ridge)
    pred = predict(W, X[test])
    return Fit(r2_score(Y[test], pred), len(train), len(test)), pred


@torch.no_grad()
def reconstruct(sae, x: torch.Tensor, chunk: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_hat, L0 per token) of ``sae`` on x, in chunks."""
    outs, l0 = [], []
    for part in x.split(chunk):
        f = sae.encode(part.to(sae.W_enc.device, sae.W_enc.dtype))
        outs.append(sae.decode(f).to(x.device, x.dtype))
        l0.append((f > 0).sum(-1))
    return torch.cat(outs), torch.cat(l0)


@torch.no_grad()
def error_norms(saes: dict, x: torch.Tensor) -> pd.DataFrame:
    """Per token and SAE: ``||e||`` and ``||e|| / ||x||``, one batched pass per SAE (no per-token
    loop)."""
    norm_x = x.norm(dim=-1).clamp_min(1e-12)
    parts = []
    for name, sae in saes.items():
        x_hat, _ = reconstruct(sae, x)
        err = (x - x_hat).norm(dim=-1)
        parts.append(
            pd.DataFrame(
                {
                    "sae": name,
                    "token_index": np.arange(len(x)),
                    "error_norm": err.cpu().numpy(),
                    "relative_error": (err / norm_x).cpu().numpy(),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def norm_prediction(
    x: torch.Tensor,
    x_hat: torch.Tensor,
    l0: torch.Tensor,
    token_ids: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    ridge: float = 1e-6,
) -> dict[str, Fit]:
    """Eq. 2: held-out R² of predicting ``||e||²`` from x, and from the baselines."""
    target = (x - x_hat).pow(2).sum(-1, keepdim=True).double()
    norm = x.norm(dim=-1, keepdim=True).double()
    fits = {
        "activation": held_out_r2(x, target, train, test, ridge)[0],
        "activation_norm": held_out_r2(torch.cat([norm, norm.pow(2)], 1), target, train, test, 0.0)[
            0
        ],
        "l0": held_out_r2(l0[:, None].double(), target, train, test, 0.0)[0],
    }
    by_token = (
        pd.Series(target[train, 0].cpu().numpy()).groupby(np.asarray(token_ids)[train]).mean()
    )
    guess = (
        pd.Series(np.asarray(token_ids)[test])
        .map(by_token)
        .fillna(float(target[train].mean()))
        .to_numpy()
    )
    fits["token_identity"] = Fit(r2_score(target[test], torch.tensor(guess)), len(train), len(test))
    return fits


@dataclass
class VectorFit:
    """Eq. 3 and 4 on held-out tokens: R² of e from x, FVUs, and per-token linear / nonlinear error
    norms."""

    fit: Fit
    fvu: float
    nonlinear_fvu: float
    linear_norm: np.ndarray
    nonlinear_norm: np.ndarray


def vector_prediction(
    x: torch.Tensor, x_hat: torch.Tensor, train: np.ndarray, test: np.ndarray, ridge: float = 1e-6
) -> VectorFit:
    """Fit e ≈ Bx; split the held-out error into linear (Bx) and nonlinear (e - Bx) parts."""
    e = (x - x_hat).double()
    fit, linear = held_out_r2(x, e, train, test, ridge)
    xt = x[test].double()
    variance = (xt - xt.mean(0)).pow(2).sum()
    nonlinear = e[test] - linear
    return VectorFit(
        fit,
        float(e[test].pow(2).sum() / variance),
        float(nonlinear.pow(2).sum() / variance),
        linear.norm(dim=-1).cpu().numpy(),
        nonlinear.norm(dim=-1).cpu().numpy(),
    )


def cross_prediction(
    err_a: torch.Tensor, err_b: torch.Tensor, train: np.ndarray, test: np.ndarray
) -> Fit:
    """Eq. 5: held-out R² of SAE b's ``||e||²`` from SAE a's ``||e||²`` (per token, one
    coefficient + bias)."""
    return held_out_r2(
        err_a.double().pow(2)[:, None], err_b.double().pow(2)[:, None], train, test, 0.0
    )[0]


def component_estimates(
    x: torch.Tensor, x_hat: torch.Tensor, train: np.ndarray, test: np.ndarray, ridge: float = 1e-6
) -> dict[str, float]:
    """Shares of Var(x) on held-out tokens: ``fvu``, its ``linear`` part (FVU - nonlinear FVU:
    absent features and, where none are absent, the dense part) and ``nonlinear`` part (introduced
    error).
    """
    vec = vector_prediction(x, x_hat, train, test, ridge)
    return {"fvu": vec.fvu, "linear": vec.fvu - vec.nonlinear_fvu, "nonlinear": vec.nonlinear_fvu}


@torch.no_grad()
def synthetic_check(
    sae, x: torch.Tensor, noise_x: float, noise_xhat: float, seed: int = 0
) -> dict[str, float]:
    """App. B.3: inputs = the SAE's own reconstructions (sparse sums of its features) plus Gaussian
    noise ``noise_x`` (a dense part); their reconstructions plus noise ``noise_xhat`` (introduced
    error).

    Noise scales are relative to the RMS size of one coordinate of the clean inputs.
    Returns ``component_estimates``: ``linear`` estimates dense, ``nonlinear`` introduced.
    """
    gen = torch.Generator().manual_seed(seed)
    clean, _ = reconstruct(sae, x)
    scale = clean.pow(2).sum(-1).mean().sqrt() / clean.shape[1] ** 0.5
    inputs = clean + noise_x * scale * torch.randn(clean.shape, generator=gen)
    outputs, _ = reconstruct(sae, inputs)
    outputs = outputs + noise_xhat * scale * torch.randn(clean.shape, generator=gen)
    train, test = train_test(len(x), seed=seed)
    return component_estimates(inputs, outputs, train, test)


def fixed_and_broken(
    norms: pd.DataFrame, tokens: list[str], baseline: str, k: int = 10
) -> pd.DataFrame:
    """Per SAE other than ``baseline``: up to k tokens whose error norm it lowered most (fixed)
    and raised most
    (broken); a token that did not change that way is not listed (an SAE that broke nothing has
    no broken rows).
    """
    wide = norms.pivot(index="token_index", columns="sae", values="error_norm")
    rows = []
    for sae in wide.columns.drop(baseline):
        change = wide[sae] - wide[baseline]
        for kind, picks in (
            ("fixed", change[change < 0].nsmallest(k)),
            ("broken", change[change > 0].nlargest(k)),
        ):
            rows += [
                {
                    "sae": sae,
                    "kind": kind,
                    "token_index": int(i),
                    "token": tokens[i],
                    "change": float(v),
                    baseline: float(wide.loc[i, baseline]),
                    "error_norm": float(wide.loc[i, sae]),
                }
                for i, v in picks.items()
            ]
    return pd.DataFrame(rows)


class Analysis(NamedTuple):
    """Every dark-matter fit of several SAEs on the same tokens (``analyze``)."""

    r2: pd.DataFrame
    """Per SAE: L0, FVU, nonlinear FVU, Eq. 2 R² and its baselines, Eq. 3 R², sizes."""
    cross: pd.DataFrame
    """Eq. 5 R² for every ordered pair of SAEs."""
    tokens: pd.DataFrame
    """Per held-out token and SAE: error norm, linear and nonlinear error norms."""


def analyze(
    saes: dict,
    x: torch.Tensor,
    token_ids: np.ndarray,
    test_share: float = 0.4,
    seed: int = 0,
    ridge: float = 1e-6,
) -> Analysis:
    """Every dark-matter fit for several SAEs on the same tokens.

    Returns ``r2`` (per SAE: L0, FVU, nonlinear FVU, Eq. 2 R² and its baselines, Eq. 3 R²,
    sizes), ``cross`` (Eq. 5 R² for every ordered pair) and ``tokens`` (per held-out token
    and SAE: error norm, linear and nonlinear error norms).
    """
    train, test = train_test(len(x), test_share, seed)
    rows, errors, token_rows = [], {}, []
    for name, sae in saes.items():
        x_hat, l0 = reconstruct(sae, x)
        errors[name] = (x - x_hat).norm(dim=-1)
        norm_fits = norm_prediction(x, x_hat, l0, token_ids, train, test, ridge)
        vec = vector_prediction(x, x_hat, train, test, ridge)
        rows.append(
            {
                "sae": name,
                "l0": float(l0.double().mean()),
                "fvu": vec.fvu,
                "nonlinear_fvu": vec.nonlinear_fvu,
                "linear_fvu": vec.fvu - vec.nonlinear_fvu,
                "r2_error_vector": vec.fit.r2,
                **{f"r2_norm_from_{k}": f.r2 for k, f in norm_fits.items()},
                "n_train": len(train),
                "n_test": len(test),
            }
        )
        token_rows.append(
            pd.DataFrame(
                {
                    "sae": name,
                    "token_index": test,
                    "error_norm": errors[name][test].cpu().numpy(),
                    "linear_norm": vec.linear_norm,
                    "nonlinear_norm": vec.nonlinear_norm,
                }
            )
        )
    cross = [
        {
            "from": a,
            "to": b,
            "r2": cross_prediction(errors[a], errors[b], train, test).r2,
            "n_train": len(train),
            "n_test": len(test),
        }
        for a in saes
        for b in saes
        if a != b
    ]
    return Analysis(
        pd.DataFrame(rows),
        pd.DataFrame(cross, columns=["from", "to", "r2", "n_train", "n_test"]),
        pd.concat(token_rows, ignore_index=True),
    )


def error_by(norms: pd.DataFrame, groups: np.ndarray, column: str) -> pd.DataFrame:
    """Per SAE and token group (``groups[token_index]``, named ``column``): tokens, mean squared
    error ``||e||²`` and mean relative error ``||e|| / ||x||``."""
    frame = norms.assign(
        **{column: groups[norms.token_index.to_numpy()]}, squared_error=norms.error_norm**2
    )
    return frame.groupby(["sae", column], as_index=False, sort=False).agg(
        tokens=("relative_error", "size"),
        mean_squared_error=("squared_error", "mean"),
        mean_relative_error=("relative_error", "mean"),
    )


def concept_buckets(labels: np.ndarray, concepts: pd.DataFrame) -> np.ndarray:
    """Demo world: each token's concept-frequency bucket (head ... rare), or "no concept"."""
    bucket = pd.Series(concepts.bucket.to_numpy(), index=concepts.concept_id.to_numpy())
    return np.where(labels >= 0, bucket.reindex(labels).to_numpy(), "no concept")


def error_by_concept_bucket(
    norms: pd.DataFrame, labels: np.ndarray, concepts: pd.DataFrame
) -> pd.DataFrame:
    """Demo world: error per SAE on tokens of head vs tail concepts (and no concept), buckets from
    the most frequent concepts' to the rarest's."""
    table = error_by(norms, concept_buckets(labels, concepts), "bucket")
    order = concepts.sort_values("per_million", ascending=False).bucket.drop_duplicates()
    rank = {b: i for i, b in enumerate([*order, "no concept"])}
    return table.sort_values("bucket", key=lambda b: b.map(rank), kind="stable", ignore_index=True)


def error_by_frequency(norms: pd.DataFrame, token_ids: np.ndarray) -> pd.DataFrame:
    """Error per SAE by how often each token occurs in these tokens (``tail.frequency_buckets``:
    log-spaced count buckets, 0 = rarest; ``lo``-``hi`` the count range): does a tilt help the
    rare tokens?"""
    freq = tail.frequency_buckets(token_ids).set_index("token")
    table = error_by(norms, freq.bucket.reindex(token_ids).to_numpy(), "bucket")
    edges = freq.drop_duplicates("bucket").set_index("bucket")[["lo", "hi"]]
    return table.join(edges, on="bucket").sort_values(["sae", "bucket"], ignore_index=True)


def first_labels(labels: Sequence[np.ndarray], acts: TokenActivations, n_ctx: int) -> np.ndarray:
    """Per-token labels of a split's documents (e.g. the demo world's concepts, one per token)
    aligned with the rows of its ``first_tokens``."""
    firsts = labels[: acts.n_docs]
    counts = kept_counts(firsts, n_ctx)
    out = np.concatenate([np.asarray(lab[:c]) for lab, c in zip(firsts, counts)])
    if len(out) != len(acts.x):
        raise ValueError(f"{len(out)} labels for {len(acts.x)} tokens: not this split's labels.")
    return out


class TokenActivations(NamedTuple):
    """Activations at the base's hook of the first documents of a split, one row per token."""

    x: torch.Tensor
    token_ids: np.ndarray
    n_docs: int
    """How many documents (from the first) the rows cover."""


def first_tokens(base: Base, docs: Sequence[np.ndarray], max_tokens: int) -> TokenActivations:
    """The activations of the first documents that together hold at most ``max_tokens``
    encoded tokens (at least one document)."""
    n_ctx = base.model.cfg.n_ctx
    n_docs = max(1, int((kept_counts(docs, n_ctx).cumsum() <= max_tokens).sum()))
    docs = list(docs[:n_docs])
    tok = base.tokenizer
    x, _, _ = collect(base.model, base.hook_name, docs, tok.bos_token_id, pad_id(tok))
    return TokenActivations(x, kept_tokens(docs, n_ctx), n_docs)


@dataclass
class SplitErrors:
    """The dark-matter analysis of several SAEs on one set of tokens, as tables to show."""

    analysis: Analysis
    norms: pd.DataFrame
    """Per token and SAE: error norm and relative error (``error_norms``)."""
    words: list[str]
    """Each token as text, in row order."""
    tables: dict[str, pd.DataFrame]
    """Titled tables: R², cross-SAE R², fixed / broken tokens, error by concept bucket."""


R2_TITLE = "R² of the dark-matter fits (held-out tokens)"
CROSS_TITLE = "Per-token error norm of one SAE predicted from another's (Eq. 5)"
FIXED_TITLE = "Tokens each SAE fixed or broke most vs the GSAE"
BUCKET_TITLE = "Relative error by concept frequency (demo ground truth)"


def split_errors(
    saes: dict,
    acts: TokenActivations,
    words: list[str],
    labels: np.ndarray | None = None,
    concepts: pd.DataFrame | None = None,
    baseline: str = "GSAE",
) -> SplitErrors:
    """``analyze`` plus per-token error norms, the tokens each SAE fixed or broke against
    ``baseline``, and (with per-token concept ``labels``) error by concept-frequency bucket."""
    result = analyze(saes, acts.x, acts.token_ids)
    norms = error_norms(saes, acts.x)
    tables = {R2_TITLE: result.r2, CROSS_TITLE: result.cross}
    if baseline in saes and len(saes) > 1:
        tables[FIXED_TITLE] = fixed_and_broken(norms, words, baseline)
    if labels is not None and concepts is not None:
        tables[BUCKET_TITLE] = error_by_concept_bucket(norms, labels, concepts)
    return SplitErrors(result, norms, words, tables)
