"""File access by URI, so the same code writes to local disk or object storage.

Local paths and file:// URIs use the local filesystem; s3://, gs://, abfs://, hdfs:// go through
pyarrow's filesystems (credentials from the usual environment variables).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import tempfile
from functools import lru_cache
from pathlib import Path

import pyarrow.fs as pafs


def join(root: str, *parts: str) -> str:
    """Join URI or path segments with '/' (object stores have no os.sep)."""
    out = root.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


def is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def staging_compression(uri: str) -> str | None:
    """The codec of a staging file: none on local disk, where it lives briefly in the page cache and is
    read back soon (often several times), which is cheaper both ways; elsewhere the writer's default."""
    return "none" if is_local(uri) else None


def spark_path(uri: str) -> str:
    """The location as the engines take it: file:// stripped, other schemes (s3://, ...) kept; a local
    path that Sail would mangle reached through an alias (`use_path_aliases`)."""
    path = _without_file_scheme(uri)
    return _aliased(path) if _ALIASES and is_local(uri) else path


def _without_file_scheme(uri: str) -> str:
    return uri[len("file://") :] if uri.startswith("file://") else uri


# Sail (0.7.2) percent-encodes a local Delta table's path when it writes: a root with a space or a
# non-ASCII letter gets its log and data in encoded sibling folders, where nothing else finds them.
# The embedded engine therefore reaches such a directory through a symbolic link whose name needs no
# encoding; the files land in the real directory, which every other reader (delta-rs) uses.
_ALIASES = False
_PLAIN = re.compile(r"[A-Za-z0-9._/=+-]*")


def use_path_aliases(on: bool = True) -> None:
    """Give the engine aliases for local paths that need URL encoding (the embedded Sail engine,
    which shares this machine's filesystem)."""
    global _ALIASES
    _ALIASES = on


def _aliased(path: str) -> str:
    if _PLAIN.fullmatch(path):
        return path
    absolute = os.path.abspath(path)
    parts = absolute.split("/")
    last = max(i for i, part in enumerate(parts) if not _PLAIN.fullmatch(part))
    target, rest = "/".join(parts[: last + 1]), parts[last + 1 :]
    Path(target).mkdir(parents=True, exist_ok=True)  # a link to nothing could not be written through
    home = Path(tempfile.gettempdir()) / f"lakehouse-paths-{os.getuid()}"
    home.mkdir(mode=0o700, exist_ok=True)
    link = home / hashlib.sha256(target.encode()).hexdigest()[:20]
    if not link.is_symlink() or os.readlink(link) != target:
        tmp = home / f".{link.name}.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        os.replace(tmp, link)  # atomic: a concurrent process sees the old link or the new one
    return "/".join([str(link), *rest])


def local_path(uri: str) -> Path:
    return Path(_without_file_scheme(uri))


@lru_cache(maxsize=16)
def _filesystem(scheme_and_authority: str) -> pafs.FileSystem:
    fs, _ = pafs.FileSystem.from_uri(scheme_and_authority)
    return fs


def _remote(uri: str) -> tuple[pafs.FileSystem, str]:
    scheme, rest = uri.split("://", 1)
    authority = rest.split("/", 1)[0]
    fs = _filesystem(f"{scheme}://{authority}")
    _, path = pafs.FileSystem.from_uri(uri)
    return fs, path


def write_bytes(uri: str, data: bytes | memoryview) -> None:
    """Write a whole file atomically where the filesystem allows (local: temp file, then rename)."""
    write_parts(uri, [data])


def write_parts(uri: str, parts: list[bytes | memoryview]) -> None:
    """Write a file from pieces without joining them first; atomic where the filesystem allows (local:
    temp file, then rename; object stores publish an object on close)."""
    if is_local(uri):
        path = local_path(uri)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        fd = _open_in_folder(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.writelines(parts)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return
    fs, remote_path = _remote(uri)
    with fs.open_output_stream(remote_path) as out:
        for part in parts:
            out.write(part)


def _open_in_folder(path: Path, flags: int) -> int:
    """`os.open` with the mode open() gives new files (0666 less the umask, not mkstemp's 0600), making
    the folder only when it is missing: most writes go to one that exists (a generated week writes
    hundreds of files; a mkdir before each cost about 60 ms of its 2 s)."""
    try:
        return os.open(path, flags, 0o666)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, flags, 0o666)


def append_bytes(uri: str, data: bytes) -> None:
    """Append to a file, creating it if needed. Object stores cannot append: there it rewrites the object."""
    if is_local(uri):
        with os.fdopen(_open_in_folder(local_path(uri), os.O_WRONLY | os.O_CREAT | os.O_APPEND), "ab") as fh:
            fh.write(data)
        return
    write_bytes(uri, (read_bytes(uri) if exists(uri) else b"") + data)


def read_bytes(uri: str) -> bytes:
    if is_local(uri):
        path = local_path(uri)
        if path.is_symlink() and not path.exists():
            raise FileNotFoundError(f"broken symbolic link to {os.readlink(path)}")
        return path.read_bytes()
    fs, path = _remote(uri)
    with fs.open_input_stream(path) as fh:
        return fh.read()


def exists(uri: str) -> bool:
    if is_local(uri):
        return local_path(uri).exists()
    fs, path = _remote(uri)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def file_infos(uri: str) -> list[tuple[str, int, float]]:
    """(uri, size, modification time as epoch seconds) of every file below a directory, sorted; hidden
    files (named .*) left out, broken symbolic links kept (with the link's own size and time)."""
    if is_local(uri):
        base = local_path(uri)
        if not base.exists():
            return []
        prefix = "file://" if uri.startswith("file://") else ""
        out = []
        for p in base.rglob("*"):
            if p.name.startswith("."):
                continue
            if p.is_file():
                st = p.stat()
            elif p.is_symlink():  # a broken link: listed, so its reader can say it is broken
                st = p.lstat()
            else:
                continue
            out.append((prefix + str(p), st.st_size, st.st_mtime))
        return sorted(out)
    fs, path = _remote(uri)
    scheme = uri.split("://", 1)[0]
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    return sorted(
        (f"{scheme}://{i.path}", i.size or 0, i.mtime.timestamp() if i.mtime else 0.0)
        for i in infos
        if i.type == pafs.FileType.File
    )


def list_files(uri: str) -> list[str]:
    """All files below a directory URI, recursively, as URIs, sorted; empty if it does not exist."""
    if is_local(uri):
        base = local_path(uri)
        if not base.exists():
            return []
        prefix = "file://" if uri.startswith("file://") else ""
        return sorted(prefix + str(p) for p in base.rglob("*") if p.is_file() and not p.name.startswith("."))
    fs, path = _remote(uri)
    scheme = uri.split("://", 1)[0]
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    return sorted(f"{scheme}://{i.path}" for i in infos if i.type == pafs.FileType.File)


def delete(uri: str) -> None:
    """Remove one file; absent is fine."""
    if is_local(uri):
        local_path(uri).unlink(missing_ok=True)
        return
    fs, path = _remote(uri)
    if fs.get_file_info(path).type != pafs.FileType.NotFound:
        fs.delete_file(path)


def delete_tree(uri: str) -> None:
    if is_local(uri):
        import shutil

        shutil.rmtree(local_path(uri), ignore_errors=True)
        return
    fs, path = _remote(uri)
    if fs.get_file_info(path).type != pafs.FileType.NotFound:
        fs.delete_dir(path)
