"""Seeded generators of bad uploads and bad task archives (issue 14).

Why generated: the hand-written cases below are every failure the issue reported; the seeded
mutations around them find the next one. Grow :func:`issue_uploads` / :func:`issue_archives`
with each new failure. Everything is small (kilobytes), so the suite runs in seconds.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pandas as pd
from rdkit import Chem

SEED = 14
GIANT = "C" * 20_000  # RDKit's canonical SMILES writer overflowed the stack on it (signal 11)
MOLECULES = [
    "CCO",
    "c1ccccc1",
    "CC(=O)O",
    "CCN",
    "CCCl",
    "c1ccccc1O",
    "CC(C)O",
    "C1CCCCC1",
    "CCOC",
    "OCCO",
    "CC#N",
    "c1ccncc1",
    "Nc1ccccc1",
    "CCCCO",
    "ClCCl",
    "CC(=O)OC",
    "CCS",
    "C=CC",
    "CCCBr",
    "FC(F)F",
    "CC(C)(C)O",
    "O=C=O",
    "c1ccc2ccccc2c1",
    "CN(C)C",
    "CCCCCCCC",
    "OC(=O)c1ccccc1",
    "CC(N)C(=O)O",
    "C1CCOC1",
]
#: Inputs that are not molecules, or that a careless user pastes: metals, salts, huge ones, garbage.
BAD_SMILES = [
    "",
    "nan",
    "not a smiles",
    "C1CC(",
    "[Na+].[Cl-]",
    "[Fe]",
    "[U]",
    GIANT,
    "C" * 1_001,
    "c1" * 300,
    "C" * 500,
    "CC(=O)[O-].[Na+]",
    "=cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "+1",
    "-1",
    "\x00",
    "C\u200bC",
    "🙂",
    "C" * 10_001,
]
#: Label cells that must never train a model: beyond float32 squares, not finite, not numbers.
BAD_LABELS = [
    "1e39",
    "1e308",
    "-1e30",
    "inf",
    "-inf",
    "nan",
    "",
    "n/a",
    "1_000",
    "1,5",
    "=1+1",
    "0x10",
    "1e-400x",
]


@dataclass
class Upload:
    """A file as a user would upload it; ``molecules`` = rows that hold a usable molecule, when known."""

    name: str
    filename: str
    data: bytes
    molecules: int | None = None
    refused: bool | None = None  # True: the file must be refused as a whole; None: either way
    sheet: str | None = None


def _csv(
    rows: list[tuple[object, object]], header: str | None = "smiles,value", sep: str = ","
) -> bytes:
    lines = ([header.replace(",", sep)] if header else []) + [f"{s}{sep}{v}" for s, v in rows]
    return ("\n".join(lines) + "\n").encode()


def _sdf(smiles: list[str], broken_at: set[int] = frozenset()) -> bytes:
    out = []
    for i, s in enumerate(smiles):
        if i in broken_at:  # a counts line that claims more atoms than follow
            out.append("broken\n  junk\n\n  9  8  0  0  0  0  0  0  0  0999 V2000\nM  END\n$$$$\n")
            continue
        block = Chem.MolToMolBlock(Chem.MolFromSmiles(s))
        out.append(block + f">  <value>\n{i}\n\n$$$$\n")
    return "".join(out).encode()


def _excel(frames: dict[str, pd.DataFrame], header: bool = True) -> bytes:
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer) as writer:
        for sheet, frame in frames.items():
            frame.to_excel(writer, sheet_name=sheet, index=False, header=header)
    return buffer.getvalue()


def issue_uploads() -> list[Upload]:
    """Every upload the issue reported, by name."""
    good = [(s, i * 0.5) for i, s in enumerate(MOLECULES)]
    n = len(good)
    first_extra = _csv(good).replace(b"\nCCO,0.0\n", b"\nCCO,0.0,surplus\n")
    return [
        Upload("giant-chain-row", "giant.csv", _csv([*good[:5], (GIANT, 1.0), *good[5:]]), n),
        Upload("giant-chain-only", "giant.csv", _csv([(GIANT, 1.0)]), 0),
        Upload("headerless", "headerless.csv", _csv(good, header=None), n),
        Upload("headerless-smiles-list", "list.txt", ("\n".join(MOLECULES) + "\n").encode(), n),
        Upload("sdf-broken-record-before-good", "broken.sdf", _sdf(MOLECULES[:6], {2}), 5),
        Upload("first-row-extra-field", "ragged.csv", first_extra, refused=True),
        Upload(
            "header-200000-columns",
            "wide.csv",
            (",".join("c" * 200_000) + "\n1\n").encode(),
            refused=True,
        ),
        Upload(
            "header-2mb-line",
            "long.csv",
            (",".join(f"col{i}" for i in range(200_000)) + "\n").encode(),
            refused=True,
        ),
        Upload(
            "labels-beyond-float32",
            "huge.csv",
            _csv([(s, v) for (s, _), v in zip(good, ["1e39", "1e308", "-1e30"] * n)]),
            n,
        ),
        Upload(
            "csv-injection",
            "inject.csv",
            _csv([("=cmd|' /C calc'!A0", 1), ("@SUM(1+1)", 2), *good]),
            n,
        ),
        Upload("utf16-bom", "utf16.csv", _csv(good).decode().encode("utf-16"), n),
        Upload("utf16-le-no-bom", "utf16le.csv", _csv(good).decode().encode("utf-16-le"), n),
        Upload("utf8-bom", "bom.csv", b"\xef\xbb\xbf" + _csv(good), n),
        Upload(
            "decimal-commas",
            "comma.csv",
            _csv([(s, str(v).replace(".", ",")) for s, v in good], sep=";"),
            n,
        ),
        Upload(
            "underscore-number",
            "under.csv",
            _csv([(s, "1_000") for s, _ in good[:3]] + good[3:]),
            n,
        ),
        Upload(
            "conflicting-duplicates",
            "dup.csv",
            _csv([(s, 0) for s, _ in good] + [(s, 1) for s, _ in good]),
            2 * n,
        ),
        Upload(
            "xls-garbage", "book.xls", b"\xd0\xcf\x11\xe0" + bytes(range(256)) * 4, refused=True
        ),
        Upload(
            "excel-second-sheet",
            "book.xlsx",
            _excel(
                {
                    "notes": pd.DataFrame({"x": [1]}),
                    "data": pd.DataFrame(good, columns=["smiles", "value"]),
                }
            ),
            n,
            sheet="data",
        ),
        Upload(
            "excel-headerless", "book.xlsx", _excel({"data": pd.DataFrame(good)}, header=False), n
        ),
        Upload(
            "metals-and-salts",
            "salts.csv",
            _csv([("[Na+].[Cl-]", 1), ("[Fe]", 2), ("CC(=O)[O-].[Na+]", 3), *good]),
            None,
        ),
        Upload("500-atom-molecule", "big.csv", _csv([("C" * 500, 1), *good]), n + 1),
        Upload("empty", "empty.csv", b"", refused=True),
        Upload("binary", "binary.csv", bytes(range(256)) * 16, refused=True),
        Upload("header-only", "header.csv", b"smiles,value\n", refused=True),
    ]


def _mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        action = rng.choice(
            ["flip", "insert", "delete", "truncate", "nul", "newline", "quote", "sep"]
        )
        pos = rng.randrange(len(data)) if data else 0
        if action == "flip" and data:
            data[pos] = rng.randrange(256)
        elif action == "insert":
            data[pos:pos] = rng.choice(
                [b",", b";", b"\t", b'"', b"\r", b"\n", "é".encode(), b"\xff\xfe", b"$$$$\n"]
            )
        elif action == "delete" and data:
            del data[pos : pos + rng.randint(1, 20)]
        elif action == "truncate":
            del data[pos:]
        elif action == "nul":
            data[pos:pos] = b"\x00"
        elif action == "newline":
            data[pos:pos] = b"\n\n"
        elif action == "quote":
            data[pos:pos] = b'"'
        elif action == "sep":
            data = bytearray(bytes(data).replace(b",", rng.choice([b";", b"\t", b"|", b",,"]), 1))
    return bytes(data)


def random_uploads(count: int, seed: int = SEED) -> Iterator[Upload]:
    """Seeded tables of good molecules mixed with bad ones, bad labels and byte-level damage."""
    rng = random.Random(seed)
    for i in range(count):
        rows = [
            (rng.choice(MOLECULES), round(rng.uniform(-5, 5), 3)) for _ in range(rng.randint(1, 40))
        ]
        for _ in range(rng.randint(0, 5)):
            rows.insert(
                rng.randrange(len(rows) + 1), (rng.choice(BAD_SMILES), rng.choice(BAD_LABELS))
            )
        kind = rng.choice(
            ["csv", "tsv", "headerless", "sdf", "xlsx", "damaged", "damaged", "utf16"]
        )
        if kind == "csv":
            yield Upload(f"random-{i}-csv", "r.csv", _csv(rows))
        elif kind == "tsv":
            yield Upload(f"random-{i}-tsv", "r.tsv", _csv(rows, sep="\t"))
        elif kind == "headerless":
            yield Upload(f"random-{i}-headerless", "r.csv", _csv(rows, header=None))
        elif kind == "utf16":
            yield Upload(
                f"random-{i}-utf16", "r.csv", _csv(rows).decode("utf-8", "replace").encode("utf-16")
            )
        elif kind == "sdf":
            good = [s for s, _ in rows if Chem.MolFromSmiles(s) is not None and s in MOLECULES] or [
                "CCO"
            ]
            yield Upload(
                f"random-{i}-sdf",
                "r.sdf",
                _sdf(good, {j for j in range(len(good)) if rng.random() < 0.2}),
            )
        elif kind == "xlsx":
            cells = [
                (str(s).replace("\x00", "?"), v) for s, v in rows
            ]  # a worksheet cannot hold NUL
            yield Upload(
                f"random-{i}-xlsx",
                "r.xlsx",
                _excel({"data": pd.DataFrame(cells, columns=["smiles", "value"]).astype(str)}),
            )
        else:
            yield Upload(
                f"random-{i}-damaged",
                rng.choice(["r.csv", "r.sdf", "r.txt", "r.xlsx"]),
                _mutate_bytes(rng, _csv(rows)),
            )


# ---- archives ------------------------------------------------------------------------------------


@dataclass
class BadArchive:
    """An archive derived from a good export; ``limits`` are temporary overrides of gate_core.limits."""

    name: str
    data: bytes
    import_name: str | None = None
    limits: dict[str, int] = field(default_factory=dict)


def read_members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def write_archive(
    members: dict[str, bytes], resign: bool = True, modes: dict[str, int] | None = None
) -> bytes:
    """A zip of ``members``; ``resign`` recomputes the manifest's checksums, as anyone can."""
    members = dict(members)
    if resign and "manifest.json" in members:
        try:
            manifest = json.loads(members["manifest.json"])
        except ValueError:  # a manifest replaced by junk stays junk
            manifest = None
        if isinstance(manifest, dict) and isinstance(manifest.get("members"), dict):
            manifest["members"] = {
                n: hashlib.sha256(d).hexdigest() for n, d in members.items() if n != "manifest.json"
            }
            members["manifest.json"] = json.dumps(manifest).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (modes or {}).get(name, 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, content)
    return buffer.getvalue()


def _edit_json(
    members: dict[str, bytes], member: str, change: Callable[[dict], None]
) -> dict[str, bytes]:
    value = json.loads(members[member])
    change(value)
    return {**members, member: json.dumps(value).encode()}


def issue_archives(good: bytes, backbone_task: str) -> list[BadArchive]:
    """Every archive the issue reported: imported with exit 0, then broke list, predict or memory."""
    m = read_members(good)

    def task_json(change: Callable[[dict], None]) -> bytes:
        return write_archive(_edit_json(m, "model/task.json", change))

    def manifest(change: Callable[[dict], None]) -> bytes:
        return write_archive(_edit_json(m, "manifest.json", lambda v: change(v["task"])))

    zeros = b"\0" * 3_000_000  # compresses to a few kB: a small zip bomb
    return [
        BadArchive("sizes-wrong-type", manifest(lambda t: t.update(sizes=["n", 1]))),
        BadArchive("metrics-wrong-type", manifest(lambda t: t.update(metrics={"test": "good"}))),
        BadArchive("unit-not-text", manifest(lambda t: t.update(unit={"a": 1}))),
        BadArchive("task-json-extra-keyword", task_json(lambda v: v["info"].update(colour="red"))),
        BadArchive("task-json-missing-key", task_json(lambda v: v.pop("domain"))),
        BadArchive(
            "task-json-4tb-allocation",
            task_json(lambda v: v["architecture"].update(hidden=2**20, latent_dim=2**20)),
        ),
        BadArchive("symlink-member", write_archive(m, modes={"model/task.json": 0o120777})),
        BadArchive(
            "zip-bomb",
            write_archive({**m, "dataset.csv": zeros}),
            limits={"MAX_ARCHIVE_MEMBER_BYTES": 1_000_000},
        ),
        BadArchive(
            "huge-dataset-member",
            write_archive({**m, "dataset.csv": zeros}),
            limits={"MAX_ARCHIVE_TOTAL_BYTES": 2_000_000},
        ),
        BadArchive("backbone-name", good, import_name=backbone_task),
        BadArchive("backbone-name-other-case", good, import_name=backbone_task.swapcase()),
    ]


_FIELD_VALUES = [
    None,
    0,
    -1,
    10**30,
    1e308,
    "x",
    "",
    [],
    {},
    [1, 2],
    {"a": "b"},
    True,
    "../../etc",
    "=cmd|' /C calc'!A0",
]


def _random_path(rng: random.Random, value: object, depth: int = 0) -> list:
    if isinstance(value, dict) and value and depth < 3 and rng.random() < 0.7:
        key = rng.choice(sorted(value))
        return [key, *_random_path(rng, value[key], depth + 1)]
    return []


def _set_path(value: dict, path: list, new: object) -> None:
    for key in path[:-1]:
        value = value[key]
    if path:
        value[path[-1]] = new


def random_archives(good: bytes, count: int, seed: int = SEED) -> Iterator[BadArchive]:
    """Seeded damage to a good export: a field of the manifest or the model's metadata set to a
    wrong value (checksums recomputed), an unknown key, a byte flipped, truncation, odd members."""
    rng = random.Random(seed)
    members = read_members(good)
    for i in range(count):
        kind = rng.choice(["manifest", "task-json", "unknown-key", "flip", "truncate", "member"])
        if kind in ("manifest", "task-json"):
            member = "manifest.json" if kind == "manifest" else "model/task.json"
            value = json.loads(members[member])
            path = _random_path(rng, value) or [rng.choice(sorted(value))]
            _set_path(value, path, rng.choice(_FIELD_VALUES))
            yield BadArchive(
                f"random-{i}-{kind}-{'/'.join(map(str, path))}",
                write_archive({**members, member: json.dumps(value).encode()}),
            )
        elif kind == "unknown-key":
            member = rng.choice(["manifest.json", "model/task.json"])
            value = json.loads(members[member])
            target = value
            for key in _random_path(rng, value):
                target = target[key] if isinstance(target[key], dict) else target
            target[f"surprise_{i}"] = rng.choice(_FIELD_VALUES)
            yield BadArchive(
                f"random-{i}-unknown-key-{member}",
                write_archive({**members, member: json.dumps(value).encode()}),
            )
        elif kind == "flip":
            data = bytearray(good)
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            yield BadArchive(f"random-{i}-flip", bytes(data))
        elif kind == "truncate":
            yield BadArchive(f"random-{i}-truncate", good[: rng.randrange(len(good))])
        else:
            name = rng.choice(
                [
                    "model/../../escape.txt",
                    "/abs.txt",
                    "model/dir/",
                    "model/extra.bin",
                    "dataset.csv",
                    "manifest.json",
                    "C:/x",
                ]
            )
            yield BadArchive(
                f"random-{i}-member-{name}",
                write_archive(
                    {**members, name: b"x" * rng.randint(0, 100)}, resign=rng.random() < 0.5
                ),
            )
