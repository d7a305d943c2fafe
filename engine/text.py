"""The one place where text from outside - command-line arguments, JSON bodies and the files a command reads -
is decoded and checked before anything else sees it. Text the engine accepts is valid Unicode that every
database stores: no lone surrogates (what Python makes of bytes that are not UTF-8 on a command line, and what
JSON's "\\ud800" escapes decode to), no NUL (PostgreSQL refuses it in text) and no other control characters
except tab and line ends, and no longer than a bound. Each refusal is bad input naming the field."""
from __future__ import annotations

import os
import stat
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from convenant.engine.errors import BadInput

# Longest single value accepted from outside: a --set text, a reason, a reference. Files have their own bound.
MAX_TEXT = 10_000
# A path component longer than this is refused by every usual file system.
MAX_NAME = 255
ALLOWED_CONTROLS = frozenset("\t\n\r")


def problem(text: str, max_len: int = MAX_TEXT) -> str | None:
    """What is wrong with `text` as text from outside, in words; None when it is fine."""
    if len(text) > max_len:
        return f"is longer than {max_len} characters"
    for index, char in enumerate(text):
        code = ord(char)
        if 0xD800 <= code <= 0xDFFF:
            return f"is not valid Unicode (a lone surrogate or a byte that is not UTF-8 at position {index + 1})"
        if char == "\0":
            return f"contains a NUL character (at position {index + 1})"
        if char not in ALLOWED_CONTROLS and unicodedata.category(char) == "Cc":
            return f"contains the control character U+{code:04X} (at position {index + 1})"
    return None


def check_text(text: str, field: str, max_len: int = MAX_TEXT) -> str:
    """`text` unchanged when it is acceptable; otherwise bad input naming `field`."""
    found = problem(text, max_len)
    if found is not None:
        raise BadInput(f"{field}: {found}", field=field)
    return text


def check_value(value: Any, field: str, max_len: int = MAX_TEXT) -> Any:
    """Every string in a decoded value (JSON, TOML, command-line values): keys and values, nested; the field
    named by its dotted place (`data.text`, `parties.0.name`)."""
    if isinstance(value, str):
        return check_text(value, field, max_len)
    if isinstance(value, Mapping):
        for key, item in value.items():
            name = f"{field}.{key}" if isinstance(key, str) and problem(key, MAX_NAME) is None else field
            if isinstance(key, str):
                check_text(key, f"{field} (a key)" if name == field else name, MAX_NAME)
            check_value(item, name, max_len)
        return value
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_value(item, f"{field}.{index}", max_len)
    return value


def decode(data: bytes, field: str) -> str:
    """Bytes of a file as UTF-8 text (a byte-order mark is dropped), checked as above."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{field}: not UTF-8 text (byte {exc.start + 1}: {data[exc.start:exc.start + 1]!r})",
                       field=field) from None
    for number, line in enumerate(text.split("\n"), start=1):
        found = problem(line.rstrip("\r"), max_len=len(text) + 1)
        if found is not None:
            raise BadInput(f"{field}: line {number} {found}", field=field)
    return text


def check_path(path: str | os.PathLike[str], field: str) -> Path:
    """A path given from outside: decodable text, and no component longer than the system allows."""
    text = check_text(os.fspath(path), field, max_len=4096)
    if not text.strip():
        raise BadInput(f"{field}: no file named", field=field)
    for part in Path(text).parts:
        if len(part.encode("utf-8")) > MAX_NAME:
            raise BadInput(f"{field}: the name {part[:40]!r}... is longer than {MAX_NAME} bytes", field=field)
    return Path(text)


def read_file(path: str | os.PathLike[str], field: str, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most `max_bytes` (never a device, a pipe or a folder, which may never
    end); every failure is bad input naming `field` and the file."""
    file = check_path(path, field)
    try:
        with file.open("rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise BadInput(f"{field}: {str(file)!r} is not a regular file", field=field)
            if info.st_size > max_bytes:
                raise BadInput(f"{field}: {str(file)!r} is larger than {max_bytes} bytes", field=field)
            data = fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise BadInput(f"{field}: {str(file)!r} does not exist", field=field) from None
    except OSError as exc:
        raise BadInput(f"{field}: cannot read {str(file)!r}: {exc.strerror or exc}", field=field) from None
    if len(data) > max_bytes:
        raise BadInput(f"{field}: {str(file)!r} is larger than {max_bytes} bytes", field=field)
    return data


def read_text(path: str | os.PathLike[str], field: str, max_bytes: int) -> str:
    """A text file (a data file, config.toml, a definition) read through `read_file` and `decode`."""
    return decode(read_file(path, field, max_bytes), f"{field} ({os.fspath(path)})")


def referenced(base_file: str | os.PathLike[str], name: Any, field: str, max_bytes: int) -> Path:
    """The one path policy for a file that a file names (a data file's `themes_file`): a relative name, inside
    the folder of the file that names it, existing, a regular file, at most `max_bytes`."""
    if not isinstance(name, str):
        raise BadInput(f"{field}: give a file name (text)", field=field)
    rel = check_path(name, field)
    folder = Path(base_file).resolve().parent
    if rel.is_absolute():
        raise BadInput(f"{field}: {name!r} must be a name relative to the folder of {Path(base_file).name}",
                       field=field)
    target = (folder / rel).resolve()
    if not target.is_relative_to(folder):
        raise BadInput(f"{field}: {name!r} lies outside the folder of {Path(base_file).name} ({folder})",
                       field=field)
    if not target.exists():
        raise BadInput(f"{field}: {name!r} does not exist (looked in {folder})", field=field)
    if not target.is_file():
        raise BadInput(f"{field}: {name!r} is not a regular file", field=field)
    if target.stat().st_size > max_bytes:
        raise BadInput(f"{field}: {name!r} is larger than {max_bytes} bytes", field=field)
    return target


def writable(path: str | os.PathLike[str], field: str) -> Path:
    """A file a command is to write (`audit export --out`): its folder exists and is a folder, and the path
    is not a folder itself. Checked before anything is produced, so nothing is claimed written that was not."""
    file = check_path(path, field)
    parent = file.parent if str(file.parent) else Path(".")
    try:
        if not parent.is_dir():
            raise BadInput(f"{field}: the folder {str(parent)!r} does not exist", field=field)
        if file.is_dir():
            raise BadInput(f"{field}: {str(file)!r} is a folder", field=field)
        if file.exists() and not file.is_file():
            raise BadInput(f"{field}: {str(file)!r} is not a regular file", field=field)
    except OSError as exc:   # a path below a file (ENOTDIR), a name too long, no permission
        raise BadInput(f"{field}: {str(file)!r} cannot be used: {exc.strerror or exc}", field=field) from None
    if not os.access(parent, os.W_OK):
        raise BadInput(f"{field}: the folder {str(parent)!r} is not writable", field=field)
    return file


# Data files, config.toml and definitions are small; a bound keeps a wrong name (a device, a log) from hanging.
MAX_FILE = 16 * 1024 * 1024


def read_toml(path: str | os.PathLike[str], field: str, max_bytes: int = MAX_FILE) -> dict[str, Any]:
    """A TOML file read, decoded and parsed, every string in it checked; bad input names `field` and the file."""
    import tomllib

    text = read_text(path, field, max_bytes)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{os.fspath(path)}: not valid TOML: {exc}", field=field) from None
    for key, value in raw.items():
        check_value(value, key)
    return raw
