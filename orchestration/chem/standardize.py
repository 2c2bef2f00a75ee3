"""Turn a submitted structure into one canonical parent structure, or say why not.

The parent is what compounds are joined on across libraries: sanitized, cleaned up
(RDKit's normalizations, metal disconnection), reduced to the largest organic fragment
and neutralized, written as canonical isomeric SMILES with its InChIKey.
"""

from __future__ import annotations

from dataclasses import dataclass

from rdkit import Chem, RDLogger, rdBase
from rdkit.Chem.MolStandardize import rdMolStandardize

# RDKit logs every parse problem to stderr; reasons are captured per call instead.
RDLogger.DisableLog("rdApp.*")


class StructureError(Exception):
    """A structure that cannot be parsed or standardized; the message says why."""


@dataclass(frozen=True)
class Standardized:
    smiles: str
    inchikey: str
    notes: tuple[str, ...] = ()


_TOOLS: dict[str, object] = {}


def _tools() -> dict[str, object]:
    # Built once per process: constructing these parses their pattern tables.
    if not _TOOLS:
        _TOOLS["chooser"] = rdMolStandardize.LargestFragmentChooser(preferOrganic=True)
        _TOOLS["uncharger"] = rdMolStandardize.Uncharger()
    return _TOOLS


def _log_reason(messages: str) -> str:
    """The most telling line of captured RDKit error output, without timestamps."""
    lines = []
    for raw in messages.splitlines():
        line = raw.split("] ", 1)[1] if raw.startswith("[") and "] " in raw else raw
        line = line.strip()
        # The caret/echo lines of SMILES errors add nothing to a one-line reason.
        if line and not set(line) <= set("~^ ") and "check for mistakes" not in line:
            lines.append(line)
    return lines[0] if lines else ""


def _captured(capture) -> str:
    """The captured RDKit log; RDKit echoes input cut at a byte count, which can split a
    multi-byte character, so the log is not always valid UTF-8."""
    try:
        return capture.messages
    except UnicodeDecodeError:
        return ""


def parse_smiles(smi: str) -> Chem.Mol:
    """Parse SMILES without sanitizing; StructureError with RDKit's reason when unparseable."""
    text = (smi or "").strip()
    if not text:
        raise StructureError("empty SMILES")
    with rdBase.CaptureErrorLog() as capture:
        mol = Chem.MolFromSmiles(text, sanitize=False)
    if mol is None:
        reason = _log_reason(_captured(capture))
        raise StructureError(f"unparseable SMILES {text!r}" + (f": {reason}" if reason else ""))
    return mol


def parse_molblock(block: str) -> Chem.Mol:
    """Parse a V2000/V3000 molblock without sanitizing; StructureError with RDKit's reason."""
    with rdBase.CaptureErrorLog() as capture:
        mol = Chem.MolFromMolBlock(block, sanitize=False, removeHs=False)
    if mol is None:
        reason = _log_reason(_captured(capture))
        raise StructureError("unparseable molfile" + (f": {reason}" if reason else ""))
    return mol


def standardize_mol(mol: Chem.Mol) -> Standardized:
    """Sanitize, clean up, keep the largest organic fragment and neutralize one molecule."""
    if mol is None:
        raise StructureError("no molecule")
    if mol.GetNumAtoms() == 0:
        raise StructureError("molecule has no atoms")
    mol = Chem.Mol(mol)
    with rdBase.CaptureErrorLog():
        try:
            Chem.SanitizeMol(mol)
        except Exception as exc:  # RDKit raises several sanitization exception types
            raise StructureError(str(exc).strip() or type(exc).__name__) from None
        tools = _tools()
        notes: list[str] = []
        try:
            # Explicit hydrogens (3D SDF records) are not a change worth a note.
            before = Chem.MolToSmiles(Chem.RemoveHs(mol, sanitize=False))
            n_frags = len(Chem.GetMolFrags(mol))
            mol = rdMolStandardize.Cleanup(mol)
            after = Chem.MolToSmiles(mol)
            if after != before:
                notes.append("disconnected metals" if len(Chem.GetMolFrags(mol)) > n_frags
                             else "normalized functional groups")
            frags = after.split(".")
            if len(frags) > 1:
                mol = tools["chooser"].choose(mol)
                kept = Chem.MolToSmiles(mol)
                removed = list(frags)
                if kept in removed:
                    removed.remove(kept)
                notes.append(f"kept largest organic fragment (removed: {', '.join(removed)})")
                after = kept
            charged = any(a.GetFormalCharge() for a in mol.GetAtoms())
            if charged:
                mol = tools["uncharger"].uncharge(mol)
                neutral = Chem.MolToSmiles(mol)
                if neutral != after:
                    notes.append("neutralized charges")
                after = neutral
            smiles = after
            inchikey = Chem.MolToInchiKey(mol)
        except Exception as exc:
            reason = str(exc).strip() or type(exc).__name__
            raise StructureError(f"standardization failed: {reason}") from None
    if not smiles:
        raise StructureError("standardization left no atoms")
    if not inchikey:
        raise StructureError(f"no InChIKey could be generated for {smiles!r}")
    return Standardized(smiles=smiles, inchikey=inchikey, notes=tuple(notes))


def standardize_smiles(smi: str) -> Standardized:
    """Parse and standardize one SMILES string; StructureError says why when it cannot."""
    return standardize_mol(parse_smiles(smi))
