"""Recording one evaluation episode to a video file (``dqn evaluate --video``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dqn_core.config import RunConfig
from dqn_core.envs import make_env
from dqn_core.run.evaluate import Policy
from dqn_core.seeding import int_seed


def record_video(
    policy: Policy,
    config: RunConfig,
    path: Path,
    *,
    epsilon: float | None = None,
    max_steps: int = 4500,
    fps: int = 15,
) -> Path:
    """Record one evaluation episode (the emulator's RGB screen) to ``path``.

    The container is chosen by the suffix: ``.mp4`` (mp4v) or ``.avi`` (MJPG),
    written with OpenCV so no extra dependency is needed. One frame per agent
    step, at most ``max_steps`` steps (default: 5 minutes at 15 fps).
    """
    import cv2

    if config.env.protocol == "classic":
        raise ValueError("video: only Atari games can be recorded (classic envs have no screen)")
    suffix = path.suffix.lower()
    codecs = {".mp4": "mp4v", ".avi": "MJPG"}
    if suffix not in codecs:
        raise ValueError(f"video: {path.name}: use a .mp4 or .avi file name")
    epsilon = config.eval.epsilon if epsilon is None else epsilon
    env = make_env(config, int_seed(config.seed, "video"), evaluation=True)
    rng = np.random.default_rng(int_seed(config.seed, "video_policy"))
    ale = env.unwrapped.ale  # type: ignore[attr-defined]
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    try:
        obs, _ = env.reset()
        for _ in range(max_steps):
            frame = ale.getScreenRGB()
            if writer is None:
                h, w = frame.shape[:2]
                fourcc = cv2.VideoWriter.fourcc(*codecs[suffix])
                writer = cv2.VideoWriter(str(path), fourcc, fps, (w * 2, h * 2))
                if not writer.isOpened():
                    raise OSError(f"video: OpenCV cannot write {path}")
            big = cv2.resize(
                frame, (frame.shape[1] * 2, frame.shape[0] * 2), interpolation=cv2.INTER_NEAREST
            )
            writer.write(cv2.cvtColor(big, cv2.COLOR_RGB2BGR))
            action = policy(np.asarray(obs)[None], epsilon, rng)
            obs, _, terminated, truncated, _ = env.step(int(action[0]))
            if terminated or truncated:
                break
    finally:
        if writer is not None:
            writer.release()
        env.close()
    return path
