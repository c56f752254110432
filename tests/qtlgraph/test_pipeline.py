"""The demo's stage list: every command exists, every run a later stage reads is trained
earlier, and the distal model stands beside all of its controls."""

from __future__ import annotations

from pathlib import Path

from qtlgraph.cli import cli
from qtlgraph.pipeline import demo_stages


def _outputs_before(stages, i: int, out: Path) -> set[str]:
    return {str(out / s.out) for s in stages[:i]}


def test_every_stage_is_a_command_and_reads_only_earlier_outputs(tmp_path):
    stages = demo_stages(tmp_path, seed=3)
    commands = set(cli.list_commands(None))
    names = [s.name for s in stages]
    assert len(set(names)) == len(names)
    for i, stage in enumerate(stages):
        assert stage.args[0] in commands, stage
        earlier = _outputs_before(stages, i, tmp_path)
        for flag in ("--run", "--embeddings", "--trained"):
            if flag in stage.args:
                assert stage.args[stage.args.index(flag) + 1] in earlier, (stage.name, flag)
        if stage.args[0] in ("compare", "evaluate"):
            runs = [a for a in stage.args[1:] if a.startswith(str(tmp_path / "runs"))]
            assert runs and all(r in earlier for r in runs), stage.name


def test_comparison_holds_the_distal_model_and_every_control(tmp_path):
    stages = {s.name: s for s in demo_stages(tmp_path, seed=3)}
    compared = {Path(a).name for a in stages["compare"].args[1:] if "/runs/" in a}
    assert {"distal", "distal_shuffled", "gnn", "gnn_shuffled", "local", "local_stats"} <= compared
    assert "--shuffle-edges" in stages["train distal_shuffled"].args
    assert stages["train local_stats"].args[
        stages["train local_stats"].args.index("--model") + 1
    ] == ("local-stats")
    assert "score-variants distal" in stages


def test_preset_reaches_the_simulator(tmp_path):
    sim = demo_stages(tmp_path, seed=0, preset="realistic")[0]
    assert sim.args[:3] == ["simulate", "--preset", "realistic"]


def test_side_lane_reads_only_the_data_and_graphs_and_is_joined_before_it_is_read(tmp_path):
    from qtlgraph.pipeline import JOIN_AT, SIDE_LANE

    stages = demo_stages(tmp_path, seed=3)
    names = [s.name for s in stages]
    assert {s.name for s in stages if s.lane == "side"} == set(SIDE_LANE)
    side_outs = {str(tmp_path / s.out) for s in stages if s.lane == "side"}
    first_side = min(names.index(n) for n in SIDE_LANE)
    before = {str(tmp_path / s.out) for s in stages[:first_side]}
    for s in stages:
        if s.lane == "side":  # what it reads is written before the lane starts
            read = [a for a in s.args if a.startswith(str(tmp_path))]
            assert all(
                any(a == o or a.startswith(o + "/") for o in before | side_outs) for a in read
            ), (s.name, read)
    join = names.index(JOIN_AT)
    for s in stages[first_side:join]:  # main stages beside the lane never read its outputs
        if s.lane == "main":
            read = [a for a in s.args if a.startswith(str(tmp_path))]
            assert not any(a == o or a.startswith(o + "/") for o in side_outs for a in read)


def test_a_failed_side_lane_is_one_error_naming_its_log(tmp_path):
    import pytest

    from qtlgraph.errors import InputError
    from qtlgraph.pipeline import SideLane

    lane = SideLane(tmp_path, ["--out", str(tmp_path), "--preset", "no-such-preset"])
    with pytest.raises(InputError, match="side lane failed .*side-lane.log"):
        lane.join()
