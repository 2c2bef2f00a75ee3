"""A Feast file registry that is replaced, never rewritten in place.

Feast's FileRegistryStore truncates ``registry.db`` and writes it again; a lookup that
reads it meanwhile (a notebook, ``features get``, the feature server) sees a partial
file and fails. Writing a sibling file and renaming it over the registry makes every
reader see one whole version. Named in ``features/feature_store.yaml``.
"""

from __future__ import annotations

import os
import uuid

from feast.infra.registry.file import FileRegistryStore
from feast.utils import _utc_now


class AtomicFileRegistryStore(FileRegistryStore):
    def _write_registry(self, registry_proto) -> None:
        registry_proto.version_id = str(uuid.uuid4())
        registry_proto.last_updated.FromDatetime(_utc_now())
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._filepath.with_name(f".{self._filepath.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(registry_proto.SerializeToString())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._filepath)
