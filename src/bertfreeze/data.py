"""Load and validate a labelled text CSV before anything is trained.

Every problem a user can fix is raised as a :class:`~bertfreeze.errors.UserError` whose one
line says what is wrong, where (file, column, first offending rows) and how to fix it.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pandas as pd

from bertfreeze.errors import UserError

log = logging.getLogger(__name__)

GET_DATA_HINT = (
    "get Kaggle's nlp-getting-started train.csv (`make data` with the kaggle CLI, or download it "
    "from the competition's Data tab) and pass data.path=/path/to/train.csv or set BERTFREEZE_DATA"
)
_ESCAPED_SEPS = {"\\t": "\t", "\\\\t": "\t", "tab": "\t", "TAB": "\t"}
_URL_RE = re.compile(r"https?://\S+|www\.\S+")


@dataclass(frozen=True)
class DataSpec:
    """What to read and how: mirrors the ``data`` config group."""

    path: str = "data/train.csv"
    sep: str = ","
    text_col: str = "text"
    label_col: str = "target"
    id_col: str | None = "id"
    label_map: Mapping[Any, int] | None = None
    extra_text_cols: Sequence[str] = field(default_factory=tuple)
    empty_text: str = "drop"  # drop | fail
    normalize: str = "none"  # none | tweet
    encoding: str = "utf-8"

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any]) -> DataSpec:
        """Build from a Hydra/OmegaConf ``data`` node, ignoring keys that are not ours."""
        keys = cls.__dataclass_fields__.keys()
        if "path" in keys and _is_missing(cfg, "path"):
            raise UserError(
                "data.path is not set (this data preset has no default) — pass "
                "data.path=/path/to/file.csv"
            )
        kwargs = {k: cfg[k] for k in keys if k in cfg and cfg[k] is not None}
        if "label_map" in kwargs:
            try:
                kwargs["label_map"] = {k: int(v) for k, v in dict(kwargs["label_map"]).items()}
            except (TypeError, ValueError) as err:
                raise UserError(
                    f"data.label_map={dict(kwargs['label_map'])} must map raw labels to 0 or 1 "
                    f"(e.g. 'data.label_map={{ham: 0, spam: 1}}')"
                ) from err
        if "extra_text_cols" in kwargs:
            kwargs["extra_text_cols"] = tuple(kwargs["extra_text_cols"])
        if "id_col" in cfg and cfg["id_col"] is None:
            kwargs["id_col"] = None
        return cls(**kwargs)


def _is_missing(cfg: Mapping[str, Any], key: str) -> bool:
    """True for an OmegaConf ``???`` value (``key in cfg`` hides it as absent)."""
    try:
        from omegaconf import DictConfig, OmegaConf
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        return False
    return isinstance(cfg, DictConfig) and key in cfg.keys() and OmegaConf.is_missing(cfg, key)  # noqa: SIM118


def _sep_hint(first_line: str, sep: str) -> str | None:
    """``data.sep=...`` advice when the header holds another usual separator but not ``sep``."""
    if sep in first_line:
        return None
    for cand, name in (("\t", "'\\t'"), (";", "';'"), (",", "','"), ("|", "'|'")):
        if cand != sep and cand in first_line:
            return f"the header looks {name}-separated: set data.sep={name}"
    return None


def _rows(mask: pd.Series, limit: int = 5) -> str:
    """1-based data-row numbers (header excluded) of the first offending rows."""
    idx = [int(i) + 1 for i in mask[mask].index[:limit]]
    more = int(mask.sum()) - len(idx)
    return ", ".join(map(str, idx)) + (f" (+{more} more)" if more > 0 else "")


def normalize_tweet(text: str) -> str:
    """Unescape HTML (``&amp;`` -> ``&``) and shorten URLs to ``http``: 33 -> 24 tokens on average."""
    return _URL_RE.sub("http", html.unescape(text))


def _refuse_binary(path: Path, raw: bytes, encoding: str) -> None:
    """Archives, UTF-16 text read as UTF-8 and binary files get their own one-line message."""
    head = raw[:8192]
    if head.startswith((b"PK\x03\x04", b"\x1f\x8b", b"BZh", b"\xfd7zXZ")):
        raise UserError(
            f"data file {path} is a compressed archive (zip/gzip/bz2/xz), not a CSV — unpack it "
            f"first (e.g. `unzip nlp-getting-started.zip`) and point data.path at train.csv"
        )
    if "16" in encoding or "32" in encoding:
        return
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UserError(
            f"data file {path} is UTF-16 text (byte-order mark), not {encoding} — re-save it as "
            f"UTF-8 or set data.encoding=utf-16"
        )
    if b"\x00" in head:
        raise UserError(
            f"data file {path} looks binary (it contains NUL bytes), not a text CSV — point "
            f"data.path at the CSV file"
        )


def read_text_file(path: Path, encoding: str = "utf-8") -> str:
    """Read the file as text, turning OS and decoding errors into one-line user errors."""
    if not path.exists():
        raise UserError(f"data file not found: {path} — {GET_DATA_HINT}")
    if path.is_dir():
        raise UserError(
            f"data path is a directory, not a file: {path} — point data.path at the CSV"
        )
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise UserError(
            f"cannot read data file {path}: {err.strerror} — check its permissions"
        ) from err
    if not raw.strip():
        raise UserError(f"data file is empty: {path} — {GET_DATA_HINT}")
    _refuse_binary(path, raw, encoding)
    enc = "utf-8-sig" if encoding.lower().replace("_", "-") in {"utf-8", "utf8"} else encoding
    try:
        return raw.decode(enc)
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise UserError(
            f"data file {path} is not valid {encoding}: undecodable byte {raw[err.start : err.start + 1]!r} "
            f"at line {line} — re-save it as UTF-8 or set data.encoding=latin-1"
        ) from err


def _parse(path: Path, text: str, spec: DataSpec) -> pd.DataFrame:
    try:
        df = pd.read_csv(
            io.StringIO(text),
            sep=spec.sep,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            quoting=csv.QUOTE_MINIMAL,
            engine="python" if len(spec.sep) > 1 else "c",
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        hint = _sep_hint(text.split("\n", 1)[0], spec.sep) or (
            "check the file, or set data.sep (e.g. data.sep='\\t' for TSV)"
        )
        raise UserError(
            f"{path} is not a valid delimited file with sep={spec.sep!r}: {first} — {hint}"
        ) from err
    if df.empty:
        raise UserError(f"data file has a header but no rows: {path} — {GET_DATA_HINT}")
    return df


def _check_columns(path: Path, df: pd.DataFrame, spec: DataSpec) -> None:
    wanted = [spec.text_col, spec.label_col, *spec.extra_text_cols]
    missing = [c for c in wanted if c not in df.columns]
    if not missing:
        return
    cols = list(df.columns)
    hint = "set data.text_col / data.label_col to the right names"
    if len(cols) == 1:
        hint = _sep_hint(str(cols[0]), spec.sep) or (
            f"only one column was found with sep={spec.sep!r}: is this a CSV? set data.sep"
        )
    raise UserError(
        f"{path}: missing column(s) {missing}; the file has columns {cols[:10]} — {hint}"
    )


def _labels(path: Path, df: pd.DataFrame, spec: DataSpec) -> pd.Series:
    raw = df[spec.label_col]
    missing = raw.isna()
    if missing.any():
        raise UserError(
            f"{path}: column {spec.label_col!r} has empty labels at data rows {_rows(missing)} "
            f"— fill or remove those rows"
        )
    if spec.label_map:
        mapping = {str(k).strip(): int(v) for k, v in spec.label_map.items()}
        bad_targets = sorted({v for v in mapping.values() if v not in (0, 1)})
        if bad_targets:
            raise UserError(
                f"data.label_map maps to {bad_targets}; only binary labels 0/1 are supported "
                f"(multi-class is refused: map every raw label to 0 or 1)"
            )
        stripped = raw.str.strip()
        labels = stripped.map(mapping)
        unmapped = labels.isna()
        if unmapped.any():
            values = sorted(stripped[unmapped].unique())[:5]
            raise UserError(
                f"{path}: column {spec.label_col!r} has values {values} not in data.label_map "
                f"{sorted(mapping)} at data rows {_rows(unmapped)} — extend data.label_map"
            )
        return labels.astype(int)
    numeric = pd.to_numeric(raw.str.strip(), errors="coerce")
    bad = ~numeric.isin([0, 1])
    if bad.any():
        values = sorted(raw[bad].unique().tolist())[:5]
        raise UserError(
            f"{path}: column {spec.label_col!r} must hold 0/1 labels but has {values} at data rows "
            f"{_rows(bad)} — fix them or map them with data.label_map (e.g. "
            f"'data.label_map={{ham: 0, spam: 1}}'); multi-class labels are not supported"
        )
    return numeric.astype(int)


def _texts(path: Path, df: pd.DataFrame, spec: DataSpec) -> tuple[pd.Series, pd.Series]:
    """The model input text and the mask of rows whose own text is empty, NaN or blank."""
    text = df[spec.text_col].fillna("")
    empty = text.str.strip() == ""
    if spec.normalize == "tweet":
        text = text.map(normalize_tweet)
    elif spec.normalize != "none":
        raise UserError(f"unknown data.normalize={spec.normalize!r} — use none or tweet")
    if spec.extra_text_cols:
        parts = [df[c].fillna("").map(lambda s: unquote(str(s))) for c in spec.extra_text_cols]
        prefix = parts[0]
        for p in parts[1:]:
            prefix = prefix.str.cat(p, sep=" ")
        prefix = prefix.str.strip()
        text = (prefix + " | " + text).where(prefix != "", text)
    return text, empty


def _ids(path: Path, df: pd.DataFrame, spec: DataSpec) -> pd.Series:
    if not spec.id_col or spec.id_col not in df.columns:
        return pd.Series([str(i) for i in range(len(df))], index=df.index)
    ids = df[spec.id_col].fillna("").str.strip()
    blank = ids == ""
    if blank.any():
        raise UserError(
            f"{path}: id column {spec.id_col!r} is empty at data rows {_rows(blank)} — "
            f"fill the ids or set data.id_col=null to number the rows"
        )
    dup = ids.duplicated(keep=False)
    if dup.any():
        raise UserError(
            f"{path}: id column {spec.id_col!r} has duplicated ids {sorted(ids[dup].unique())[:5]} "
            f"at data rows {_rows(dup)} — ids must be unique (holdout files and predictions use "
            f"them); de-duplicate the file or set data.id_col=null"
        )
    return ids


def load_dataset(spec: DataSpec) -> pd.DataFrame:
    """Read, validate and clean: columns ``id`` (str), ``text`` (str), ``label`` (0/1 int).

    Rows whose text is empty/NaN/blank are dropped with a counted warning (``empty_text=drop``)
    or refused (``empty_text=fail``). The index is reset, so positions are stable row numbers.
    """
    path = Path(spec.path).expanduser()
    if spec.sep in _ESCAPED_SEPS:  # data.sep='\t' from a shell arrives as backslash + t
        spec = replace(spec, sep=_ESCAPED_SEPS[spec.sep])
    if not spec.sep:
        raise UserError("data.sep is empty — use ',' (CSV) or '\\t' (TSV)")
    if spec.empty_text not in {"drop", "fail"}:
        raise UserError(f"unknown data.empty_text={spec.empty_text!r} — use drop or fail")
    df = _parse(path, read_text_file(path, spec.encoding), spec)
    _check_columns(path, df, spec)
    ids = _ids(path, df, spec)
    labels = _labels(path, df, spec)
    text, empty = _texts(path, df, spec)
    if empty.any():
        if spec.empty_text == "fail":
            raise UserError(
                f"{path}: column {spec.text_col!r} is empty/blank at data rows {_rows(empty)} — "
                f"fix them or set data.empty_text=drop"
            )
        log.warning("dropped %d row(s) with empty text (data rows %s)", empty.sum(), _rows(empty))
    out = pd.DataFrame({"id": ids, "text": text, "label": labels})[~empty].reset_index(drop=True)
    counts = out["label"].value_counts()
    if len(counts) < 2:
        only = int(counts.index[0]) if len(counts) else "none"
        raise UserError(
            f"{path}: column {spec.label_col!r} has a single class ({only}) after cleaning — "
            f"a classifier needs both 0 and 1 examples"
        )
    return out


def file_sha256(path: str | Path) -> str:
    """Content hash of a file (cache keys, provenance)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


#: Public names for predict: unlabelled files are parsed and prepared exactly as training data.
parse_table = _parse
prepare_texts = _texts
