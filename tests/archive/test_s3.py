"""The S3 backend against a real SeaweedFS on loopback (the contract tests live in
test_local.py and run here too through the `archive` fixture)."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from s3server import S3Server, free_port
from threadkeeper.archive import open_archive
from threadkeeper.archive.s3 import S3Archive
from threadkeeper.errors import (
    ArchiveError,
    ArchiveObjectExists,
    ArchiveObjectMissing,
    ArchiveUnavailable,
    ConfigError,
)

pytestmark = pytest.mark.s3

MakeS3Archive = Callable[..., S3Archive]  # the make_s3_archive fixture

KEY = "acme/th-1/000000000007.tks"


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_the_server_itself_refuses_a_second_conditional_put(s3_archive: S3Archive) -> None:
    name = s3_archive.prefix + KEY
    s3_archive.client.put_object(Bucket=s3_archive.bucket, Key=name, Body=b"a", IfNoneMatch="*")
    with pytest.raises(ArchiveObjectExists):
        with s3_archive._errors(KEY):
            s3_archive.client.put_object(
                Bucket=s3_archive.bucket, Key=name, Body=b"b", IfNoneMatch="*"
            )
    assert s3_archive.get(KEY, max_bytes=10) == b"a"


def test_put_stores_our_sha256(s3_archive: S3Archive) -> None:
    s3_archive.put_if_absent(KEY, b"payload")
    head = s3_archive.client.head_object(
        Bucket=s3_archive.bucket, Key=s3_archive.prefix + KEY, ChecksumMode="ENABLED"
    )
    assert head["ChecksumSHA256"] == sha256_b64(b"payload")
    assert head["ContentLength"] == len(b"payload")


def test_objects_live_under_the_prefix(s3_archive: S3Archive) -> None:
    s3_archive.put_if_absent(KEY, b"x")
    listed = s3_archive.client.list_objects_v2(Bucket=s3_archive.bucket, Prefix=s3_archive.prefix)
    assert [item["Key"] for item in listed["Contents"]] == [s3_archive.prefix + KEY]
    assert s3_archive.url == f"s3://{s3_archive.bucket}/{s3_archive.prefix.rstrip('/')}"


@pytest.mark.parametrize(("other", "same"), [(b"same-size", True), (b"diff-size", False)])
def test_existing_object_without_a_checksum_is_compared_byte_for_byte(
    s3_archive: S3Archive, other: bytes, same: bool
) -> None:
    # Written by something that sent no checksum: the server keeps none to compare.
    s3_archive.client.put_object(
        Bucket=s3_archive.bucket, Key=s3_archive.prefix + KEY, Body=b"same-size"
    )
    if same:
        s3_archive.put_if_absent(KEY, other)
    else:
        with pytest.raises(ArchiveObjectExists):
            s3_archive.put_if_absent(KEY, other)


def mute_put_answers(archive: S3Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    real_put = archive.client.put_object

    def put_without_proof(**kwargs: object) -> dict[str, object]:
        answer = dict(real_put(**kwargs))
        answer.pop("ChecksumSHA256", None)
        answer.pop("ETag", None)
        return answer

    monkeypatch.setattr(archive.client, "put_object", put_without_proof)


def test_a_put_whose_answer_proves_the_bytes_needs_no_head(
    s3_archive: S3Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    heads: list[str] = []
    real_head = S3Archive._head

    def counting_head(self: S3Archive, key: str) -> object:
        heads.append(key)
        return real_head(self, key)

    monkeypatch.setattr(S3Archive, "_head", counting_head)
    s3_archive.put_if_absent(KEY, b"proved by its answer")
    assert heads == []
    mute_put_answers(s3_archive, monkeypatch)
    s3_archive.put_if_absent(KEY + ".2", b"proved by a HEAD")
    assert heads == [KEY + ".2"]
    assert s3_archive.get(KEY + ".2", max_bytes=100) == b"proved by a HEAD"


def test_a_bad_upload_fails_verification_and_is_removed(
    s3_archive: S3Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_head = S3Archive._head

    def lying_head(self: S3Archive, key: str) -> object:
        return {**real_head(self, key), "ContentLength": 1}

    monkeypatch.setattr(S3Archive, "_head", lying_head)
    mute_put_answers(s3_archive, monkeypatch)  # a server that echoes neither checksum nor MD5
    with pytest.raises(ArchiveError, match="failed verification after upload"):
        s3_archive.put_if_absent(KEY, b"payload")
    monkeypatch.undo()
    with pytest.raises(ArchiveObjectMissing):
        s3_archive.get(KEY, max_bytes=100)


def test_listing_pages_past_one_thousand_keys(s3_archive: S3Archive) -> None:
    keys = [f"acme/th-{i:04d}/000000000001.tks" for i in range(1005)]

    def put(key: str) -> None:
        s3_archive.client.put_object(
            Bucket=s3_archive.bucket, Key=s3_archive.prefix + key, Body=b""
        )

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, keys))
    assert list(s3_archive.list_keys("acme/")) == keys


def dead_archive(**options: object) -> S3Archive:
    return S3Archive(
        "bucket",
        "p",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        max_attempts=0,
        connect_timeout=1,
        read_timeout=1,
        **options,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("call", ["ping", "put", "get", "list"])
def test_a_dead_endpoint_is_unavailable_quickly(s3_server: S3Server, call: str) -> None:
    archive = dead_archive(session=s3_server.session())
    started = time.monotonic()
    with pytest.raises(ArchiveUnavailable) as caught:
        if call == "ping":
            archive.ping()
        elif call == "put":
            archive.put_if_absent(KEY, b"x")
        elif call == "get":
            archive.get(KEY, max_bytes=10)
        else:
            list(archive.list_keys(""))
    assert time.monotonic() - started < 5
    assert caught.value.status == 503
    detail = caught.value.detail
    assert "s3://bucket/p" in detail and archive.client.meta.endpoint_url in detail
    assert "AWS_ENDPOINT_URL" in detail


def test_a_missing_bucket_is_named_by_ping(make_s3_archive: MakeS3Archive) -> None:
    archive = make_s3_archive("no-such-bucket")
    with pytest.raises(ArchiveUnavailable) as caught:
        archive.ping()
    assert "bucket 'no-such-bucket' does not exist" in caught.value.detail


def test_wrong_credentials_are_named(make_s3_archive: MakeS3Archive, s3_server: S3Server) -> None:
    import boto3

    wrong = boto3.session.Session(
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key="wrong",
        region_name="us-east-1",
    )
    archive = make_s3_archive(session=wrong)
    for call in (archive.ping, lambda: archive.put_if_absent(KEY, b"x")):
        with pytest.raises(ArchiveUnavailable, match="refused access .*AWS_SECRET_ACCESS_KEY"):
            call()


def test_s3_url_opens_an_s3_archive_without_connecting() -> None:
    archive = open_archive("s3://my-bucket/some/prefix/")
    assert isinstance(archive, S3Archive)
    assert (archive.bucket, archive.prefix, archive.url) == (
        "my-bucket",
        "some/prefix/",
        "s3://my-bucket/some/prefix",
    )
    assert archive._client is None


def test_s3_url_without_prefix() -> None:
    archive = open_archive("s3://my-bucket")
    assert isinstance(archive, S3Archive)
    assert (archive.prefix, archive.url) == ("", "s3://my-bucket")


@pytest.mark.parametrize("url", ["s3://key:secret@bucket/p", "s3://bucket/a/../b", "s3:///p"])
def test_bad_s3_urls(url: str) -> None:
    with pytest.raises(ConfigError, match="THREADKEEPER_ARCHIVE_URL") as caught:
        open_archive(url)
    assert "secret" not in caught.value.detail
