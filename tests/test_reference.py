"""The reference layer reuses its phenotype index only for the exact same HPO files."""

import os
import shutil

from models.phenotype import PhenotypeIndex
from orchestration.assets import reference
from orchestration.settings import hpo_release_dir


def test_phenotype_index_is_rebuilt_when_a_release_file_changes(tmp_path, monkeypatch):
    release = tmp_path / "hpo"
    release.mkdir()
    for name in reference.RELEASE_FILES:
        shutil.copy2(hpo_release_dir() / name, release / name)
    builds = []
    original = PhenotypeIndex.build.__func__
    monkeypatch.setattr(PhenotypeIndex, "build",
                        classmethod(lambda cls, d=None: builds.append(d) or original(cls, d)))
    cache = tmp_path / "reference"
    cache.mkdir()

    reference._phenotype_index(cache, str(release))
    reference._phenotype_index(cache, str(release))
    assert len(builds) == 1, "an unchanged release must be loaded from the cache"

    annotations = release / "phenotype.hpoa"
    os.utime(annotations, ns=(annotations.stat().st_atime_ns, annotations.stat().st_mtime_ns + 10**9))
    reference._phenotype_index(cache, str(release))
    assert len(builds) == 2, "new annotations with the same ontology version must rebuild"
