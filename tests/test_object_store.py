"""The lake on S3-compatible object storage (issue 15; lake/objectstore.py), against a moto
S3 server these tests start on 127.0.0.1 and stop afterwards. The endpoint, region,
addressing style and credentials are set the way a user would set them for MinIO or Ceph
(AWS_* variables, ORPHANLAKE_S3_ADDRESSING_STYLE); the code under test knows nothing of
moto. Opt-in (``make scale``): the whole refresh runs once against the server."""

from __future__ import annotations

import json
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


@pytest.fixture(scope="module")
def published(s3, landing, tmp_path_factory):
    """``orphanlake refresh --home s3://…`` after the landing files were uploaded, and a
    local refresh of the same files for comparison."""
    from orchestration.cli import run_refresh
    from orchestration.settings import LakeConfig

    n = _upload_landing(s3["fs"], landing)
    start = time.monotonic()
    code = _cli("--home", URI, "refresh")
    s3_seconds = time.monotonic() - start
    local = LakeConfig(tmp_path_factory.mktemp("local") / "lake").paths.ensure()
    shutil.copytree(landing, local.landing, dirs_exist_ok=True)
    assert run_refresh(local), "the local refresh of the same landing files failed"
    return {"code": code, "files": n, "local": local, "s3_seconds": s3_seconds}


def test_refresh_publishes_to_the_bucket_the_same_lake_as_a_local_refresh(s3, published):
    from orchestration.lake.catalog import connect_readonly
    from orchestration.lake.objectstore import connect_published, working_copy

    assert published["code"] == 0
    fs = s3["fs"]
    pointer = _pointer(fs)
    manifest = json.loads(fs.cat_file(f"{BUCKET}/lake/{pointer['manifest']}"))
    # every file the manifest names is an object of that size, under data/
    objects = {k: v for k, v in fs.find(f"{BUCKET}/lake/data", detail=True).items()}
    for rel, entry in manifest["files"].items():
        info = objects[f"{BUCKET}/lake/{entry['key']}"]
        assert info["size"] == entry["size"] and info["ETag"] == entry["etag"], rel
    assert any(rel.startswith("raw/_ledger/") for rel in manifest["files"])
    # nothing of the endpoint or the credentials is written into the lake
    for key in [f"{BUCKET}/lake/_publication.json", f"{BUCKET}/lake/{pointer['manifest']}"]:
        text = fs.cat_file(key).decode()
        assert s3["endpoint"] not in text and "orphanlake-test-secret" not in text
    assert not (working_copy(URI).home / "landing").samefile(published["local"].landing)

    with connect_published(URI) as remote, connect_readonly(published["local"]) as local:
        remote_views = sorted(r[0] for r in remote.execute("select view_name from _catalog").fetchall())
        local_views = sorted(r[0] for r in local.execute("select view_name from _catalog").fetchall())
        assert remote_views == local_views
        for v in remote_views:
            assert (remote.sql(f'select count(*) from "{v}"').fetchone()
                    == local.sql(f'select count(*) from "{v}"').fetchone()), v
        # the data: the raw layer, the marts and evidence that do not depend on training runs
        exact = [v for v in remote_views if v.startswith("raw_") and v != "raw_quarantine"]
        exact += [v for v in ("plate_qc", "dose_response", "patient_phenotype_summary",
                              "variant_consequences") if v in remote_views]
        assert _read_all(remote, exact) == _read_all(local, exact)
        top = ("select patient_id, gene_symbol, rank from patient_gene_rankings "
               "where rank <= 3 order by all")
        if "patient_gene_rankings" in remote_views:
            assert remote.sql(top).fetchall() == local.sql(top).fetchall()


def test_sql_reads_the_published_lake(s3, published, capsys):
    assert published["code"] == 0
    capsys.readouterr()
    assert _cli("--home", URI, "sql", "select count(*) as n from raw_patients", "--format", "csv") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "n" and int(out[1]) == PATIENTS
    # the read path is read-only and confined to the lake's objects
    assert _cli("--home", URI, "sql", "copy (select 1) to 'x.parquet'") == 2
    assert _cli("--home", URI, "sql",
                f"select * from read_parquet('s3://{BUCKET}/lake/landing/**')") == 2


def test_keys_that_cannot_be_paths_are_refused(tmp_path):
    from orchestration.lake.objectstore import UnsafeKey, local_path, safe_relpath

    for bad in ["", "/etc/passwd", "a/../../b", "a//b", "./a", "a\\b", "a/\x00b", "a/b\n", ".."]:
        with pytest.raises(UnsafeKey):
            safe_relpath(bad)
    assert local_path(tmp_path, "landing/genomic/b1/p.vcf.gz") == tmp_path / "landing/genomic/b1/p.vcf.gz"
    (tmp_path / "out").symlink_to("/")
    with pytest.raises(UnsafeKey):
        local_path(tmp_path, "out/etc/passwd")


def test_an_unsafe_landing_key_is_not_pulled(s3, published, capsys):
    """A landing object whose key would leave the working copy is named and skipped."""
    from orchestration.lake.objectstore import ObjectStore, working_copy

    fs = s3["fs"]
    store = ObjectStore(URI)
    # S3 keys may hold "..": written with the low-level client, not s3fs's path handling
    from fsspec.asyn import sync

    bad = "lake/landing/genomic/../../../escape.txt"
    sync(fs.loop, fs._call_s3, "put_object", Bucket=BUCKET, Key=bad, Body=b"x")
    try:
        paths = working_copy(URI)
        pulled = store.pull(paths)
        assert any("escape.txt" in line for line in pulled.refused)
        assert not (paths.home.parent / "escape.txt").exists()
        assert not any(p.name == "escape.txt" for p in paths.home.rglob("*"))
    finally:
        sync(fs.loop, fs._call_s3, "delete_object", Bucket=BUCKET, Key=bad)


def test_a_failed_upload_publishes_nothing_and_the_next_refresh_recovers(s3, published, monkeypatch,
                                                                         capsys):
    """The upload dies half-way: the pointer still names the previous publication, readers
    see it, and the next refresh (run from the last good pointer) publishes."""
    from orchestration.cli import _refresh_and_report, _use_home
    from orchestration.lake import objectstore
    from orchestration.lake.catalog import publish_catalog

    assert published["code"] == 0
    fs = s3["fs"]
    before = _pointer(fs)
    real_upload = objectstore.upload_files

    def dies_half_way(store, pairs):
        real_upload(store, pairs[: len(pairs) // 2])
        raise objectstore.ObjectStoreError("object store: simulated: the connection dropped")

    # first a refresh that publishes cheaply (the catalog step alone, over four new model
    # files), so the failure lands in the push, not in Dagster
    paths = _use_home(URI)

    def refresh(p):
        for i in range(4):
            (p.models / f"objectstore-test-{i}.txt").write_text(f"{i} written at {time.time()}")
        publish_catalog(p)
        return 0

    monkeypatch.setattr(objectstore, "upload_files", dies_half_way)
    with pytest.raises(objectstore.ObjectStoreError, match="simulated"):
        objectstore.refresh_on_object_store(URI, paths, refresh)
    assert _pointer(fs) == before
    # half of the new objects are in the bucket, unpublished; readers do not see them
    assert any("objectstore-test-" in k for k in fs.find(f"{BUCKET}/lake/data"))
    capsys.readouterr()
    assert _cli("--home", URI, "sql", "select count(*) from raw_patients", "--format", "csv") == 0
    assert capsys.readouterr().out.splitlines()[1] == str(PATIENTS)

    # the next refresh pulls the last good publication (the failed one's files go) and
    # publishes; the failed upload's objects are collected
    monkeypatch.setattr(objectstore, "upload_files", real_upload)
    pulled_marker = []

    def real_refresh(p):
        pulled_marker.append((p.models / "objectstore-test-0.txt").exists())
        return _refresh_and_report(p, type("A", (), {"verbose": False, "json": False,
                                                     "command": "refresh"})())

    assert objectstore.refresh_on_object_store(URI, paths, real_refresh) == 0
    assert pulled_marker == [False], "the failed refresh's files were not discarded"
    after = _pointer(fs)
    assert after["stamp"] > before["stamp"]
    manifest = json.loads(fs.cat_file(f"{BUCKET}/lake/{after['manifest']}"))
    keep = {f"{BUCKET}/lake/{e['key']}" for e in manifest["files"].values()}
    old = json.loads(fs.cat_file(f"{BUCKET}/lake/{before['manifest']}"))
    keep |= {f"{BUCKET}/lake/{e['key']}" for e in old["files"].values()}
    assert set(fs.find(f"{BUCKET}/lake/data")) <= keep, "a failed upload's objects were left"
    assert len(set(fs.find(f"{BUCKET}/lake/publications"))) == 2
    capsys.readouterr()
    assert _cli("--home", URI, "sql", "select count(*) from raw_patients", "--format", "csv") == 0
    assert capsys.readouterr().out.splitlines()[1] == str(PATIENTS)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_endpoint_fails_fast_and_says_where(s3, monkeypatch, capsys):
    endpoint = f"http://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    start = time.monotonic()
    assert _cli("--home", URI, "refresh") == 2
    err = capsys.readouterr().err
    assert time.monotonic() - start < 30
    assert endpoint in err and BUCKET in err and "unreachable" in err, err


def test_a_missing_bucket_is_named(s3, capsys):
    assert _cli("--home", "s3://no-such-bucket/lake", "refresh") == 2
    err = capsys.readouterr().err
    assert "no-such-bucket" in err and "does not exist" in err and s3["endpoint"] in err, err
    assert _cli("--home", "s3://no-such-bucket/lake", "sql", "select 1") == 2
    assert "does not exist" in capsys.readouterr().err


def test_wrong_credentials_are_refused_with_a_clear_error(s3, published, monkeypatch, capsys):
    """moto checks signatures only with its IAM emulation on (a test-side switch; the code
    under test is the same): an unknown access key is refused."""
    from moto.core.authorization import enable_iam_authentication

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with enable_iam_authentication():
        assert _cli("--home", URI, "refresh") == 2
        err = capsys.readouterr().err
        assert "access denied" in err and BUCKET in err and s3["endpoint"] in err, err
        assert _cli("--home", URI, "sql", "select 1") == 2
        assert "access denied" in capsys.readouterr().err


def test_a_working_copy_folder_is_never_someone_elses(s3, tmp_path):
    from orchestration.lake.objectstore import ObjectStore, ObjectStoreError
    from orchestration.settings import LakePaths

    own = tmp_path / "mine"
    own.mkdir()
    (own / "thesis.txt").write_text("do not delete")
    with pytest.raises(ObjectStoreError, match="not a working copy"):
        ObjectStore(URI).pull(LakePaths(own))
    assert (own / "thesis.txt").exists()
