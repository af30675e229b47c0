"""``env.roms_dir``: a game played from another ROM file, and the ROM recorded with a run.

Real ROMs throughout: ale-py's own files, copied or renamed in a temporary folder
(no other ROM set ships with the tests).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import ale_py.roms
import numpy as np
import pytest

from dqn_core.config import ConfigError, RunConfig, from_dict
from dqn_core.envs import action_meanings, make_env, make_vec_env, rom_file, rom_md5


def atari_config(game: str = "Breakout", **env: object) -> RunConfig:
    return from_dict({"env": {"game": game, **env}})


def ale_rom(rom_id: str) -> Path:
    path = ale_py.roms.get_rom_path(rom_id)
    assert path is not None
    return Path(path)


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def rollout(config: RunConfig, steps: int = 120) -> tuple[np.ndarray, list[float], list[int]]:
    """Observations, rewards and lives of a fixed action sequence from seed 3."""
    env = make_env(config, seed=3)
    obs, info = env.reset()
    frames, rewards, lives = [obs], [], [info["lives"]]
    n = env.action_space.n  # type: ignore[attr-defined]
    for t in range(steps):
        obs, reward, terminated, truncated, info = env.step((t * 7 + 1) % n)
        frames.append(obs)
        rewards.append(float(reward))
        lives.append(int(info["lives"]))
        if terminated or truncated:
            break
    env.close()
    return np.stack(frames), rewards, lives


def vec_rollout(config: RunConfig, evaluation: bool, steps: int = 60) -> np.ndarray:
    """Every observation of two vector envs under a fixed action sequence from seed 3."""
    vec = make_vec_env(config, 2, 3, evaluation=evaluation)
    try:
        frames = [vec.reset()]
        for t in range(steps):
            frames.append(vec.step(np.array([(t * 7 + 1) % 4, t % 4])).obs)
    finally:
        vec.close()
    return np.stack(frames)


def test_default_is_ale_pys_rom_and_its_md5_is_recorded() -> None:
    config = atari_config("Breakout")
    assert rom_file("Breakout") == ale_rom("breakout")
    assert rom_md5(config) == md5(ale_rom("breakout"))
    cartpole = from_dict(
        {"env": {"game": "CartPole-v1", "protocol": "classic"}, "agent": {"network": "mlp"}}
    )
    assert rom_md5(cartpole) is None


def test_a_copy_of_the_same_rom_plays_frame_for_frame_the_same(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shutil.copy(ale_rom("breakout"), tmp_path / "breakout.bin")
    ours, theirs = atari_config("Breakout"), atari_config("Breakout", roms_dir=str(tmp_path))
    assert rom_md5(theirs) == rom_md5(ours)
    assert action_meanings(theirs) == action_meanings(ours)
    # The setting is part of the run's identity (its hash), absent while unset.
    assert theirs.config_hash() != ours.config_hash()
    a, b = rollout(ours), rollout(theirs)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1:] == b[1:]
    np.testing.assert_array_equal(vec_rollout(ours, True), vec_rollout(theirs, True))
    assert "not the dump the ALE supports" not in caplog.text


def test_the_folders_file_is_what_plays(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Breakout with one byte changed: the run records that file's MD5 and sees its screens.

    (The ALE's emulator takes a cartridge's properties, Breakout's paddles among
    them, from Stella's catalogue by MD5: a dump it does not know plays with the
    defaults. Either way the screens differ within the first steps.)
    """
    rom = bytearray(ale_rom("breakout").read_bytes())
    rom[1792] ^= 0x10
    (tmp_path / "breakout.bin").write_bytes(bytes(rom))
    config = atari_config("Breakout", roms_dir=str(tmp_path))
    assert rom_md5(config) == hashlib.md5(bytes(rom)).hexdigest() != md5(ale_rom("breakout"))
    assert rom_file("Breakout", tmp_path) == (tmp_path / "breakout.bin").resolve()
    ours, theirs = rollout(atari_config("Breakout"), 60)[0], rollout(config, 60)[0]
    assert len(ours) == len(theirs) and not np.array_equal(ours, theirs)
    # Said once, naming both MD5s.
    warned = [r.getMessage() for r in caplog.records if "not the dump" in r.getMessage()]
    assert len(warned) == 1 and rom_md5(config) in warned[0], warned
    assert md5(ale_rom("breakout")) in warned[0]
    # Vector envs (training and evaluation) play it too.
    for evaluation in (False, True):
        assert not np.array_equal(
            vec_rollout(atari_config("Breakout"), evaluation),
            vec_rollout(config, evaluation),
        )


def test_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a folder"):
        make_env(atari_config("Breakout", roms_dir=str(tmp_path / "missing")), seed=0)
    shutil.copy(ale_rom("breakout"), tmp_path / "Breakout.bin")
    with pytest.raises(ConfigError, match=r"no breakout\.bin in .*must be named breakout\.bin"):
        make_env(atari_config("Breakout", roms_dir=str(tmp_path)), seed=0)
    with pytest.raises(ConfigError, match=r"no breakout\.bin"):
        action_meanings(atari_config("Breakout", roms_dir=str(tmp_path)))
    shutil.copy(ale_rom("breakout"), tmp_path / "breakout.bin")
    with pytest.raises(ConfigError, match="roms_dir: the native backend"):
        make_vec_env(atari_config("Breakout", roms_dir=str(tmp_path), backend="native"), 1, 0)
    cartpole = from_dict(
        {
            "env": {"game": "CartPole-v1", "protocol": "classic", "roms_dir": str(tmp_path)},
            "agent": {"network": "mlp"},
        }
    )
    with pytest.raises(ConfigError, match="roms_dir: only applies to Atari"):
        make_vec_env(cartpole, 1, 0)
    with pytest.raises(ConfigError, match="roms_dir: only applies to Atari"):
        make_env(cartpole, seed=0)
