"""Chemprop 2 D-MPNN regression of pIC50 from SMILES, on CPU.

BondMessagePassing (directed bond messages, depth 3) → MeanAggregation → RegressionFFN,
trained with Lightning on CPU with a fixed seed, no logger, no checkpoint files and no
progress bars. The target is standardized (``normalize_targets``; the network un-scales its
output at inference). Censored labels (pIC50 only known to be ≤ the floor of the measurable
range) use chemprop's bounded MSE: a prediction below a censored floor costs nothing, one
above it is penalized like an ordinary residual. Early stopping on an inner validation split
(``val_fraction`` of rows, by seed) keeps the best epoch's weights (held in memory, never
written). ``to_bytes`` / ``from_bytes`` carry the state_dict, the target scaler and the
config (torch.save, loaded with ``weights_only=True``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

__all__ = ["ChempropConfig", "ChempropRegressor", "predict_ensemble"]


@dataclass
class ChempropConfig:
    """Bounded for a 2-core refresh: small hidden size, ≤ 30 epochs with early stopping."""

    depth: int = 3
    hidden: int = 200
    ffn_hidden: int = 200
    ffn_layers: int = 1
    dropout: float = 0.0
    batch_size: int = 64
    max_epochs: int = 30
    patience: int = 5
    val_fraction: float = 0.15
    threads: int = 2
    warmup_epochs: int = 2


def _quiet():
    """Silence Lightning's banners (GPU/TPU available, model summary, tips)."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*GPU available.*")


def _datapoints(smiles: list[str], y: np.ndarray | None = None, censored: np.ndarray | None = None,
                weights: np.ndarray | None = None):
    from chemprop import data
    from rdkit import Chem

    points, keep = [], []
    for i, smi in enumerate(smiles):
        # an RDKit Mol is used as it is (parsed once for every fold); a string is parsed
        mol = smi if isinstance(smi, Chem.Mol) else (Chem.MolFromSmiles(smi) if smi else None)
        if mol is None or mol.GetNumAtoms() == 0:
            continue
        kwargs = {}
        if y is not None:
            kwargs["y"] = np.array([y[i]], dtype=np.float32)
            lt = bool(censored[i]) if censored is not None else False
            kwargs["lt_mask"] = np.array([lt])
            kwargs["gt_mask"] = np.array([False])
            kwargs["weight"] = float(weights[i]) if weights is not None else 1.0
        points.append(data.MoleculeDatapoint(mol=mol, **kwargs))
        keep.append(i)
    return points, np.array(keep, dtype=np.int64)


def _network(cfg: ChempropConfig, mean: float = 0.0, scale: float = 1.0):
    from chemprop import models, nn

    mp = nn.BondMessagePassing(d_h=cfg.hidden, depth=cfg.depth, dropout=cfg.dropout)
    transform = nn.UnscaleTransform(np.array([mean]), np.array([scale]))
    ffn = nn.RegressionFFN(input_dim=mp.output_dim, hidden_dim=cfg.ffn_hidden, n_layers=cfg.ffn_layers,
                           dropout=cfg.dropout, criterion=nn.metrics.BoundedMSE(),
                           output_transform=transform)
    return models.MPNN(mp, nn.MeanAggregation(), ffn, batch_norm=False,
                       metrics=[nn.metrics.BoundedMSE()], warmup_epochs=cfg.warmup_epochs)


@dataclass
class ChempropRegressor:
    """``fit(smiles, y, censored)`` then ``predict(smiles)`` (pIC50; NaN for unparsable SMILES).
    Either method also takes RDKit Mol objects instead of SMILES."""

    config: ChempropConfig = field(default_factory=ChempropConfig)
    seed: int = 0
    y_mean: float = 0.0
    y_scale: float = 1.0
    best_epoch: int = 0
    net: object | None = None

    def fit(self, smiles: list[str], y: np.ndarray, censored: np.ndarray | None = None,
            sample_weight: np.ndarray | None = None) -> ChempropRegressor:
        import lightning.pytorch as pl_
        from chemprop import data

        _quiet()
        torch.set_num_threads(self.config.threads)
        pl_.seed_everything(self.seed, workers=True, verbose=False)
        y = np.asarray(y, dtype=np.float64)
        points, keep = _datapoints(list(smiles), y, censored, sample_weight)
        if len(points) < 4:
            raise ValueError(f"need at least 4 parsable molecules to train, got {len(points)}")
        rng = np.random.default_rng(self.seed)
        n_val = max(1, int(round(self.config.val_fraction * len(points))))
        val_idx = set(rng.choice(len(points), size=n_val, replace=False).tolist())
        train = data.MoleculeDataset([p for i, p in enumerate(points) if i not in val_idx])
        val = data.MoleculeDataset([p for i, p in enumerate(points) if i in val_idx])
        train.cache, val.cache = True, True  # featurize each molecule once, not every epoch
        scaler = train.normalize_targets()
        val.normalize_targets(scaler)
        self.y_mean, self.y_scale = float(scaler.mean_[0]), float(scaler.scale_[0])
        net = _network(self.config, self.y_mean, self.y_scale)
        best = _KeepBest()
        trainer = pl_.Trainer(
            accelerator="cpu", devices=1, max_epochs=self.config.max_epochs, logger=False,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
            deterministic=True, default_root_dir=None, num_sanity_val_steps=0,
            callbacks=[best, pl_.callbacks.EarlyStopping("val_loss", patience=self.config.patience,
                                                         mode="min")])
        loader = data.build_dataloader(train, batch_size=self.config.batch_size, num_workers=0,
                                       seed=self.seed, shuffle=True)
        val_loader = data.build_dataloader(val, batch_size=self.config.batch_size, num_workers=0,
                                           shuffle=False)
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), \
                contextlib.redirect_stderr(sink):
            trainer.fit(net, loader, val_loader)
        if best.state is not None:
            net.load_state_dict(best.state)
            self.best_epoch = best.epoch + 1
        net.eval()
        self.net = net
        return self

    def predict(self, smiles: list, batch_size: int = 256) -> np.ndarray:
        """Predicted pIC50 per SMILES (float64); NaN where RDKit cannot parse it."""
        return predict_ensemble([self], smiles, batch_size)[0]

    def to_bytes(self) -> bytes:
        if self.net is None:
            raise ValueError("Chemprop model is not fitted")
        buf = io.BytesIO()
        torch.save({"config": asdict(self.config), "seed": self.seed, "y_mean": self.y_mean,
                    "y_scale": self.y_scale, "best_epoch": self.best_epoch,
                    "state_dict": self.net.state_dict()}, buf)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, raw: bytes) -> ChempropRegressor:
        _quiet()
        d = torch.load(io.BytesIO(raw), weights_only=True)
        cfg = ChempropConfig(**d["config"])
        model = cls(config=cfg, seed=int(d["seed"]), y_mean=float(d["y_mean"]),
                    y_scale=float(d["y_scale"]), best_epoch=int(d["best_epoch"]))
        net = _network(cfg, model.y_mean, model.y_scale)
        net.load_state_dict(d["state_dict"])
        net.eval()
        model.net = net
        return model


def predict_ensemble(models: list[ChempropRegressor], smiles: list, batch_size: int = 256) -> np.ndarray:
    """(len(models), len(smiles)) predicted pIC50: each molecule is parsed and featurized once
    for every model; NaN where RDKit cannot parse it."""
    from chemprop import data

    if any(m.net is None for m in models):
        raise ValueError("Chemprop model is not fitted")
    smiles = list(smiles)
    out = np.full((len(models), len(smiles)), np.nan)
    points, keep = _datapoints(smiles)
    if not points or not models:
        return out
    torch.set_num_threads(models[0].config.threads)
    dataset = data.MoleculeDataset(points)
    dataset.cache = True
    # drop_last=False: chemprop drops a last batch of one molecule by default (batch norm in
    # training), which left a prediction short whenever the parsed molecules % batch_size == 1
    loader = data.build_dataloader(dataset, batch_size=batch_size, num_workers=0, shuffle=False,
                                   drop_last=False)
    for i, model in enumerate(models):
        model.net.eval()
        preds = []
        with torch.inference_mode():
            for batch in loader:
                preds.append(model.net(batch.bmg, batch.V_d, batch.X_d)[:, 0].double().numpy())
        out[i, keep] = np.concatenate(preds)
    return out


class _KeepBest:
    """Lightning callback: the state_dict of the epoch with the lowest val_loss, in memory."""

    def __new__(cls):
        import lightning.pytorch as pl_

        class KeepBest(pl_.Callback):
            def __init__(self):
                self.best, self.state, self.epoch = float("inf"), None, 0

            def on_validation_epoch_end(self, trainer, module):
                val = trainer.callback_metrics.get("val_loss")
                if val is not None and float(val) < self.best - 1e-6:
                    self.best, self.epoch = float(val), trainer.current_epoch
                    self.state = {k: v.detach().clone() for k, v in module.state_dict().items()}

        return KeepBest()
