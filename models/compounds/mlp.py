"""A small PyTorch MLP for compound classification (active/inactive) or regression (logS).

input → 256 → 64 → 1 with ReLU and dropout, AdamW, early stopping on an inner validation split
(best epoch's weights kept), fixed seeds and 2 CPU threads. Classification uses
BCEWithLogits with ``pos_weight`` = n_neg/n_pos so rare actives are not ignored; regression
uses MSE on a standardized target.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["MLPConfig", "MLP"]


@dataclass
class MLPConfig:
    """Training hyper-parameters; the defaults fit ~2.6k × 2k features in seconds on 2 cores."""

    hidden: tuple[int, ...] = (256, 64)
    dropout: float = 0.25
    lr: float = 1e-3
    weight_decay: float = 1e-2
    batch_size: int = 128
    max_epochs: int = 40
    patience: int = 5
    val_fraction: float = 0.15
    max_pos_weight: float = 100.0
    threads: int = 2


def _network(n_in: int, cfg: MLPConfig) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = n_in
    for h in cfg.hidden:
        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(cfg.dropout)]
        width = h
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


@dataclass
class MLP:
    """Scaler + network. ``fit`` then ``predict_proba`` (classification) or ``predict`` (both tasks)."""

    task: str = "classification"  # "classification" | "regression"
    config: MLPConfig = field(default_factory=MLPConfig)
    seed: int = 0
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None
    y_mean: float = 0.0
    y_scale: float = 1.0
    best_epoch: int = 0
    net: nn.Sequential | None = None

    def __post_init__(self) -> None:
        if self.task not in ("classification", "regression"):
            raise ValueError(f"task must be 'classification' or 'regression', got {self.task!r}")

    def fit(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> MLP:
        """Train on (x, y); holds out ``val_fraction`` of rows (stratified for classification) to stop early."""
        torch.set_num_threads(self.config.threads)
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        x = np.asarray(x, dtype=np.float32)
        y = np.asarray(y, dtype=np.float32).ravel()
        w = np.ones_like(y) if sample_weight is None else np.asarray(sample_weight, dtype=np.float32).ravel()
        if x.shape[0] != y.size or w.size != y.size:
            raise ValueError("x, y and sample_weight must have the same number of rows")
        if y.size < 4:
            raise ValueError(f"need at least 4 rows to train, got {y.size}")

        self._fit_scaler(x)
        xs = self._scale(x)
        if self.task == "regression":
            self.y_mean, self.y_scale = float(y.mean()), float(y.std()) or 1.0
            target = (y - self.y_mean) / self.y_scale
            loss_fn = nn.MSELoss(reduction="none")
        else:
            n_pos = float(y.sum())
            pos_weight = min((y.size - n_pos) / max(n_pos, 1.0), self.config.max_pos_weight)
            target = y
            loss_fn = nn.BCEWithLogitsLoss(reduction="none", pos_weight=torch.tensor(max(pos_weight, 1e-3)))

        tr, va = self._split(y, rng)
        xt, yt, wt = (torch.from_numpy(a[tr]) for a in (xs, target, w))
        xv, yv, wv = (torch.from_numpy(a[va]) for a in (xs, target, w))
        net = _network(x.shape[1], self.config)
        opt = torch.optim.AdamW(net.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay)

        best, best_state, since = np.inf, None, 0
        for epoch in range(self.config.max_epochs):
            net.train()
            order = torch.from_numpy(rng.permutation(len(tr)))
            for start in range(0, len(tr), self.config.batch_size):
                idx = order[start:start + self.config.batch_size]
                opt.zero_grad()
                loss = (loss_fn(net(xt[idx]).squeeze(1), yt[idx]) * wt[idx]).sum() / wt[idx].sum()
                loss.backward()
                opt.step()
            net.eval()
            with torch.no_grad():
                val = float((loss_fn(net(xv).squeeze(1), yv) * wv).sum() / wv.sum())
            if val < best - 1e-6:
                best, since, self.best_epoch = val, 0, epoch + 1
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                since += 1
                if since >= self.config.patience:
                    break
        net.load_state_dict(best_state)
        net.eval()
        self.net = net
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(active) for classification, the prediction in target units for regression (float64)."""
        if self.net is None:
            raise ValueError("MLP is not fitted")
        torch.set_num_threads(self.config.threads)
        with torch.no_grad():
            out = self.net(torch.from_numpy(self._scale(np.asarray(x, dtype=np.float32)))).squeeze(1)
        if self.task == "classification":
            return torch.sigmoid(out).double().numpy()
        return out.double().numpy() * self.y_scale + self.y_mean

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """P(active) per row (classification only)."""
        if self.task != "classification":
            raise ValueError("predict_proba is for classification MLPs")
        return self.predict(x)

    def to_bytes(self) -> bytes:
        """Serialized state_dict + scaler + config (torch.save; loads with weights_only=True)."""
        if self.net is None:
            raise ValueError("MLP is not fitted")
        buf = io.BytesIO()
        torch.save({
            "task": self.task, "seed": self.seed, "config": asdict(self.config),
            "mean": torch.from_numpy(self.mean), "scale": torch.from_numpy(self.scale),
            "y_mean": self.y_mean, "y_scale": self.y_scale, "best_epoch": self.best_epoch,
            "n_features": int(self.mean.size), "state_dict": self.net.state_dict(),
        }, buf)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, raw: bytes) -> MLP:
        """Inverse of ``to_bytes``."""
        d = torch.load(io.BytesIO(raw), weights_only=True)
        cfg = MLPConfig(**{**d["config"], "hidden": tuple(d["config"]["hidden"])})
        model = cls(task=d["task"], config=cfg, seed=int(d["seed"]), mean=d["mean"].numpy(),
                    scale=d["scale"].numpy(), y_mean=float(d["y_mean"]), y_scale=float(d["y_scale"]),
                    best_epoch=int(d["best_epoch"]))
        model.net = _network(int(d["n_features"]), cfg)
        model.net.load_state_dict(d["state_dict"])
        model.net.eval()
        return model

    def save(self, path: Path) -> None:
        """Write ``to_bytes`` to ``path`` (a .pt file)."""
        Path(path).write_bytes(self.to_bytes())

    @classmethod
    def load(cls, path: Path) -> MLP:
        """Read a file written by ``save``."""
        return cls.from_bytes(Path(path).read_bytes())

    def _fit_scaler(self, x: np.ndarray) -> None:
        # 0/1 columns (fingerprint bits) stay as they are: standardizing a bit set in 1 of 2,600
        # rows would turn it into a value near 50 and let that one row dominate.
        mean = x.mean(axis=0)
        scale = x.std(axis=0)
        binary = np.all((x == 0) | (x == 1), axis=0)
        mean[binary], scale[binary] = 0.0, 1.0
        scale[scale == 0] = 1.0
        self.mean, self.scale = mean.astype(np.float32), scale.astype(np.float32)

    def _scale(self, x: np.ndarray) -> np.ndarray:
        if x.shape[1] != self.mean.size:
            raise ValueError(f"expected {self.mean.size} features, got {x.shape[1]}")
        return np.ascontiguousarray((x - self.mean) / self.scale, dtype=np.float32)

    def _split(self, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        n = y.size
        n_val = max(1, int(round(self.config.val_fraction * n)))
        if self.task == "classification" and 0 < y.sum() < n:
            # stratified: validation keeps the class balance (at least one of each where possible)
            val = []
            for cls_rows in (np.nonzero(y == 1)[0], np.nonzero(y == 0)[0]):
                k = max(1, int(round(self.config.val_fraction * cls_rows.size))) if cls_rows.size > 1 else 0
                val.append(rng.choice(cls_rows, size=k, replace=False))
            va = np.sort(np.concatenate(val))
        else:
            va = np.sort(rng.choice(n, size=n_val, replace=False))
        tr = np.setdiff1d(np.arange(n), va)
        return tr, va
