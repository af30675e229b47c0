"""Where a run ran: the CPU line written into summary.json and the MLflow tags."""

from __future__ import annotations

from dqn_core.provenance import cpu_description, describe_cpu

# First processor blocks of /proc/cpuinfo as the development machines report them
# (trimmed flags), and an ARM one, which has no model name.
XEON = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 167
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse avx2 avx512f avx512dq amx_tile

processor\t: 1
model name\t: Another CPU
"""
EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 23
model\t\t: 49
model name\t: AMD EPYC 7B12
flags\t\t: fpu sse avx2 sha_ni
"""
ARM = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm
CPU implementer\t: 0x41
"""


def test_describe_cpu_names_model_numbers_and_avx512() -> None:
    assert describe_cpu(XEON, 2) == (
        "Intel(R) Xeon(R) Processor (family 6 model 167, avx512f), 2 logical CPUs"
    )
    # The first block only; one CPU in the singular; no AVX-512 said as such.
    assert describe_cpu(EPYC, 1) == "AMD EPYC 7B12 (family 23 model 49, no avx512f), 1 logical CPU"
    assert describe_cpu(EPYC, None) == "AMD EPYC 7B12 (family 23 model 49, no avx512f)"


def test_describe_cpu_without_a_model_name_is_unknown() -> None:
    assert describe_cpu(ARM, 4) == "unknown"
    assert describe_cpu("", 4) == "unknown"


def test_this_machine_is_named() -> None:
    line = cpu_description()
    assert line and line != "unknown"
