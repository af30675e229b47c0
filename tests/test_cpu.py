"""CPU process settings (dqn_core/run/cpu.py): subnormal flushing and the malloc policy.

Each check runs in a fresh Python process: both settings are process (or thread)
state that must not leak into the other tests, and torch's worker threads take
the subnormal mode of the thread that creates them, which only a fresh process
shows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from dqn_core.config import load_config, load_run_config

REPO = Path(__file__).resolve().parents[1]


def _python(code: str, **env: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter; it prints one JSON object as its last line."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **env}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        check=True,
        timeout=120,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


SUBNORMALS = """
    import json, torch
    from dqn_core.config import load_config
    from dqn_core.run.cpu import configure_cpu
    configure_cpu(load_config("der", sets=["train.torch_threads=2", "train.flush_denormal={flag}"]).train)
    # 1e-30 * 1e-10 = 1e-40 is subnormal in float32. A million elements are split
    # between both threads, so a worker thread that did not flush would leave some.
    x = torch.full((1_000_000,), 1e-30) * 1e-10
    print(json.dumps({{"threads": torch.get_num_threads(), "nonzero": int((x != 0).sum())}}))
"""


@pytest.mark.skipif(
    not bool(__import__("torch").set_flush_denormal(False)),
    reason="this CPU cannot flush subnormals (torch.set_flush_denormal returns False)",
)
def test_flush_denormal_zeroes_subnormals_in_every_torch_thread() -> None:
    on = _python(SUBNORMALS.format(flag="true"))
    assert on == {"threads": 2, "nonzero": 0}
    off = _python(SUBNORMALS.format(flag="false"))
    assert off == {"threads": 2, "nonzero": 1_000_000}  # computed exactly when off


FAULTS = """
    import json, resource
    import torch
    from dqn_core.agent.learner import Learner
    from dqn_core.config import load_config
    from dqn_core.replay.batch import Batch
    from dqn_core.run.cpu import retain_freed_memory
    from dqn_core.seeding import Seeds

    tuned = retain_freed_memory()
    torch.set_num_threads(1)
    learner = Learner(load_config("der"), (4, 84, 84), 18, "cpu", Seeds(0))
    g = torch.Generator().manual_seed(0)

    def frames():
        return torch.randint(0, 256, (32, 4, 84, 84), dtype=torch.uint8, generator=g)

    batch = Batch(frames(), torch.randint(0, 18, (32,), generator=g), torch.ones(32),
                  torch.full((32,), 0.99), frames(), torch.ones(32), torch.arange(32))
    for _ in range(10):
        learner.update(batch)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(40):
        learner.update(batch)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    print(json.dumps({"tuned": tuned, "faults_per_update": faults / 40}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_freed_memory_is_reused_instead_of_faulted_in_again() -> None:
    default = _python(FAULTS, DQN_MALLOC="default")
    tuned = _python(FAULTS)
    assert default["tuned"] is False and tuned["tuned"] is True
    # A DER update (batch 32) allocates and frees ~20 MB: by default glibc maps fresh
    # pages for much of it every update (hundreds of 4 KiB faults); kept, almost none.
    # (Measured on the 2-core Intel Xeon: 220-710 against 6-13, over 40 updates.)
    by_default = float(default["faults_per_update"])  # type: ignore[arg-type]
    kept = float(tuned["faults_per_update"])  # type: ignore[arg-type]
    assert by_default > 100 and kept * 5 < by_default, (default, tuned)


def test_flush_denormal_is_on_for_new_runs_and_off_for_runs_made_before_it(tmp_path) -> None:
    cfg = load_config("der", sets=["env.game=Krull"])
    assert cfg.train.flush_denormal is True
    data = cfg.to_dict()
    del data["train"]["flush_denormal"]  # a config.yaml written before the field existed
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    old = load_run_config(path)
    assert old.train.flush_denormal is False  # evaluated as it trained
    path.write_text(cfg.to_yaml())
    new = load_run_config(path)
    assert new.train.flush_denormal is True
    # An implementation switch like torch_threads: the run's identity does not change.
    assert old.config_hash() == new.config_hash()


TRAINER = """
    import json
    from pathlib import Path
    from dqn_core.config import load_config
    from dqn_core.run import Trainer
    from dqn_core.run.cpu import subnormals_flushed

    sets = ["train.total_steps=300", "train.learning_starts=100", "train.log_every_steps=100",
            "eval.every_steps=300", "eval.episodes=1", "tracking.mlflow=false",
            "tracking.progress=false", "train.torch_threads=1", "train.flush_denormal={flag}"]
    before = subnormals_flushed()
    trainer = Trainer(load_config("cartpole", sets=sets), Path({run_dir!r}) / "run", quiet=True)
    during = subnormals_flushed()
    trainer.run()
    print(json.dumps({{"before": before, "during": during, "after": subnormals_flushed()}}))
"""


@pytest.mark.parametrize("flag", ["true", "false"])
def test_a_run_flushes_subnormals_as_configured_and_restores_the_thread(tmp_path, flag) -> None:
    seen = _python(TRAINER.format(flag=flag, run_dir=str(tmp_path)))
    assert seen == {"before": False, "during": flag == "true", "after": False}
