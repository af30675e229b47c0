"""Named random streams: independence, reproducibility, exact state round trip."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from dqn_core.seeding import Seeds, int_seed


def test_same_root_same_draws_and_streams_differ():
    a, b = Seeds(7), Seeds(7)
    assert np.array_equal(
        a.numpy("replay").integers(0, 1000, 50), b.numpy("replay").integers(0, 1000, 50)
    )
    assert not np.array_equal(
        Seeds(7).numpy("replay").integers(0, 1000, 50), Seeds(7).numpy("env").integers(0, 1000, 50)
    )
    assert not np.array_equal(
        Seeds(7).numpy("replay").integers(0, 1000, 50),
        Seeds(8).numpy("replay").integers(0, 1000, 50),
    )


def test_a_stream_does_not_depend_on_other_streams_being_used():
    a, b = Seeds(3), Seeds(3)
    a.numpy("env").random(1000)  # consume another stream first
    assert np.array_equal(a.numpy("replay").random(10), b.numpy("replay").random(10))


def test_int_seed_is_stable_and_in_range():
    assert int_seed(1, "env") == int_seed(1, "env")
    assert int_seed(1, "env", 0) != int_seed(1, "env", 1)
    assert 0 <= int_seed(2**62, "x") < 2**31


def test_state_round_trip_is_exact_and_weights_only_loadable():
    s = Seeds(11)
    s.numpy("replay").random(17)
    s.numpy("exploration").integers(0, 5, 3)
    torch.rand(3, generator=s.torch("init"))
    buf = io.BytesIO()
    torch.save(s.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    expected_np = s.numpy("replay").random(5)
    expected_t = torch.rand(4, generator=s.torch("init"))
    r = Seeds(11)
    r.load_state_dict(state)
    assert np.array_equal(r.numpy("replay").random(5), expected_np)
    assert torch.equal(torch.rand(4, generator=r.torch("init")), expected_t)


def test_wrong_root_refused():
    with pytest.raises(ValueError, match="root seed"):
        Seeds(2).load_state_dict(Seeds(1).state_dict())
    with pytest.raises(ValueError, match="non-negative"):
        Seeds(-1)
