"""Turn the ranker's margins into the probability that a gene is *the* causal gene.

A per-candidate logistic output is not that probability: it does not know how many other
candidates the patient has, so "0.8" would mean different things in a patient with 40
candidates and one with 400. The calibrated score is a conditional logit over the patient's
candidates plus "none of them" (the causal variant may not be among the candidates at all):

    P(gene g | patient) = exp(t * m_g) / (exp(b) + sum_j exp(t * m_j))

with the margin m from the model, a temperature t and a "none" logit b fitted by maximum
likelihood on held-out (out-of-fold) margins. Scores of a patient sum to at most 1, and a
modality missing for a whole patient (no RNA) shifts every candidate's margin alike, which the
normalisation cancels.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

IDENTITY = {"temperature": 1.0, "none_logit": 0.0, "method": "none"}


def _groups(patient_ids: np.ndarray, values: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """(order that makes each patient's rows contiguous, start of each patient's run).

    With ``values``, rows are ordered by value within a patient, so sums over a patient run
    in the same order whatever order the rows came in (the same candidates must give
    bit-identical scores on every refresh)."""
    order = (np.lexsort((values, patient_ids)) if values is not None
             else np.argsort(patient_ids, kind="stable"))
    sorted_ids = patient_ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    return order, starts


def probabilities(margins: np.ndarray, patient_ids: np.ndarray, calibration: dict) -> np.ndarray:
    """Calibrated P(causal) of every row; rows of a patient sum to < 1."""
    if len(margins) == 0:
        return np.zeros(0)
    t, b = float(calibration["temperature"]), float(calibration["none_logit"])
    order, starts = _groups(np.asarray(patient_ids), np.asarray(margins, dtype=np.float64))
    z = t * np.asarray(margins, dtype=np.float64)[order]
    # log-sum-exp per patient, including the "none" option
    top = np.maximum(np.maximum.reduceat(z, starts), b)
    top_rows = np.repeat(top, np.diff(np.r_[starts, len(z)]))
    denom = np.add.reduceat(np.exp(z - top_rows), starts) + np.exp(b - top)
    p_sorted = np.exp(z - top_rows) / np.repeat(denom, np.diff(np.r_[starts, len(z)]))
    out = np.empty_like(p_sorted)
    out[order] = p_sorted
    return out


def fit(margins: np.ndarray, patient_ids: np.ndarray, is_causal: np.ndarray) -> dict:
    """Temperature and "none" logit by maximum likelihood over solved patients.

    Patients whose causal gene is not among their candidates count for "none". A patient
    with several causal rows (digenic) counts once per causal row.
    """
    margins = np.asarray(margins, dtype=np.float64)
    patient_ids = np.asarray(patient_ids)
    y = np.asarray(is_causal, dtype=bool)
    if len(margins) == 0:
        return dict(IDENTITY)
    order, starts = _groups(patient_ids)
    m, yy = margins[order], y[order]
    sizes = np.diff(np.r_[starts, len(m)])
    n_causal = np.add.reduceat(yy.astype(np.int64), starts)
    causal_margin_sum = np.add.reduceat(np.where(yy, m, 0.0), starts)
    n_none = int((n_causal == 0).sum())

    def nll(theta: np.ndarray) -> float:
        t, b = np.exp(theta[0]), theta[1]
        z = t * m
        top = np.maximum(np.maximum.reduceat(z, starts), b)
        lse = top + np.log(np.add.reduceat(np.exp(z - np.repeat(top, sizes)), starts)
                           + np.exp(b - top))
        ll = t * causal_margin_sum - n_causal * lse
        ll = ll.sum() + n_none * b - lse[n_causal == 0].sum()
        return float(-ll)

    res = minimize(nll, x0=np.array([0.0, 0.0]), method="Nelder-Mead",
                   options={"xatol": 1e-4, "fatol": 1e-6, "maxiter": 2000})
    return {"temperature": float(np.exp(res.x[0])), "none_logit": float(res.x[1]),
            "method": "conditional logit over the patient's candidates + none",
            "n_patients": int(len(starts)), "n_none": n_none}


def report(prob: np.ndarray, label: np.ndarray, patient_ids: np.ndarray, bins: int = 10) -> dict:
    """Brier score, expected calibration error and a reliability table of calibrated scores.

    ``all_candidates`` treats every candidate row as a forecast; ``top1`` only each patient's
    best-scored gene (what a clinician reads first): mean score vs share that were causal.
    """
    prob = np.asarray(prob, dtype=np.float64)
    label = np.asarray(label, dtype=np.float64)
    order, starts = _groups(np.asarray(patient_ids))
    ps, ls = prob[order], label[order]
    best = starts + np.array([np.argmax(ps[a:b]) for a, b in zip(starts, np.r_[starts[1:], len(ps)])],
                             dtype=np.int64) if len(starts) else np.zeros(0, dtype=np.int64)
    return {"all_candidates": _reliability(prob, label, bins),
            "top1": _reliability(ps[best], ls[best], bins)}


def _reliability(p: np.ndarray, y: np.ndarray, bins: int) -> dict:
    if len(p) == 0:
        return {"n": 0, "brier": None, "ece": None, "bins": []}
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    table, ece = [], 0.0
    for k in range(bins):
        sel = which == k
        if not sel.any():
            continue
        conf, acc = float(p[sel].mean()), float(y[sel].mean())
        ece += sel.sum() / len(p) * abs(conf - acc)
        table.append({"bin": f"{edges[k]:.1f}-{edges[k + 1]:.1f}", "n": int(sel.sum()),
                      "mean_score": round(conf, 4), "observed_rate": round(acc, 4)})
    return {"n": int(len(p)), "brier": float(np.mean((p - y) ** 2)), "ece": float(ece),
            "bins": table}
