"""Does another ALE build, or another ROM, play the same game frame for frame? For Findings 8 and 9.

Plays evaluation episodes through the harness's own environment (ale-py, the
run's protocol and wrappers) and records every call that reaches the emulator:
its settings, ROM loads, resets and each frame's action. It then replays that
stream on a second ALE and compares, after every frame, the reward, the lives,
the game-over flag, the 128 bytes of console RAM and the grayscale screen. The
second ALE is the ``ale_python_interface`` of an atari-py source tree
(``--old-ale``; atari-py 0.2.6 holds ALE v0.6.0, which Dopamine's 2021 runs
used), or by default a fresh ale-py instance, which must match exactly (the
check of the check). ``--rom`` (repeatable) names the other ALE's ROM files:
ale-py loads any file named as the game's ROM (``demon_attack.bin``), so a
second ale-py with another dump isolates the ROM from the emulator.
``--reset-states N`` plays nothing: it counts the console RAMs that follow N
resets for each ``random_seed`` 1-10 in ale-py and in the other ALE (the
emulator's only random draw without sticky actions is the console timer at
reset).

The episodes are played by a run's checkpoint (``--checkpoint``, the greedy
policy at the run's evaluation epsilon, so that the frames reach the waves a
trained agent reaches) or by uniformly random actions (``--random``).

Usage, from the repository root (atari-py built in place: ``cmake`` and
``cmake --build`` in ``atari_py/ale_interface/build``)::

    python scripts/emulator_compare.py results/atari100k-drq/runs/drq-eps/DemonAttack/seed1 \\
        --checkpoint ckpt-000000100000.pt --episodes 5 --old-ale /tmp/atari-py-0.2.6/atari_py
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ale_py
import numpy as np

Event = tuple[Any, ...]
# (reward, lives, game over, RAM bytes, screen CRC-32) after one frame
Frame = tuple[int, int, bool, bytes, int]


class RecordingAle:
    """Forwards every call to an ale-py ``ALEInterface`` and records those that change its state."""

    def __init__(self, ale: Any) -> None:
        self._ale = ale
        self._screen = screen_buffer(ale)
        self.events: list[Event] = []
        self.frames: list[Frame] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ale, name)

    def setInt(self, key: str, value: int) -> None:
        self.events.append(("setInt", key, int(value)))
        self._ale.setInt(key, value)

    def setFloat(self, key: str, value: float) -> None:
        self.events.append(("setFloat", key, float(value)))
        self._ale.setFloat(key, value)

    def setBool(self, key: str, value: bool) -> None:
        self.events.append(("setBool", key, bool(value)))
        self._ale.setBool(key, value)

    def loadROM(self, path: Any) -> None:
        self.events.append(("loadROM", str(path)))
        self._ale.loadROM(path)

    def setMode(self, mode: Any) -> None:
        self.events.append(("setMode", int(mode)))
        self._ale.setMode(mode)

    def setDifficulty(self, difficulty: Any) -> None:
        self.events.append(("setDifficulty", int(difficulty)))
        self._ale.setDifficulty(difficulty)

    def reset_game(self) -> None:
        self.events.append(("reset_game",))
        self._ale.reset_game()

    def act(self, action: Any, strength: float = 1.0) -> int:
        if strength != 1.0:
            raise ValueError(f"paddle strength {strength}: only discrete actions are compared")
        reward = self._ale.act(action, strength)
        self.events.append(("act", int(getattr(action, "value", action))))
        self.frames.append(frame_of(self._ale, int(reward), self._screen))
        return int(reward)


def frame_of(ale: Any, reward: int, screen: np.ndarray) -> Frame:
    """What the compared emulators must agree on after a frame."""
    ale.getScreenGrayscale(screen)
    ram = bytes(np.asarray(ale.getRAM(), dtype=np.uint8))
    return (reward, int(ale.lives()), bool(ale.game_over()), ram, zlib.crc32(screen.tobytes()))


def install(env: Any, recorder: RecordingAle) -> None:
    """Route every emulator call of a gymnasium Atari env (and its wrappers) through ``recorder``.

    Install before the env's first reset, which seeds the emulator and loads the ROM.
    The settings the env made when it was built are recorded first, as read back.
    """
    recorder.events.append(
        ("setFloat", "repeat_action_probability", recorder.getFloat("repeat_action_probability"))
    )
    recorder.events.append(
        ("setInt", "max_num_frames_per_episode", recorder.getInt("max_num_frames_per_episode"))
    )
    layer = env
    while True:
        if "_ale" in vars(layer):
            layer._ale = recorder
        if not hasattr(layer, "env") or layer is layer.unwrapped:
            break
        layer = layer.env
    env.unwrapped.ale = recorder


@dataclass
class Comparison:
    """Frames compared, the first few that differed, and what differed in them."""

    frames: int = 0
    differing: int = 0
    by_field: Counter[str] = field(default_factory=Counter)
    ram_bytes: Counter[int] = field(default_factory=Counter)
    """For each console RAM address (0x80-0xff), the frames where it differed."""
    first: list[str] = field(default_factory=list)
    settings: list[str] = field(default_factory=list)


def replay(
    events: list[Event], frames: list[Frame], other: Any, rom: str, keep: int = 5
) -> Comparison:
    """Replay ``events`` on ``other`` (an ALE interface, ROM ``rom``) and compare its frames with ``frames``."""
    out = Comparison()
    screen = None
    for event in events:
        kind = event[0]
        if kind in ("setMode", "setDifficulty"):
            getattr(other, kind)(event[1])
            out.settings.append(f"{kind}={event[1]}")
        elif kind in ("setInt", "setFloat", "setBool"):
            getattr(other, kind)(event[1], event[2])
            out.settings.append(f"{event[1]}={event[2]}")
        elif kind == "loadROM":
            other.loadROM(rom)
            screen = screen_buffer(other)
        elif kind == "reset_game":
            other.reset_game()
        else:
            assert screen is not None, "an action before any ROM was loaded"
            action = event[1] if getattr(other, "width_first", False) else ale_py.Action(event[1])
            got = frame_of(other, int(other.act(action)), screen)
            want = frames[out.frames]
            if got != want:
                out.differing += 1
                names = ("reward", "lives", "game over", "RAM", "screen")
                what = [n for n, a, b in zip(names, want, got, strict=True) if a != b]
                out.by_field.update(what)
                if "RAM" in what:
                    at = [
                        0x80 + i
                        for i, (a, b) in enumerate(zip(want[3], got[3], strict=True))
                        if a != b
                    ]
                    out.ram_bytes.update(at)
                    what[what.index("RAM")] = "RAM bytes " + " ".join(f"0x{a:02x}" for a in at)
                if len(out.first) < keep:
                    out.first.append(f"frame {out.frames}: {', '.join(what)}")
            out.frames += 1
    return out


def screen_buffer(ale: Any) -> np.ndarray:
    """A grayscale screen for ``ale`` (atari-py gives its dimensions width first, ale-py height first)."""
    dims = tuple(ale.getScreenDims())
    return np.zeros(dims[::-1] if getattr(ale, "width_first", False) else dims, dtype=np.uint8)


def reset_states(
    make_ale: Callable[[], Any], rom: str, seeds: range, resets: int
) -> Counter[bytes]:
    """How often each console RAM follows ``reset_game``: ``resets`` resets of an ALE per seed.

    The ALE draws the console's timer at each reset from its emulator's random
    generator; which games notice, and how many starts they can have, this counts.
    """
    counts: Counter[bytes] = Counter()
    for seed in seeds:
        ale = make_ale()
        ale.setFloat("repeat_action_probability", 0.0)
        ale.setInt("random_seed", seed)
        ale.loadROM(rom)
        for _ in range(resets):
            ale.reset_game()
            counts[bytes(np.asarray(ale.getRAM(), dtype=np.uint8))] += 1
    return counts


def load_old_ale(package: Path) -> Any:
    """A fresh ``ALEInterface`` of an atari-py source tree built in place (its ``ale_python_interface``)."""
    module_file = package / "ale_python_interface.py"
    if not (package / "ale_interface" / "libale_c.so").is_file():
        raise SystemExit(
            f"{package}/ale_interface/libale_c.so: not built (cmake in ale_interface/build)"
        )
    spec = importlib.util.spec_from_file_location("old_ale_python_interface", module_file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ale = module.ALEInterface()
    ale.width_first = True
    return ale


def fresh_ale_py() -> Any:
    ale = ale_py.ALEInterface()
    ale.setLoggerMode(ale_py.LoggerMode.Error)
    return ale


def md5(path: str | Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def play(env: Any, policy: Callable[[np.ndarray], np.ndarray], max_steps: int) -> tuple[int, float]:
    """One episode on a one-env VecEnv: agent steps and the score."""
    obs = env.reset()
    score = 0.0
    for t in range(1, max_steps + 1):
        out = env.step(policy(obs))
        score += float(out.reward[0])
        if out.terminated[0] or out.truncated[0]:
            return t, score
        obs = out.obs
    return max_steps, score


def checkpoint_policy(
    run_dir: Path, config: Any, env: Any, checkpoint: Path, rng: np.random.Generator
) -> Callable[[np.ndarray], np.ndarray]:
    """A run checkpoint's policy, acting at the run's evaluation epsilon with ``rng``."""
    from dqn_core.experiment import CheckpointManager, trained_learner

    manager = CheckpointManager(run_dir / "checkpoints", keep=config.train.keep_checkpoints)
    learner = trained_learner(config, manager.load(checkpoint), env.obs_shape, env.num_actions)
    epsilon = config.eval.epsilon
    return lambda obs: learner.act(obs, epsilon, rng)


def probe_policy(
    ap: argparse.ArgumentParser, args: argparse.Namespace, config: Any, env: Any
) -> Callable[[np.ndarray], np.ndarray]:
    """``--random`` actions or ``--checkpoint``'s policy (an error names a missing file)."""
    rng = np.random.default_rng(args.seed)
    if args.random:
        return lambda obs: rng.integers(0, env.num_actions, size=1)
    ckpt = args.run_dir / "checkpoints" / args.checkpoint
    if not ckpt.is_file():
        ap.error(f"{ckpt} does not exist (the checkpoints stay where the run trained)")
    return checkpoint_policy(args.run_dir, config, env, ckpt, rng)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "run_dir", type=Path, help="a run directory (its config.yaml sets the game and protocol)"
    )
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="file name in RUN_DIR/checkpoints: its policy plays")
    source.add_argument("--random", action="store_true", help="uniformly random actions play")
    source.add_argument(
        "--reset-states",
        type=int,
        metavar="N",
        help="no play: count the console RAMs that follow N resets, random_seed 1-10, in both",
    )
    ap.add_argument(
        "--old-ale", type=Path, help="atari-py's package directory (default: a second ale-py)"
    )
    ap.add_argument(
        "--rom",
        type=Path,
        action="append",
        help="the other ALE's ROM, a file named as the game's (rom_id.bin); repeat to compare "
        "with several (default: atari-py's atari_roms/ file, or ale-py's own)",
    )
    ap.add_argument("--episodes", type=int, default=3)
    ap.add_argument("--max-steps", type=int, default=27_000, help="agent steps an episode at most")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not (args.run_dir / "config.yaml").is_file():
        ap.error(f"{args.run_dir} has no config.yaml (not a dqn-harness run directory)")
    if args.old_ale is not None and not (args.old_ale / "ale_python_interface.py").is_file():
        ap.error(f"--old-ale: {args.old_ale} has no ale_python_interface.py (atari-py's package)")
    from dqn_core.envs.games import resolve_game
    from dqn_core.experiment import configure_cpu, int_seed, load_run_config, make_vec_env

    config = load_run_config(args.run_dir / "config.yaml")
    configure_cpu(config.train)
    rom_id = resolve_game(config.env.game).rom_id
    new_rom = str(ale_py.roms.get_rom_path(rom_id))
    make_other: Callable[[], Any]
    if args.old_ale is not None:
        make_other = lambda: load_old_ale(args.old_ale)  # noqa: E731
        roms = args.rom or [args.old_ale / "atari_roms" / f"{rom_id}.bin"]
        label = f"atari-py at {args.old_ale}"
    else:
        make_other, roms = fresh_ale_py, args.rom or [Path(new_rom)]
        label = f"a second ale-py {ale_py.__version__}"
    for rom in roms:
        if rom.name != f"{rom_id}.bin" or not rom.is_file():
            ap.error(
                f"--rom {rom}: expected an existing file named {rom_id}.bin (the ALE goes by it)"
            )
    print(f"ROM md5: ale-py {md5(new_rom)}, other {', '.join(md5(r) for r in roms)}")
    if args.reset_states:
        seeds = range(1, 11)
        ours = reset_states(fresh_ale_py, new_rom, seeds, args.reset_states)
        theirs = reset_states(make_other, str(roms[0]), seeds, args.reset_states)
        states = sorted(set(ours) | set(theirs), key=lambda k: -(ours[k] + theirs[k]))
        print(f"RAM after reset_game, {args.reset_states} resets x random_seed 1-10:")
        for i, state in enumerate(states):
            print(f"  state {i}: ale-py {ours[state]}, {label} {theirs[state]}")
        return
    env = make_vec_env(
        config, 1, int_seed(config.seed, "emulator_compare", args.seed), evaluation=True
    )
    policy = probe_policy(ap, args, config, env)
    gym_env = env.envs[0]  # type: ignore[attr-defined]
    recorder = RecordingAle(gym_env.unwrapped.ale)
    install(gym_env, recorder)
    for episode in range(args.episodes):
        start = len(recorder.frames)
        steps, score = play(env, policy, args.max_steps)
        frames = len(recorder.frames) - start
        print(f"episode {episode}: {steps} agent steps, {frames} frames, score {score:g}")
    env.close()
    for rom in roms:
        total = replay(recorder.events, recorder.frames, make_other(), str(rom))
        print(f"settings replayed: {', '.join(total.settings) or 'none'}")
        print(
            f"against {label} with {rom} ({md5(rom)}): {total.frames} frames compared, "
            f"{total.differing} differ"
        )
        if total.differing:
            counts = ", ".join(f"{k} {n}" for k, n in total.by_field.items())
            print(f"  frames differing in: {counts}")
        if total.ram_bytes:
            ram = ", ".join(f"0x{a:02x} {n}" for a, n in sorted(total.ram_bytes.items()))
            print(f"  RAM bytes that differ (frames): {ram}")
        for line in total.first:
            print(f"  {line}")


if __name__ == "__main__":
    main()
