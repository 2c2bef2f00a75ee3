"""The lake on S3-compatible object storage (issue 15; lake/objectstore.py), against a moto
S3 server these tests start on 127.0.0.1 and stop afterwards. The endpoint, region,
addressing style and credentials are set the way a user would set them for MinIO or Ceph
(AWS_* variables, ORPHANLAKE_S3_ADDRESSING_STYLE); the code under test knows nothing of
moto. Opt-in (``make scale``): the whole refresh runs once against the server."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.scale

moto_server = pytest.importorskip("moto.server")
pytest.importorskip("s3fs")

BUCKET = "orphanlake-test"
URI = f"s3://{BUCKET}/lake"
PATIENTS = 20
SEED = 5


def _aws_env(endpoint: str, workdir: Path, config_dir: Path) -> dict[str, str]:
    """What a user sets for an S3-compatible store (no ~/.aws of the machine's leaks in)."""
    (config_dir / "config").write_text("")
    (config_dir / "credentials").write_text("")
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "orphanlake-test", "AWS_SECRET_ACCESS_KEY": "orphanlake-test-secret",
            "AWS_CONFIG_FILE": str(config_dir / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(config_dir / "credentials"),
            "ORPHANLAKE_S3_ADDRESSING_STYLE": "path", "ORPHANLAKE_S3_CONNECT_TIMEOUT": "2",
            "ORPHANLAKE_S3_ATTEMPTS": "2", "ORPHANLAKE_WORKDIR": str(workdir)}


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A moto S3 server on 127.0.0.1 (a free port), the environment pointing at it, and a
    bucket; stopped when the module's tests are done."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)     # no line per request
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    root = tmp_path_factory.mktemp("objectstore")
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
            mp.delenv(name, raising=False)
        for name, value in _aws_env(f"http://{host}:{port}", root / "work", root).items():
            mp.setenv(name, value)
        import s3fs

        fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
        fs.mkdir(BUCKET)
        yield {"fs": fs, "root": root, "endpoint": f"http://{host}:{port}"}
    server.stop()


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    """A small simulated batch's landing files (patients and a screening campaign), as an
    instrument would drop them."""
    from orchestration.simulate import generate_batch, screening_target
    from orchestration.simulate.screening import generate_screening

    home = tmp_path_factory.mktemp("generated") / "lake"
    summary = generate_batch(home, n_patients=PATIENTS, seed=SEED, background_variants=3_000,
                             with_bad_files=False)
    generate_screening(home, seed=SEED, target_gene=screening_target(Path(summary["truth_path"])),
                       with_bad_files=False)
    return home / "landing"


def _upload_landing(fs, landing: Path) -> int:
    files = sorted(p for p in landing.rglob("*") if p.is_file())
    fs.put([str(p) for p in files],
           [f"{BUCKET}/lake/landing/{p.relative_to(landing).as_posix()}" for p in files])
    return len(files)


def _cli(*argv: str) -> int:
    from orchestration.cli import main

    return main(list(argv))


def _pointer(fs) -> dict:
    return json.loads(fs.cat_file(f"{BUCKET}/lake/_publication.json"))


def _read_all(con, views: list[str]) -> dict[str, list]:
    """Every row of each view, sorted (a view's row order is not part of its meaning)."""
    out = {}
    for v in views:
        rows = con.sql(f'select * from "{v}"').fetchall()
        out[v] = sorted((tuple(map(repr, r)) for r in rows))
    return out


def _tiny_refresh(paths, marker: str = "") -> int:
    """The cheap part of a refresh that publishes: a raw table, an evidence file, the
    catalog (the fault tests exercise pull and push, not Dagster)."""
    import polars as pl

    from orchestration.lake.catalog import publish_catalog

    batch = paths.raw_table("patients") / "b1"
    batch.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"patient_id": ["P1", "P2", "P3"]}).write_parquet(batch / "p.parquet")
    pl.DataFrame({"gene_symbol": ["A", "B"], "score": [1.0, 2.0]}).write_parquet(
        paths.evidence_file("gene_scores"))
    for i in range(4 if marker else 0):
        (paths.models / f"{marker}-{i}.txt").write_text(f"{marker} {i} {time.time()}")
    publish_catalog(paths)
    return 0


def _count(uri: str, view: str, capsys) -> int:
    capsys.readouterr()
    assert _cli("--home", uri, "sql", f'select count(*) from "{view}"', "--format", "csv") == 0
    return int(capsys.readouterr().out.splitlines()[1])


@pytest.fixture(scope="module")
def tiny(s3):
    """A small lake published to its own prefix by the cheap refresh."""
    from orchestration.lake.objectstore import refresh_on_object_store, working_copy

    uri = f"s3://{BUCKET}/tiny"
    paths = working_copy(uri)
    paths.ensure()
    assert refresh_on_object_store(uri, paths, _tiny_refresh) == 0
    return uri


def test_the_whole_refresh_on_the_bucket(s3, landing, capsys, monkeypatch, tmp_path):
    """``orphanlake refresh --home s3://…`` on uploaded landing files publishes, through
    the pointer, exactly the lake the refresh built in its working copy; ``orphanlake sql``
    reads it; another machine's working copy pulls it byte for byte; an upload that dies
    half-way publishes nothing and the next refresh recovers."""
    from orchestration.lake import objectstore
    from orchestration.lake.catalog import connect_readonly
    from orchestration.lake.objectstore import (ObjectStore, _synced_files, connect_published,
                                                working_copy)

    fs = s3["fs"]
    n_landing = _upload_landing(fs, landing)
    start = time.monotonic()
    capsys.readouterr()
    assert _cli("--home", URI, "refresh") == 0
    figures = [f"first refresh {time.monotonic() - start:.0f} s"]
    figures += [line for line in capsys.readouterr().err.splitlines() if line.startswith("object store:")]
    pointer = _pointer(fs)
    manifest = json.loads(fs.cat_file(f"{BUCKET}/lake/{pointer['manifest']}"))
    objects = fs.find(f"{BUCKET}/lake/data", detail=True)
    for rel, entry in manifest["files"].items():         # every file is its object
        info = objects[f"{BUCKET}/lake/{entry['key']}"]
        assert info["size"] == entry["size"] and info["ETag"] == entry["etag"], rel
    assert any(rel.startswith("raw/_ledger/") for rel in manifest["files"])
    for key in [f"{BUCKET}/lake/_publication.json", f"{BUCKET}/lake/{pointer['manifest']}"]:
        text = fs.cat_file(key).decode()                # no endpoint, no credentials
        assert s3["endpoint"] not in text and "orphanlake-test-secret" not in text

    # the bucket's publication is the working copy's local refresh, view for view, row for row
    first = working_copy(URI)
    with connect_published(URI) as remote, connect_readonly(first) as local:
        views = sorted(r[0] for r in remote.execute("select view_name from _catalog").fetchall())
        assert views == sorted(r[0] for r in local.execute("select view_name from _catalog").fetchall())
        assert {"raw_patients", "patient_gene_rankings", "plate_qc", "dose_response"} <= set(views)
        assert _read_all(remote, views) == _read_all(local, views)
    assert _count(URI, "raw_patients", capsys) == PATIENTS
    assert _cli("--home", URI, "sql", "copy (select 1) to 'x.parquet'") == 2
    assert _cli("--home", URI, "sql", f"select * from read_parquet('s3://{BUCKET}/lake/landing/**')") == 2

    # another machine: an empty working copy gets every file of the publication
    monkeypatch.setenv("ORPHANLAKE_WORKDIR", str(tmp_path / "other-machine"))
    other = working_copy(URI)
    pulled = ObjectStore(URI).pull(other)
    stamp = pulled.manifest.stamp
    assert pulled.downloaded == len(manifest["files"]) and pulled.landing_downloaded == n_landing
    ours = {p.relative_to(other.home).as_posix() for p in _synced_files(other.home)}
    theirs = {p.relative_to(first.home).as_posix() for p in _synced_files(first.home)}
    assert ours == theirs == set(manifest["files"])
    for rel in sorted(ours):
        assert (other.home / rel).read_bytes() == (first.home / rel).read_bytes(), rel
    raw = next((other.home / "published" / stamp / "raw").rglob("*.parquet"))
    assert raw.samefile(other.home / raw.relative_to(other.home / "published" / stamp))
    monkeypatch.undo()                      # back to this machine's working copy

    # an upload that dies half-way (after a refresh that published): nothing is published
    real_upload = objectstore.upload_files

    def dies_half_way(store, pairs):
        real_upload(store, pairs[: len(pairs) // 2])
        raise objectstore.ObjectStoreError("object store: simulated: the connection dropped")

    def tiny_changes(paths):
        for i in range(4):
            (paths.models / f"unpublished-{i}.txt").write_text(f"{i} {time.time()}")
        from orchestration.lake.catalog import publish_catalog
        publish_catalog(paths)
        return 0

    monkeypatch.setattr(objectstore, "upload_files", dies_half_way)
    with pytest.raises(objectstore.ObjectStoreError, match="simulated"):
        objectstore.refresh_on_object_store(URI, first, tiny_changes)
    monkeypatch.setattr(objectstore, "upload_files", real_upload)
    assert _pointer(fs) == pointer
    assert any("unpublished-" in k for k in fs.find(f"{BUCKET}/lake/data"))
    assert _count(URI, "raw_patients", capsys) == PATIENTS

    # the next refresh (the real one) starts from the last good publication and publishes
    start = time.monotonic()
    capsys.readouterr()
    assert _cli("--home", URI, "refresh") == 0
    figures += [f"recovering refresh {time.monotonic() - start:.0f} s"]
    figures += [line for line in capsys.readouterr().err.splitlines() if line.startswith("object store:")]
    with capsys.disabled():             # what the object store cost, beside the refresh
        print("\n" + "\n".join(figures))
    assert not list(first.models.glob("unpublished-*"))
    after = _pointer(fs)
    assert after["stamp"] != pointer["stamp"]
    assert not any("unpublished-" in k for k in fs.find(f"{BUCKET}/lake/data"))
    assert _count(URI, "raw_patients", capsys) == PATIENTS
    with connect_published(URI) as remote, connect_readonly(first) as local:
        assert _read_all(remote, ["patient_gene_rankings", "raw_variants"]) == \
            _read_all(local, ["patient_gene_rankings", "raw_variants"])


def test_keys_that_cannot_be_paths_are_refused(tmp_path):
    from orchestration.lake.objectstore import UnsafeKey, local_path, safe_relpath

    for bad in ["", "/etc/passwd", "a/../../b", "a//b", "./a", "a\\b", "a/\x00b", "a/b\n", ".."]:
        with pytest.raises(UnsafeKey):
            safe_relpath(bad)
    assert local_path(tmp_path, "landing/genomic/b1/p.vcf.gz") == tmp_path / "landing/genomic/b1/p.vcf.gz"
    (tmp_path / "out").symlink_to("/")
    with pytest.raises(UnsafeKey):
        local_path(tmp_path, "out/etc/passwd")


def test_an_unsafe_landing_key_is_not_pulled(s3, tiny):
    """A landing object whose key would leave the working copy is named and skipped."""
    from fsspec.asyn import sync

    from orchestration.lake.objectstore import ObjectStore, working_copy

    fs = s3["fs"]
    # S3 keys may hold "..": written with the low-level client, not s3fs's path handling
    bad = "tiny/landing/genomic/../../../escape.txt"
    sync(fs.loop, fs._call_s3, "put_object", Bucket=BUCKET, Key=bad, Body=b"x")
    fs.pipe(f"{BUCKET}/tiny/landing/genomic/b1/ok.txt", b"fine")
    try:
        paths = working_copy(tiny)
        pulled = ObjectStore(tiny).pull(paths)
        assert any("escape.txt" in line for line in pulled.refused), pulled.refused
        assert not any(p.name == "escape.txt" for p in paths.home.parent.rglob("*"))
        assert (paths.landing / "genomic/b1/ok.txt").read_bytes() == b"fine"
    finally:
        sync(fs.loop, fs._call_s3, "delete_object", Bucket=BUCKET, Key=bad)
        fs.rm(f"{BUCKET}/tiny/landing/genomic/b1/ok.txt")


def test_a_failed_upload_publishes_nothing_and_the_next_refresh_recovers(s3, tiny, monkeypatch,
                                                                         capsys):
    """The upload dies half-way: the pointer still names the previous publication, readers
    see it, and the next refresh (from the last good pointer) publishes and removes what
    the failed one uploaded."""
    from orchestration.lake import objectstore

    fs = s3["fs"]
    before = json.loads(fs.cat_file(f"{BUCKET}/tiny/_publication.json"))
    paths = objectstore.working_copy(tiny)
    real_upload = objectstore.upload_files

    def dies_half_way(store, pairs):
        real_upload(store, pairs[: len(pairs) // 2])
        raise objectstore.ObjectStoreError("object store: simulated: the connection dropped")

    monkeypatch.setattr(objectstore, "upload_files", dies_half_way)
    with pytest.raises(objectstore.ObjectStoreError, match="simulated"):
        objectstore.refresh_on_object_store(tiny, paths, lambda p: _tiny_refresh(p, "failed"))
    assert json.loads(fs.cat_file(f"{BUCKET}/tiny/_publication.json")) == before
    assert any("failed-" in k for k in fs.find(f"{BUCKET}/tiny/data"))
    assert _count(tiny, "raw_patients", capsys) == 3

    monkeypatch.setattr(objectstore, "upload_files", real_upload)
    seen = []

    def next_refresh(p):
        seen.append(sorted(x.name for x in p.models.glob("failed-*")))
        return _tiny_refresh(p, "next")

    assert objectstore.refresh_on_object_store(tiny, paths, next_refresh) == 0
    assert seen == [[]], "the failed refresh's files were not discarded by the pull"
    after = json.loads(fs.cat_file(f"{BUCKET}/tiny/_publication.json"))
    assert after["stamp"] != before["stamp"]
    keys = fs.find(f"{BUCKET}/tiny/data")
    assert not any("failed-" in k for k in keys) and any("next-" in k for k in keys)
    assert len(fs.find(f"{BUCKET}/tiny/publications")) == 2
    assert _count(tiny, "raw_patients", capsys) == 3
    # a refresh that publishes nothing new uploads nothing and keeps the pointer
    assert objectstore.refresh_on_object_store(tiny, paths, lambda p: 0) == 0
    assert json.loads(fs.cat_file(f"{BUCKET}/tiny/_publication.json")) == after


def test_a_push_never_overwrites_another_refreshs_publication(s3, tiny, monkeypatch):
    """Two writers: the one that pulled an older pointer is refused at its push."""
    from orchestration.lake import objectstore

    store = objectstore.ObjectStore(tiny)
    paths = objectstore.working_copy(tiny)
    pulled = store.pull(paths)
    stale = objectstore.Pulled(objectstore.Manifest(stamp="20000101T000000000000Z",
                                                    files=pulled.manifest.files))
    _tiny_refresh(paths, "racing")
    with pytest.raises(objectstore.ObjectStoreError, match="another refresh published"):
        store.push(paths, stale)
    assert store.current().stamp == pulled.manifest.stamp
    # the race the re-read cannot see: the pointer moves between the re-read and the PUT
    # (here: rewritten, same publication, new ETag); the conditional PUT refuses
    pulled = store.pull(paths)
    pointer = store.read_bytes(objectstore.POINTER)
    store.write_bytes(objectstore.POINTER, pointer + b"\n")
    _tiny_refresh(paths, "racing")
    with pytest.raises(objectstore.ObjectStoreError, match="another refresh moved"):
        store.push(paths, pulled)
    assert store.read_bytes(objectstore.POINTER) == pointer + b"\n"
    # and the next refresh publishes
    assert objectstore.refresh_on_object_store(tiny, paths, _tiny_refresh) == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_endpoint_fails_fast_and_says_where(s3, tiny, monkeypatch, capsys):
    endpoint = f"http://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    start = time.monotonic()
    assert _cli("--home", tiny, "refresh") == 2
    err = capsys.readouterr().err
    assert time.monotonic() - start < 30
    assert endpoint in err and BUCKET in err and "unreachable" in err, err


def test_a_missing_bucket_is_named(s3, capsys):
    assert _cli("--home", "s3://no-such-bucket/lake", "refresh") == 2
    err = capsys.readouterr().err
    assert "no-such-bucket" in err and "does not exist" in err and s3["endpoint"] in err, err
    assert _cli("--home", "s3://no-such-bucket/lake", "sql", "select 1") == 2
    assert "does not exist" in capsys.readouterr().err


def test_wrong_credentials_are_refused_with_a_clear_error(s3, tiny, monkeypatch, capsys):
    """moto checks signatures only with its IAM emulation on (a test-side switch; the code
    under test is the same): an unknown access key is refused."""
    from moto.core.authorization import enable_iam_authentication

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with enable_iam_authentication():
        assert _cli("--home", tiny, "refresh") == 2
        err = capsys.readouterr().err
        assert "access denied" in err and BUCKET in err and s3["endpoint"] in err, err
        assert _cli("--home", tiny, "sql", "select 1") == 2
        assert "access denied" in capsys.readouterr().err


def test_commands_that_write_a_local_lake_refuse_an_object_store_home(s3, capsys):
    for argv in (["demo"], ["generate", "--patients", "2"]):
        assert _cli("--home", URI, *argv) == 2
        assert "writes a local lake" in capsys.readouterr().err


def test_a_working_copy_folder_is_never_someone_elses(s3, tmp_path):
    from orchestration.lake.objectstore import ObjectStore, ObjectStoreError
    from orchestration.settings import LakePaths

    own = tmp_path / "mine"
    own.mkdir()
    (own / "thesis.txt").write_text("do not delete")
    with pytest.raises(ObjectStoreError, match="not a working copy"):
        ObjectStore(f"s3://{BUCKET}/mine").pull(LakePaths(own))
    assert (own / "thesis.txt").exists()



def test_a_fresh_working_copy_gets_the_publication_with_its_links(s3, tiny, tmp_path, monkeypatch):
    """Another machine's empty working copy: every file, byte for byte; the publication's raw
    files hard-linked to raw/ as a local publication has them, evidence copied (a writer
    that rewrites it in place must not change the publication)."""
    from orchestration.lake.objectstore import ObjectStore, working_copy

    first = working_copy(tiny)
    monkeypatch.setenv("ORPHANLAKE_WORKDIR", str(tmp_path / "other"))
    other = working_copy(tiny)
    pulled = ObjectStore(tiny).pull(other)
    stamp = pulled.manifest.stamp
    assert pulled.downloaded == len(pulled.manifest.files)
    for rel in pulled.manifest.files:
        assert (other.home / rel).read_bytes() == (first.home / rel).read_bytes(), rel
    pub = other.home / "published" / stamp
    assert (pub / "raw/patients/b1/p.parquet").samefile(other.raw_table("patients") / "b1/p.parquet")
    assert not (pub / "gene_scores.parquet").samefile(other.evidence_file("gene_scores"))
    # pulled again: nothing to download
    again = ObjectStore(tiny).pull(other)
    assert again.downloaded == 0 and again.kept == len(pulled.manifest.files)
