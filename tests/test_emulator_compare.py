"""scripts/emulator_compare.py: record what reaches the emulator, replay it on another ALE, compare."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import ale_py
import ale_py.roms
import numpy as np

from dqn_core.config import load_config
from dqn_core.envs import make_vec_env

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from emulator_compare import RecordingAle, fresh_ale_py, install, play, replay, reset_states  # noqa: E402

ROM = str(ale_py.roms.get_rom_path("demon_attack"))


def recorded_random_play(episodes: int, max_steps: int, seed: int = 3) -> RecordingAle:
    config = load_config("drq-eps", sets=["env.game=DemonAttack"])
    env = make_vec_env(config, 1, seed, evaluation=True)
    recorder = RecordingAle(env.envs[0].unwrapped.ale)  # type: ignore[attr-defined]
    install(env.envs[0], recorder)  # type: ignore[attr-defined]
    rng = np.random.default_rng(seed)
    for _ in range(episodes):
        play(env, lambda obs: rng.integers(0, env.num_actions, size=1), max_steps)
    env.close()
    return recorder


def test_every_frame_of_the_env_is_recorded_and_a_second_ale_py_replays_it_exactly() -> None:
    recorder = recorded_random_play(episodes=2, max_steps=150)
    kinds = [e[0] for e in recorder.events]
    # settings first, then the seeded load of the first reset, then the frames
    assert kinds[:4] == ["setFloat", "setInt", "setInt", "loadROM"]
    assert kinds.count("reset_game") == 2
    assert kinds.count("act") == len(recorder.frames) > 2 * 150 * 4 - 100
    out = replay(recorder.events, recorder.frames, fresh_ale_py(), ROM)
    assert (out.frames, out.differing) == (len(recorder.frames), 0)
    assert "repeat_action_probability=0.0" in out.settings


def test_a_changed_action_shows_from_its_frame_on() -> None:
    recorder = recorded_random_play(episodes=1, max_steps=200)
    acts = [i for i, e in enumerate(recorder.events) if e[0] == "act"]
    frame = 300
    i = acts[frame]
    fire, left = ale_py.Action.FIRE.value, ale_py.Action.LEFT.value
    changed = fire if recorder.events[i][1] != fire else left
    events = [*recorder.events[:i], ("act", changed), *recorder.events[i + 1 :]]
    # a 60-frame run of the changed action, so that the game must notice
    for j in acts[frame + 1 : frame + 60]:
        events[j] = ("act", changed)
    out = replay(events, recorder.frames, fresh_ale_py(), ROM)
    assert out.differing > 0
    assert sum(out.by_field.values()) >= out.differing
    # every differing RAM byte is counted, over all frames, not only the first few shown
    assert 0 < max(out.ram_bytes.values()) <= out.by_field["RAM"]
    assert set(out.ram_bytes) <= set(range(0x80, 0x100))
    first = int(out.first[0].split(":")[0].removeprefix("frame "))
    assert frame <= first < frame + 60


def test_reset_states_count_every_reset_and_ale_py_ignores_the_env_seed_there() -> None:
    # ale-py draws the console timer at reset from a generator seeded by its fixed
    # system_random_seed, not by random_seed: every env seed sees one sequence of starts
    # (docs/atari100k.md, Finding 8). ALE 0.6 seeded it with random_seed.
    counts = reset_states(fresh_ale_py, ROM, range(1, 3), 30)
    assert sum(counts.values()) == 60 and len(counts) >= 2
    assert reset_sequence(1, 30) == reset_sequence(2, 30)


def reset_sequence(seed: int, resets: int) -> list[bytes]:
    ale = fresh_ale_py()
    ale.setFloat("repeat_action_probability", 0.0)
    ale.setInt("random_seed", seed)
    ale.loadROM(ROM)
    out = []
    for _ in range(resets):
        ale.reset_game()
        out.append(bytes(np.asarray(ale.getRAM(), dtype=np.uint8)))
    assert len(set(out)) >= 2  # the starts do vary from reset to reset
    return out


def test_the_script_needs_a_policy_and_a_run_directory(tmp_path: Path) -> None:
    script = str(ROOT / "scripts" / "emulator_compare.py")
    none = subprocess.run(
        [sys.executable, script, str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert none.returncode == 2 and "--checkpoint" in none.stderr
    bare = subprocess.run(
        [sys.executable, script, str(tmp_path), "--random"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bare.returncode == 2 and "no config.yaml" in bare.stderr
