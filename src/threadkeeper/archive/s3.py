"""The archive on S3 or any S3-compatible server (MinIO, SeaweedFS), through boto3.

Endpoint, credentials and region come the standard boto3 way (AWS_ENDPOINT_URL,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, profiles...). A put is a
conditional create (`If-None-Match: *`) carrying our own SHA-256, which the
server checks on arrival; the stored object is then verified by a HEAD.
botocore's errors become threadkeeper's in `_errors`, and nowhere else.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from threadkeeper.archive import check_key, check_prefix, object_too_large
from threadkeeper.errors import (
    ArchiveError,
    ArchiveObjectExists,
    ArchiveObjectMissing,
    ArchiveUnavailable,
    ConfigError,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import HeadObjectOutputTypeDef

__all__ = ["S3Archive"]

_CREDENTIAL_ERRORS = (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)
_TRANSPORT_ERRORS = (BotoConnectionError, HTTPClientError, IncompleteReadError)


class S3Archive:
    """Snapshots as objects under `s3://bucket/prefix/`, through one lazily built client."""

    __slots__ = (
        "bucket",
        "prefix",
        "url",
        "_endpoint_url",
        "_session",
        "_config",
        "_client",
        "_lock",
    )

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        session: boto3.session.Session | None = None,
        max_attempts: int = 3,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
    ) -> None:
        prefix = check_key(prefix.strip("/")) if prefix.strip("/") else ""
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self.url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        self._endpoint_url = endpoint_url
        self._session = session
        self._config = Config(
            retries={"mode": "standard", "max_attempts": max_attempts},
            # boto3 >= 1.36 adds CRC checksums some S3-compatible servers reject;
            # we send (and check) our own SHA-256 instead.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            s3={"addressing_style": "path"},
        )
        self._client: S3Client | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> S3Client:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    def put_if_absent(self, key: str, data: bytes) -> None:
        name = self._name(key)
        checksum = _sha256_b64(data)
        try:
            with self._errors(key):
                answer = self.client.put_object(
                    Bucket=self.bucket,
                    Key=name,
                    Body=data,
                    IfNoneMatch="*",
                    ChecksumSHA256=checksum,
                )
        except ArchiveObjectExists:
            # Usually our own earlier attempt (a retried request, a re-run job).
            if self._holds(key, data, checksum):
                return
            raise
        if not _answer_proves(answer, data, checksum):
            self._verify(key, data, checksum)

    def get(self, key: str, max_bytes: int) -> bytes:
        name = self._name(key)
        with self._errors(key):
            response = self.client.get_object(Bucket=self.bucket, Key=name)
            size = response.get("ContentLength")
            with response["Body"] as body:
                if size is not None and size > max_bytes:
                    raise object_too_large(self.url, key, size, max_bytes)
                data = body.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise object_too_large(self.url, key, len(data), max_bytes)
        return data

    def list_keys(self, prefix: str) -> Iterator[str]:
        check_prefix(prefix)
        # Sorted here, not trusted from the server: SeaweedFS lists in directory-walk
        # order ("a/b/1" before "a/b-c"), unlike AWS and MinIO.
        yield from sorted(self._list(self.prefix + prefix))

    def delete(self, key: str) -> None:
        name = self._name(key)
        try:
            with self._errors(key):
                self.client.delete_object(Bucket=self.bucket, Key=name)
        except ArchiveObjectMissing:
            pass

    def ping(self) -> None:
        with self._errors(None):
            self.client.head_bucket(Bucket=self.bucket)

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _list(self, prefix: str) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        start = len(self.prefix)
        with self._errors(None):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield item["Key"][start:]

    def _make_client(self) -> S3Client:
        session = self._session or boto3.session.Session()
        try:
            return session.client("s3", endpoint_url=self._endpoint_url, config=self._config)
        except ValueError as exc:  # botocore's word for a malformed endpoint URL
            raise ConfigError(
                f"the S3 endpoint for {self.url} is invalid ({exc}): check AWS_ENDPOINT_URL",
                variable="AWS_ENDPOINT_URL",
            ) from exc

    def _head(self, key: str) -> HeadObjectOutputTypeDef:
        with self._errors(key):
            return self.client.head_object(
                Bucket=self.bucket, Key=self._name(key), ChecksumMode="ENABLED"
            )

    def _holds(self, key: str, data: bytes, checksum: str) -> bool:
        try:
            head = self._head(key)
        except ArchiveObjectMissing:
            return False  # a concurrent conditional write lost, or the object was deleted
        if head.get("ContentLength") != len(data):
            return False
        stored = head.get("ChecksumSHA256")
        if stored and "-" not in stored:
            return stored == checksum
        # The server keeps no whole-object checksum: compare the bytes themselves.
        return self.get(key, len(data)) == data

    def _verify(self, key: str, data: bytes, checksum: str) -> None:
        head = self._head(key)
        size, stored = head.get("ContentLength"), head.get("ChecksumSHA256")
        if size == len(data) and stored in (None, checksum):
            return
        self.delete(key)  # unusable, and it would block every retry of this version
        raise ArchiveError(
            f"archive object {key!r} in {self.url} failed verification after upload: "
            f"stored {size} bytes (sha256 {stored}), sent {len(data)} bytes (sha256 {checksum}); "
            "it was deleted, retry the archive job",
            key=key,
            archive=self.url,
        )

    def _where(self) -> str:
        endpoint = self._client.meta.endpoint_url if self._client else self._endpoint_url
        return f"{self.url} at {endpoint or 'the default AWS endpoint'}"

    @contextmanager
    def _errors(self, key: str | None) -> Iterator[None]:
        """Translate botocore errors into threadkeeper errors; `key` None means a bucket call."""
        try:
            yield
        except ClientError as exc:
            raise self._client_error(exc, key) from exc
        except _CREDENTIAL_ERRORS as exc:
            raise ArchiveUnavailable(
                f"archive {self._where()} has no usable credentials ({exc}): "
                "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or an AWS profile)",
                archive=self.url,
            ) from exc
        except _TRANSPORT_ERRORS as exc:
            raise ArchiveUnavailable(
                f"archive {self._where()} is unreachable ({exc}): check AWS_ENDPOINT_URL "
                "and that the S3 server is running and reachable",
                archive=self.url,
            ) from exc

    def _client_error(self, exc: ClientError, key: str | None) -> ArchiveError:
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        said = _describe(status, code, error.get("Message", ""))
        if status == 412 or code in ("PreconditionFailed", "ConditionalRequestConflict"):
            return ArchiveObjectExists(
                f"archive object {key!r} in {self.url} already exists with other content",
                key=key,
                archive=self.url,
            )
        if code == "NoSuchBucket" or (status == 404 and key is None):
            return ArchiveUnavailable(
                f"archive bucket {self.bucket!r} does not exist at {self._where()} ({said}): "
                "create it, or fix THREADKEEPER_ARCHIVE_URL",
                archive=self.url,
            )
        if status == 404:
            return ArchiveObjectMissing(
                f"archive object {key!r} does not exist in {self.url}", key=key, archive=self.url
            )
        if status in (401, 403):
            return ArchiveUnavailable(
                f"archive {self._where()} refused access ({said}): check AWS_ACCESS_KEY_ID, "
                "AWS_SECRET_ACCESS_KEY and the bucket's policy",
                archive=self.url,
            )
        if status >= 500:
            return ArchiveUnavailable(
                f"archive {self._where()} failed ({said}) after retries: the S3 server is in "
                "trouble, retry later",
                archive=self.url,
            )
        return ArchiveError(
            f"archive {self._where()} rejected a request ({said})", archive=self.url
        )


def _sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def _describe(status: int, code: str, message: str) -> str:
    """`403 AccessDenied: message`, without repeating a code that is just the status."""
    head = str(status) if code in ("", str(status)) else f"{status} {code}"
    return f"{head}: {message}" if message else head


def _answer_proves(answer: Mapping[str, Any], data: bytes, checksum: str) -> bool:
    """Does the PUT's own answer show the server stored exactly these bytes?

    A server that checked our x-amz-checksum-sha256 echoes it (a mismatch is refused
    with BadDigest); a single-part ETag is the body's MD5. Either saves a HEAD per
    snapshot; a server that offers neither is verified with a HEAD.
    """
    if answer.get("ChecksumSHA256") == checksum:
        return True
    etag = str(answer.get("ETag", "")).strip('"')
    return etag == hashlib.md5(data, usedforsecurity=False).hexdigest()
