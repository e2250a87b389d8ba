"""The demo's advice fits the machine: a CPU is told to run a preset that finishes there."""

from __future__ import annotations

from srkit.demo.pipeline import advised_preset
from srkit.train.config import preset_names


def test_a_cpu_gets_a_preset_it_finishes_and_a_gpu_the_documented_one():
    shipped = preset_names()
    on_cpu, why = advised_preset(False, shipped)
    assert on_cpu == ("cpu_x4" if "cpu_x4" in shipped else "smoke") and "compact_x4" in why
    assert advised_preset(False, ["smoke", "compact_x4", "cpu_x4"])[0] == "cpu_x4"  # when it is shipped
    assert advised_preset(False, ["smoke", "compact_x4"])[0] == "smoke"
    assert advised_preset(True, shipped)[0] == "compact_x4"
