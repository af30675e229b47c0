"""scripts/atari_py_roms.py: unpack atari-py 0.2.6's ROMs from its source archive, checked by SHA-256."""

from __future__ import annotations

import hashlib
import io
import sys
import tarfile
from pathlib import Path

import ale_py.roms
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import atari_py_roms  # noqa: E402

PONG = Path(str(ale_py.roms.get_rom_path("pong"))).read_bytes()


def make_sdist(path: Path, files: dict[str, bytes], links: dict[str, str] | None = None) -> str:
    """A .tar.gz holding ``files`` (name: bytes) and symlinks; its SHA-256."""
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_only_the_rom_folders_bin_files_are_written_flat(tmp_path: Path) -> None:
    sdist = tmp_path / "atari-py-0.2.6.tar.gz"
    digest = make_sdist(
        sdist,
        {
            "atari-py-0.2.6/atari_py/atari_roms/pong.bin": PONG,
            "atari-py-0.2.6/atari_py/atari_roms/breakout.bin": b"\x01" * 2048,
            "atari-py-0.2.6/atari_py/atari_roms/README": b"text",
            "atari-py-0.2.6/atari_py/atari_roms/deeper/evil.bin": b"x",
            "atari-py-0.2.6/atari_py/other/tennis.bin": b"y",
            "atari-py-0.2.6/setup.py": b"",
        },
        links={"atari-py-0.2.6/atari_py/atari_roms/link.bin": "/etc/passwd"},
    )
    out = tmp_path / "roms"
    written = atari_py_roms.extract_roms(sdist, out, expected_sha256=digest)
    assert [p.name for p in written] == ["breakout.bin", "pong.bin"]
    assert sorted(p.name for p in out.iterdir()) == ["breakout.bin", "pong.bin"]
    assert (out / "pong.bin").read_bytes() == PONG

    rows = atari_py_roms.differing_games(out, ["Pong", "Breakout", "Tennis"])
    assert [(game, theirs is None) for game, _, theirs in rows] == [
        ("Breakout", False),
        ("Tennis", True),
    ]
    assert rows[0][2] == hashlib.md5(b"\x01" * 2048).hexdigest()


def test_an_archive_other_than_pypis_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    sdist = tmp_path / "atari-py-0.2.6.tar.gz"
    make_sdist(sdist, {"atari-py-0.2.6/atari_py/atari_roms/pong.bin": PONG})
    out = tmp_path / "roms"
    with pytest.raises(SystemExit, match=r"SHA-256 .* not 6249ad50"):
        atari_py_roms.extract_roms(sdist, out)  # the pinned SHA-256 of PyPI's archive
    assert not out.exists()


def test_an_archive_without_roms_is_an_error(tmp_path: Path) -> None:
    sdist = tmp_path / "atari-py-0.2.6.tar.gz"
    digest = make_sdist(sdist, {"atari-py-0.2.6/setup.py": b""})
    with pytest.raises(SystemExit, match="no atari_py/atari_roms"):
        atari_py_roms.extract_roms(sdist, tmp_path / "roms", expected_sha256=digest)


def test_listed_differences_names_what_dqn_cores_list_lacks_or_gets_wrong() -> None:
    from dqn_core.results.rom_editions import ATARI_PY_OTHER_DUMPS

    rows = [(g, d.ale_py_md5, d.atari_py_md5) for g, d in ATARI_PY_OTHER_DUMPS.items()]
    assert atari_py_roms.listed_differences(rows) == []
    krull = ATARI_PY_OTHER_DUMPS["Krull"]
    changed = [r for r in rows if r[0] not in ("Amidar", "Krull")]
    changed += [("Krull", krull.ale_py_md5, "0" * 32), ("Pong", "a" * 32, "b" * 32)]
    problems = atari_py_roms.listed_differences(changed)
    assert problems[0] == "Pong: differs here, not listed"
    assert problems[1] == "Amidar: listed, does not differ here"
    assert problems[2].startswith("Krull: MD5s")
    assert len(problems) == 3
    pal = {g: d.atari_py_is_pal for g, d in ATARI_PY_OTHER_DUMPS.items()}
    assert atari_py_roms.listed_differences(rows, pal) == []
    assert atari_py_roms.listed_differences(rows, {**pal, "Krull": True}) == [
        "Krull: PAL here, listed otherwise"
    ]
