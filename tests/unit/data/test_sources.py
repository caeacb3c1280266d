"""gate_core.data.sources: chunk boundaries, shards, order, invalid rows and SDF records of a
file read in pieces, for every format the streaming predict reads."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rdkit import Chem

from gate_core.data.io import TableReadError
from gate_core.data.sources import DelimitedSource, ParquetSource, SDFSource, Shard, open_source

SMILES = ["CCO", "c1ccccc1O", "CC(=O)O", "not-a-smiles", "CCN", "", "CCCC", "OCCO", "C1CC", "CCCl"]


def _items(source, size: int, shard: Shard = Shard(), columns=()) -> list[tuple[int, list]]:
    return [(c.start, c.items) for c in source.chunks(size, shard, columns)]


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "lib.csv"
    pd.DataFrame({"id": range(len(SMILES)), "smiles": SMILES, "Tb_K": [351.4] + [None] * 9}).to_csv(
        path, index=False
    )
    return path


@pytest.mark.parametrize("text, expected", [("0/1", Shard(0, 1)), ("2/3", Shard(2, 3))])
def test_shard_parse(text: str, expected: Shard) -> None:
    assert Shard.parse(text) == expected


@pytest.mark.parametrize("text", ["3/3", "-1/2", "1", "a/b", "1/0", ""])
def test_shard_parse_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="K/N"):
        Shard.parse(text)


@pytest.mark.parametrize("n_chunks", [0, 1, 2, 5, 7, 100])
@pytest.mark.parametrize("count", [1, 2, 3, 8])
def test_shards_partition_the_chunks_in_order(n_chunks: int, count: int) -> None:
    numbers = [c for k in range(count) for c in Shard(k, count).chunks(n_chunks)]
    assert numbers == list(range(n_chunks))


def test_csv_chunks_keep_every_row_in_order(csv_file: Path) -> None:
    source = open_source(csv_file)
    assert (
        isinstance(source, DelimitedSource)
        and source.smiles_column == "smiles"
        and source.n_rows == 10
    )
    chunks = _items(source, 3)
    assert [start for start, _ in chunks] == [0, 3, 6, 9]
    assert [s for _, items in chunks for s in items] == SMILES  # the invalid and the blank row too


def test_csv_shards_read_whole_chunks(csv_file: Path) -> None:
    source = open_source(csv_file)
    assert _items(source, 3, Shard(1, 2)) == [(6, SMILES[6:9]), (9, SMILES[9:])]
    assert _items(source, 3, Shard(0, 2)) == [(0, SMILES[0:3]), (3, SMILES[3:6])]
    assert _items(source, 100, Shard(0, 2)) == []  # one chunk for two shards: one of them is empty
    assert _items(source, 100, Shard(1, 2)) == [(0, SMILES)]


def test_known_value_columns_are_read_per_row(csv_file: Path) -> None:
    source = open_source(csv_file)
    assert source.filled(["Tb_K", "id", "missing"]) == ["Tb_K", "id"]
    chunk = next(source.chunks(4, columns=["Tb_K"]))
    assert chunk.columns == {"Tb_K": ["351.4", None, None, None]}


def test_decimal_commas_in_a_semicolon_file(tmp_path: Path) -> None:
    path = tmp_path / "comma.csv"
    path.write_text("smiles;Tb_K\nCCO;351,4\nCCN;\n")
    assert next(open_source(path).chunks(10, columns=["Tb_K"])).columns == {"Tb_K": [351.4, None]}


def test_headerless_list_keeps_its_first_molecule(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("CCO\nc1ccccc1\nCCN\n")
    source = open_source(path)
    assert source.n_rows == 3 and _items(source, 2) == [(0, ["CCO", "c1ccccc1"]), (2, ["CCN"])]


def test_utf16_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "u16.csv"
    path.write_bytes("smiles,value\nCCO,1\nCCN,2\n".encode("utf-16"))
    assert _items(open_source(path), 10) == [(0, ["CCO", "CCN"])]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"smiles,value\nCCO,1\nCCN,2,3\n", "data rows 2"),
        (b"smiles,value\n", "no data rows"),
        (b"", "empty"),
        (bytes(range(256)) * 4, "not text"),
    ],
)
def test_bad_files_are_refused_before_any_row(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(TableReadError, match=message):
        open_source(path)


def test_named_smiles_column_must_exist(csv_file: Path) -> None:
    with pytest.raises(TableReadError, match="column 'nope' not found"):
        open_source(csv_file, smiles_column="nope")


def test_parquet_chunks_cross_row_groups(tmp_path: Path, csv_file: Path) -> None:
    path = tmp_path / "lib.parquet"
    pq.write_table(
        pa.table({"smiles": SMILES, "Tb_K": [351.4] + [None] * 9}), path, row_group_size=4
    )
    source = open_source(path)
    assert isinstance(source, ParquetSource) and source.n_rows == 10
    csv = open_source(csv_file)
    for size in (1, 3, 4, 7):
        for shard in (Shard(), Shard(0, 3), Shard(1, 3), Shard(2, 3)):
            assert _items(source, size, shard) == _items(csv, size, shard), (size, shard)
    assert source.filled(["Tb_K", "smiles"]) == ["Tb_K", "smiles"]
    assert next(source.chunks(2, columns=["Tb_K"])).columns == {"Tb_K": [351.4, None]}


def _sdf(path: Path, smiles: list[str], broken: set[int]) -> Path:
    blocks = []
    for i, s in enumerate(smiles):
        if i in broken:
            blocks.append("broken\n  no atoms here\n\nM  END\n> <Tb_K>\n1\n\n")
            continue
        mol = Chem.MolFromSmiles(s)
        mol.SetProp("_Name", f"mol{i}")
        if i == 0:
            mol.SetProp("Tb_K", "351.4")
        blocks.append(Chem.MolToMolBlock(mol) + ("> <Tb_K>\n351.4\n\n" if i == 0 else ""))
    path.write_text("".join(b + "$$$$\n" for b in blocks))
    return path


def test_sdf_records_are_rows_and_a_broken_one_stays(tmp_path: Path) -> None:
    path = _sdf(tmp_path / "lib.sdf", ["CCO", "CCN", "CCC", "c1ccccc1", "CO"], broken={2})
    source = open_source(path)
    assert isinstance(source, SDFSource) and source.n_rows == 5 and source.sdf
    chunks = list(source.chunks(2, columns=["Tb_K"]))
    assert [c.start for c in chunks] == [0, 2, 4]
    assert [len(c.items) for c in chunks] == [2, 2, 1]
    assert chunks[0].items[0].startswith("mol0") and chunks[1].items[0].startswith("broken")
    assert chunks[0].columns == {"Tb_K": ["351.4", None]}
    # the second of two shards: chunks 1-2 of 3
    assert _items(source, 2, Shard(1, 2)) == [(c.start, c.items) for c in chunks[1:]]
