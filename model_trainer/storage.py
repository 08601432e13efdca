"""Object storage for studies on machines that share no file system (`study.storage`).

A URI such as `s3://bucket/prefix` (any fsspec protocol works; S3 through s3fs, with the
credentials and endpoint of the standard AWS variables, AWS_ENDPOINT_URL included) holds
the study's folders under `<prefix>/<study folder name>/`, file for file as on disk.
Every object is written whole (an S3 PUT is atomic), so a reader never sees half a file;
a trial's status.json is uploaded after its checkpoints and metrics, so it never claims
more than storage holds. What cannot be reached or is refused is a `StorageError` that
says which URI and why.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from model_trainer.errors import UserError, first_line
from model_trainer.files import atomic_write


class StorageError(UserError):
    """Storage refused or could not be reached (exit 2: the user's setup, not a bug)."""


def is_uri(text: str | os.PathLike) -> bool:
    """Whether a path argument is a storage URI (`s3://...`) rather than a local path."""
    return "://" in str(text)


class Storage:
    """One storage location: `uri` is the root (`s3://bucket/prefix`)."""

    def __init__(self, uri: str):
        import fsspec  # lazy: s3fs and botocore take a while to import

        self.uri = uri.rstrip("/")
        protocol, _, self.root = self.uri.partition("://")
        try:
            self.fs = fsspec.filesystem(protocol, skip_instance_cache=True,
                                        **_options(protocol))
        except (ImportError, ValueError) as exc:
            raise StorageError(f"study.storage: {uri}: {exc} (for s3://, pip install "
                               "'model_trainer[s3]')") from None

    def path(self, rel: str = "") -> str:
        """The object name of `rel` below the root (one `/` between them: a memory file
        system, unlike s3fs, does not read `a//b` as `a/b`)."""
        return f"{self.root}/{rel.lstrip('/')}".rstrip("/")

    def check(self) -> None:
        """StorageError unless the root can be listed (credentials, endpoint, bucket)."""
        bucket = self.root.split("/")[0]
        try:
            self.call(lambda: self.fs.ls(bucket), "list")
        except FileNotFoundError:
            raise StorageError(f"{self.uri}: there is no bucket {bucket!r} (create it, or "
                               "correct the URI)") from None

    def put(self, local: Path, rel: str) -> None:
        self.call(lambda: self.fs.put_file(str(local), self.path(rel)), f"upload {rel}")

    def write(self, rel: str, data: bytes) -> None:
        self.call(lambda: self.fs.pipe_file(self.path(rel), data), f"upload {rel}")

    def _listing(self, rel: str) -> dict[str, dict[str, Any]]:
        """{path below `rel`: what the file system says of it} of every object under it."""
        base = self.path(rel)
        found = self.call(lambda: self.fs.find(base, detail=True), f"list {rel}")
        prefix = base.strip("/") + "/"  # some file systems name them with a leading /
        return {name.lstrip("/")[len(prefix):]: info
                for name, info in found.items() if name.lstrip("/").startswith(prefix)}

    def read(self, rel: str) -> bytes | None:
        """One object's bytes; None when there is none."""
        try:
            return self.call(lambda: self.fs.cat_file(self.path(rel)), f"read {rel}")
        except FileNotFoundError:
            return None

    def read_json(self, rel: str) -> Any | None:
        """One object's JSON, or None when there is none or it is not valid JSON (as
        files.read_json for a local file)."""
        try:
            return json.loads(self.read(rel) or b"")
        except ValueError:
            return None

    def download(self, rel: str, local: Path, skip_folders: Iterable[str] = (),
                 only_missing: bool = False, seen: dict[str, Any] | None = None) -> int:
        """Copy the objects under `rel` into the folder `local` (but those inside a folder
        named in `skip_folders`, with `only_missing` those `local` has, and those whose
        size and version are as `seen` holds from an earlier call, which this one updates),
        each written atomically; how many were copied."""
        copied, skipped = 0, set(skip_folders)
        for name, info in self._listing(rel).items():
            target = local / name
            if skipped & set(name.split("/")[:-1]) or (only_missing and target.exists()):
                continue
            version = _version(info)
            if seen is not None and version is not None and seen.get(name) == version \
                    and target.exists():
                continue
            source = self.path(f"{rel}/{name}")
            self.call(lambda t=target, f=source: atomic_write(t, lambda out: self._copy(f, out)),
                      f"download {name}")
            if seen is not None:  # only once copied: a failed copy is tried again
                seen[name] = version
            copied += 1
        return copied

    def _copy(self, source: str, out: Any) -> None:
        with self.fs.open(source, "rb") as handle:
            shutil.copyfileobj(handle, out)

    def call(self, action: Any, what: str) -> Any:
        """Run one storage call; its failure as a StorageError naming the URI."""
        try:
            return action()
        except FileNotFoundError:
            raise
        except PermissionError as exc:
            raise StorageError(f"{self.uri}: {what} refused: {first_line(exc)} (check "
                               "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)") from None
        except Exception as exc:  # noqa: BLE001 (botocore's, aiohttp's, OSError: all say why)
            endpoint = os.environ.get("AWS_ENDPOINT_URL")
            where = f" (AWS_ENDPOINT_URL={endpoint})" if endpoint else ""
            raise StorageError(f"{self.uri}: cannot {what}{where}: "
                               f"{type(exc).__name__}: {first_line(exc)}") from None


def _version(info: dict[str, Any]) -> tuple[Any, ...] | None:
    """An object's size and version as its file system lists them (S3's ETag, else a
    modification time), or None when it gives neither (then it is always copied)."""
    stamp = next((info[k] for k in ("ETag", "etag", "LastModified", "mtime", "created")
                  if info.get(k) is not None), None)
    return None if stamp is None else (info.get("size"), str(stamp))


def local_copy(uri: str, checkpoints: bool = False,
               seen: dict[str, Any] | None = None) -> Path:
    """A study, a trial or a folder of studies in storage, copied (without checkpoints
    unless asked) into a local cache folder ($MTRAIN_CACHE, else
    ~/.cache/model_trainer/storage) that `mtrain status`, `mtrain analyze` and
    `load_trial` then read: the folder. `seen` (kept by the caller between calls): only
    the objects that changed since are copied again."""
    storage = Storage(uri)
    storage.check()
    cache = Path(os.environ.get("MTRAIN_CACHE") or Path.home() / ".cache" / "model_trainer"
                 / "storage")
    folder = cache / storage.root
    skip = () if checkpoints else ("checkpoints",)
    if not storage.download("", folder, skip_folders=skip, seen=seen) and not seen:
        raise StorageError(f"{uri} holds no files")
    return folder


def _options(protocol: str) -> dict[str, Any]:
    """A storage that went away fails in seconds, not after botocore's minutes of retries."""
    if protocol in ("s3", "s3a"):
        return {"config_kwargs": {"connect_timeout": 5, "read_timeout": 60,
                                  "retries": {"max_attempts": 3}}}
    return {}


