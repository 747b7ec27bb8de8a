"""Validated loading: one test per bad-input class, each checking the one-line message."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from bertfreeze.data import DataSpec, file_sha256, load_dataset, normalize_tweet
from bertfreeze.errors import UserError
from bertfreeze.splits import make_split, read_holdout_ids

HEADER = "id,keyword,location,text,target\n"
GOOD_ROWS = "1,,,Forest fire near La Ronge,1\n2,,,I love fruits,0\n3,,,Flood warning,1\n"


def load(path: Path, **kwargs) -> pd.DataFrame:
    return load_dataset(DataSpec(path=str(path), **kwargs))


def user_error(path: Path, **kwargs) -> str:
    with pytest.raises(UserError) as info:
        load(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message, "user errors are one line"
    return message


# --- file-level problems ------------------------------------------------------------------------


def test_good_file_loads(write_file):
    df = load(write_file("ok.csv", HEADER + GOOD_ROWS))
    assert list(df.columns) == ["id", "text", "label"]
    assert df["id"].tolist() == ["1", "2", "3"]
    assert df["label"].tolist() == [1, 0, 1]
    assert df["label"].dtype.kind == "i"


def test_missing_file(tmp_path):
    msg = user_error(tmp_path / "nope.csv")
    assert "not found" in msg and "nope.csv" in msg and "data.path" in msg


def test_directory(tmp_path):
    msg = user_error(tmp_path)
    assert "is a directory" in msg


def test_empty_file(write_file):
    assert "is empty" in user_error(write_file("empty.csv", ""))
    assert "is empty" in user_error(write_file("blank.csv", " \n\n"))


def test_header_only(write_file):
    assert "header but no rows" in user_error(write_file("header.csv", HEADER))


def test_wrong_delimiter(write_file):
    text = HEADER.replace(",", ";") + GOOD_ROWS.replace(",", ";")
    msg = user_error(write_file("semi.csv", text))
    assert "';'-separated" in msg and "data.sep=';'" in msg


def test_wrong_delimiter_with_commas_in_text(write_file):
    text = "id;text;target\n1;hello, you;1\n2;a, b, c;0\n"
    msg = user_error(write_file("semi.csv", text))
    assert "data.sep=';'" in msg


def test_tsv_read_with_comma_sep(write_file):
    msg = user_error(write_file("x.tsv", "id\ttext\ttarget\n1\thi\t1\n2\tyo\t0\n"))
    assert "data.sep='\\t'" in msg


def test_escaped_tab_separator(write_file):
    path = write_file("x.tsv", "id\ttext\ttarget\n1\thi, there\t1\n2\tyo\t0\n")
    for sep in ("\t", "\\t"):  # a real tab, and backslash-t as typed in data.sep='\t'
        assert load(path, sep=sep)["text"].tolist() == ["hi, there", "yo"]
    assert "data.sep is empty" in user_error(path, sep="")


def test_binary_garbage(write_file):
    msg = user_error(write_file("garbage.csv", bytes(range(256)) * 8))
    assert "binary" in msg


def test_zip_archive(write_file):
    msg = user_error(write_file("train.zip", b"PK\x03\x04" + b"\x00\x10" * 100))
    assert "compressed archive" in msg and "unzip" in msg


def test_utf16_file(write_file):
    content = (HEADER + GOOD_ROWS).encode("utf-16")
    msg = user_error(write_file("u16.csv", content))
    assert "UTF-16" in msg and "data.encoding=utf-16" in msg
    assert len(load(write_file("u16b.csv", content), encoding="utf-16")) == 3


def test_random_text_not_csv(write_file):
    prose = "The quick brown fox\njumps over, the lazy dog\nand then, it, ran away\n"
    msg = user_error(write_file("prose.txt", prose))
    assert "not a valid delimited file" in msg


def test_random_text_one_column(write_file):
    msg = user_error(write_file("prose.txt", "just some words\nmore words here\n"))
    assert "missing column(s)" in msg and "is this a CSV" in msg


def test_undecodable_bytes_names_the_line(write_file):
    content = (HEADER + GOOD_ROWS).encode() + b"4,,,caf\xe9 au lait,0\n"
    msg = user_error(write_file("latin.csv", content))
    assert "not valid utf-8" in msg and "line 5" in msg and "latin-1" in msg
    df = load(write_file("latin2.csv", content), encoding="latin-1")
    assert df["text"].iloc[-1] == "café au lait"


def test_utf8_bom_loads(write_file):
    df = load(write_file("bom.csv", "\ufeff" + HEADER + GOOD_ROWS))
    # the BOM must not stick to the first column name: the file's ids are used, not row numbers
    assert df["id"].tolist() == ["1", "2", "3"]
    assert len(df) == 3
    # BOM before the text column itself (no id column): still found by name
    df = load(write_file("bom2.csv", "\ufefftext,target\nhello,1\nbye,0\n"), id_col=None)
    assert df["text"].tolist() == ["hello", "bye"]


def test_embedded_newlines_and_quotes(write_file):
    text = HEADER + (
        '1,,,"Line one\nline two, with comma",1\n'
        '2,,,"He said ""run"" now",0\n'
        '3,,,"multi\r\nline ""quoted"", text",1\n'
        "4,,,plain,0\n"
    )
    df = load(write_file("quotes.csv", text))
    assert df["text"].tolist() == [
        "Line one\nline two, with comma",
        'He said "run" now',
        'multi\r\nline "quoted", text',
        "plain",
    ]
    assert df["label"].tolist() == [1, 0, 1, 0]


# --- column and label problems -------------------------------------------------------------------


def test_missing_text_column(write_file):
    msg = user_error(write_file("x.csv", "id,tweet,target\n1,a,1\n2,b,0\n"))
    assert "missing column(s) ['text']" in msg and "tweet" in msg and "data.text_col" in msg


def test_missing_label_column(write_file):
    msg = user_error(write_file("x.csv", "id,text,label\n1,a,1\n2,b,0\n"))
    assert "missing column(s) ['target']" in msg and "data.label_col" in msg


def test_labels_outside_binary(write_file):
    msg = user_error(write_file("x.csv", HEADER + GOOD_ROWS + "4,,,x,2\n5,,,y,yes\n"))
    assert "must hold 0/1 labels" in msg and "'2'" in msg and "'yes'" in msg
    assert "rows 4, 5" in msg and "label_map" in msg


def test_empty_label(write_file):
    msg = user_error(write_file("x.csv", HEADER + GOOD_ROWS + "4,,,x,\n"))
    assert "empty labels" in msg and "rows 4" in msg


def test_label_map_unmappable_strings(write_file):
    path = write_file("sms.tsv", "Label\tSMS\nham\thi\nspam\twin\nmaybe\tfoo\n")
    msg = user_error(path, sep="\t", text_col="SMS", label_col="Label", id_col=None,
                     label_map={"ham": 0, "spam": 1})  # fmt: skip
    assert "['maybe']" in msg and "not in data.label_map" in msg and "row" in msg


def test_label_map_to_two_is_multiclass(write_file):
    path = write_file("sms.tsv", "Label\tSMS\nham\thi\nspam\twin\nother\tfoo\n")
    msg = user_error(path, sep="\t", text_col="SMS", label_col="Label", id_col=None,
                     label_map={"ham": 0, "spam": 1, "other": 2})  # fmt: skip
    assert "[2]" in msg and "multi-class" in msg


def test_label_map_ok(write_file):
    path = write_file("sms.tsv", "Label\tSMS\nham\thi\nspam\twin\n ham \tyo\n")
    df = load(path, sep="\t", text_col="SMS", label_col="Label", id_col=None,
              label_map={"ham": 0, "spam": 1})  # fmt: skip
    assert df["label"].tolist() == [0, 1, 0]
    assert df["id"].tolist() == ["0", "1", "2"]


def test_label_map_non_integer_from_cfg():
    cfg = OmegaConf.create({"path": "x.csv", "label_map": {"ham": "zero", "spam": 1}})
    with pytest.raises(UserError, match="must map raw labels to 0 or 1"):
        DataSpec.from_cfg(cfg)


def test_missing_mandatory_path_from_cfg():
    with pytest.raises(UserError, match="data.path is not set"):
        DataSpec.from_cfg(OmegaConf.create({"path": "???", "sep": ","}))


def test_one_class_only(write_file):
    msg = user_error(write_file("x.csv", HEADER + "1,,,a,1\n2,,,b,1\n"))
    assert "single class (1)" in msg


def test_one_class_left_after_dropping_empty_texts(write_file):
    msg = user_error(write_file("x.csv", HEADER + "1,,,a,1\n2,,,  ,0\n"))
    assert "single class" in msg and "after cleaning" in msg


# --- texts -----------------------------------------------------------------------------------------

EMPTY_TEXTS = HEADER + GOOD_ROWS + '4,,,,0\n5,,,"   ",1\n6,,,"\t",0\n'


def test_empty_texts_dropped_with_count(write_file, caplog):
    with caplog.at_level(logging.WARNING, logger="bertfreeze.data"):
        df = load(write_file("x.csv", EMPTY_TEXTS))
    assert len(df) == 3 and df["id"].tolist() == ["1", "2", "3"]
    assert df.index.tolist() == [0, 1, 2]
    assert "dropped 3 row(s) with empty text" in caplog.text and "4, 5, 6" in caplog.text


def test_empty_texts_fail(write_file):
    msg = user_error(write_file("x.csv", EMPTY_TEXTS), empty_text="fail")
    assert "empty/blank" in msg and "rows 4, 5, 6" in msg and "empty_text=drop" in msg


def test_unknown_empty_text_option(write_file):
    assert "data.empty_text" in user_error(write_file("x.csv", EMPTY_TEXTS), empty_text="keep")


def test_duplicated_ids(write_file):
    msg = user_error(write_file("x.csv", HEADER + GOOD_ROWS + "2,,,again,0\n"))
    assert "duplicated ids ['2']" in msg and "rows 2, 4" in msg and "id_col=null" in msg


def test_duplicated_ids_allowed_when_numbering_rows(write_file):
    df = load(write_file("x.csv", HEADER + GOOD_ROWS + "2,,,again,0\n"), id_col=None)
    assert df["id"].tolist() == ["0", "1", "2", "3"]


def test_normalize_tweet(write_file):
    text = HEADER + (
        '1,,,"Storm &amp; flood http://t.co/AbC123 now",1\n2,,,see www.example.com &lt;3,0\n'
    )
    path = write_file("x.csv", text)
    assert load(path)["text"].tolist()[0] == "Storm &amp; flood http://t.co/AbC123 now"
    df = load(path, normalize="tweet")
    assert df["text"].tolist() == ["Storm & flood http now", "see http <3"]
    assert normalize_tweet("a &amp; b https://x.y/z") == "a & b http"
    assert "data.normalize" in user_error(path, normalize="lower")


def test_extra_text_cols_join_keyword(write_file):
    text = HEADER + "1,forest%20fire,,Look at that,1\n2,,,No keyword here,0\n"
    df = load(write_file("x.csv", text), extra_text_cols=("keyword",))
    assert df["text"].tolist() == ["forest fire | Look at that", "No keyword here"]


def test_extra_text_col_missing(write_file):
    msg = user_error(write_file("x.csv", HEADER + GOOD_ROWS), extra_text_cols=("kw",))
    assert "missing column(s) ['kw']" in msg


# --- holdout ids -----------------------------------------------------------------------------------


def test_holdout_ids_not_in_data(write_file):
    df = load(write_file("x.csv", HEADER + GOOD_ROWS))
    ids = write_file("holdout.csv", "id\n1\n99\n")
    with pytest.raises(UserError, match=r"names 1 id\(s\) not in the data \(first: \['99'\]\)"):
        read_holdout_ids(ids, df["id"])
    with pytest.raises(UserError, match="not in the data"):
        make_split(df, {"holdout_ids": str(ids), "val_size": 0})


def test_holdout_ids_file_problems(write_file, tmp_path):
    df = load(write_file("x.csv", HEADER + GOOD_ROWS))
    with pytest.raises(UserError, match="holdout ids file not found"):
        read_holdout_ids(tmp_path / "none.csv", df["id"])
    with pytest.raises(UserError, match="needs a column 'id'"):
        read_holdout_ids(write_file("h1.csv", "tweet_id\n1\n"), df["id"])
    with pytest.raises(UserError, match="not a one-column CSV"):
        read_holdout_ids(write_file("h2.csv", ""), df["id"])
    with pytest.raises(UserError, match="lists no ids"):
        read_holdout_ids(write_file("h3.csv", "id\n"), df["id"])


def test_file_sha256(write_file):
    path = write_file("x.csv", "abc")
    assert file_sha256(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_real_tweets_load(real_data_path):
    df = load(real_data_path)
    assert len(df) == 7613 and set(df["label"]) == {0, 1}
    assert df["id"].is_unique


# --- through the CLI: exit 2, one line, no traceback, no run dir left behind ---------------------

CLI_CASES = {
    "missing_file": (None, "not found"),
    "wrong_delimiter": (HEADER.replace(",", ";") + GOOD_ROWS.replace(",", ";"), "data.sep=';'"),
    "labels_outside_binary": (HEADER + GOOD_ROWS + "4,,,x,7\n", "must hold 0/1 labels"),
    "undecodable": ((HEADER + "1,,,caf\xe9,1\n2,,,b,0\n").encode("latin-1"), "line 2"),
    "binary": (bytes(range(256)) * 4, "binary"),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_cli_bad_data_exits_2_and_leaves_nothing(case, tmp_path, write_file, run_cli):
    content, expected = CLI_CASES[case]
    path = tmp_path / "missing.csv" if content is None else write_file("bad.csv", content)
    out_root = tmp_path / "outputs"
    proc = run_cli(
        "bertfreeze.cli.baselines", f"data.path='{path}'", f"hydra.run.dir='{out_root}/run'"
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert expected in lines[0]
    assert not (out_root / "run").exists()
    assert not out_root.exists() or list(out_root.iterdir()) == []
