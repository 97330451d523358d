"""In-process evaluation: OTB result files, per-target records, resume, failures (no Ray)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from evaluation_data import TARGETS, make_otb_root

from gdt_core.config import load_config
from gdt_core.data.box_file import read_box_file
from gdt_core.metrics.ope import score_sequence
from gdt_core.metrics.otb_results import read_result
from workflows.evaluate.evaluation import evaluate_targets, target_key
from workflows.evaluate.evaluation_summary import summarize_run

NAMES = [*TARGETS, "SynMissing"]


@pytest.fixture(scope="module")
def otb(tmp_path_factory) -> tuple[Path, Path]:
    return make_otb_root(tmp_path_factory.mktemp("otb"))


def _evaluate(otb, out: Path, cfg=None, names=NAMES, on_frame=None):
    root, table = otb
    return evaluate_targets(
        cfg or load_config(),
        names,
        root,
        "csrt",
        None,
        out,
        sequence_table=table,
        on_frame=on_frame,
    )


class FrameCounter:
    def __init__(self) -> None:
        self.frames: dict[str, int] = {}

    def __call__(self, sequence: str, frame: int) -> None:
        self.frames[sequence] = self.frames.get(sequence, 0) + 1


def test_results_are_otb_files_scored_per_target(otb, tmp_path: Path):
    result = _evaluate(otb, tmp_path / "run")
    assert result.missing == ["SynMissing"]
    assert [r.sequence for r in result.records] == list(TARGETS)
    assert all(r.done for r in result.records)
    for record in result.records:
        path = tmp_path / "run" / "CSRT" / f"{record.sequence}.txt"
        assert record.result_file == f"CSRT/{record.sequence}.txt"
        truth = read_box_file(otb[0] / record.sequence / "groundtruth_rect.txt")
        written = read_box_file(path)
        assert written.shape == truth.shape
        np.testing.assert_allclose(written[0], truth[0])  # frame 1 = initial box, 1-based
        curves = score_sequence(truth - [1, 1, 0, 0], read_result(path))
        assert record.auc == pytest.approx(curves.auc)
        assert record.precision == pytest.approx(curves.precision_score)
        assert record.frames == 12 and record.fps > 0
    assert result.auc == pytest.approx(np.mean([r.auc for r in result.records]))
    summary = summarize_run(tmp_path / "run")
    assert summary["trackers"]["CSRT"]["auc"] == pytest.approx(result.auc)
    # SynA and SynC carry IV: the attribute's score is the mean of theirs.
    iv = np.mean([result.records[0].auc, result.records[2].auc])
    assert summary["trackers"]["CSRT"]["attributes"]["IV"]["auc"] == pytest.approx(iv)
    assert (tmp_path / "run" / "plots" / "success_overall.png").is_file()


def test_target_key_ignores_only_ray_and_mlflow_sections():
    cfg = load_config()
    key = target_key(cfg, "gdt", "random-init", "SynA")
    assert key == target_key(cfg.replace({"ray.max_actors": 7}), "gdt", "random-init", "SynA")
    assert key == target_key(cfg.replace({"mlflow.experiment": "x"}), "gdt", "random-init", "SynA")
    assert key != target_key(cfg.replace({"gaussian.gamma": 0.9}), "gdt", "random-init", "SynA")
    assert key != target_key(cfg, "gdt", "sha256:00", "SynA")
    assert key != target_key(cfg, "gdt", "random-init", "SynB")
    assert key != target_key(cfg, "csrt", "random-init", "SynA")


def test_rerun_skips_finished_targets_and_redoes_changed_ones(otb, tmp_path: Path):
    out = tmp_path / "run"
    first = _evaluate(otb, out)
    again = FrameCounter()
    second = _evaluate(otb, out, on_frame=again)
    assert again.frames == {}  # nothing tracked twice
    assert second.resumed == sorted(TARGETS)
    assert [r.auc for r in second.records] == [r.auc for r in first.records]

    (out / "CSRT" / "SynB.txt").write_text("1,1,5,5\n")  # a damaged result is not trusted
    redo = FrameCounter()
    third = _evaluate(otb, out, on_frame=redo)
    assert redo.frames == {"SynB": 11}
    assert third.records[1].auc == pytest.approx(first.records[1].auc)

    changed = FrameCounter()  # another config: every target computed anew
    _evaluate(otb, out, cfg=load_config().replace({"seed": 1}), on_frame=changed)
    assert changed.frames == {name: 11 for name in TARGETS}


def test_results_belong_to_the_code_that_made_them(otb, tmp_path: Path, monkeypatch):
    from workflows.evaluate import evaluation

    core = tmp_path / "core"
    (core / "sub").mkdir(parents=True)
    (core / "tracker.py").write_text("A = 1\n")
    (core / "sub" / "x.py").write_text("B = 2\n")
    before = evaluation.code_fingerprint.__wrapped__(core)
    assert evaluation.code_fingerprint.__wrapped__(core) == before  # same code, same id
    (core / "sub" / "x.py").write_text("B = 3\n")
    assert evaluation.code_fingerprint.__wrapped__(core) != before  # any source file counts

    out = tmp_path / "run"
    _evaluate(otb, out)
    same = FrameCounter()
    assert _evaluate(otb, out, on_frame=same).resumed == sorted(TARGETS) and same.frames == {}
    monkeypatch.setattr(evaluation, "code_fingerprint", lambda: "other-tracker-code")
    redo = FrameCounter()
    _evaluate(otb, out, on_frame=redo)  # the tracker's code changed: tracked anew
    assert redo.frames == {name: 11 for name in TARGETS}


def test_broken_target_is_recorded_while_the_others_finish(otb, tmp_path: Path):
    root = tmp_path / "data"
    own = make_otb_root(root)
    image = own[0] / "SynB" / "img" / "0005.jpg"
    good = image.read_bytes()
    image.write_bytes(b"not a jpeg")
    result = _evaluate(own, tmp_path / "run")
    status = {r.sequence: r.status for r in result.records}
    assert status == {"SynA": "done", "SynB": "failed", "SynC": "done"}
    failed = result.records[1]
    assert "0005.jpg" in failed.error and "unreadable image" in failed.error
    assert "Traceback" in failed.traceback
    summary = summarize_run(tmp_path / "run")
    assert summary["failed"] == {"SynB": failed.error}
    assert summary["sequences"] == ["SynA", "SynC"]

    image.write_bytes(good)  # fixed: only the failed target runs again
    counter = FrameCounter()
    fixed = _evaluate(own, tmp_path / "run", on_frame=counter)
    assert counter.frames == {"SynB": 11}
    assert all(r.done for r in fixed.records)


def test_real_targets_beside_published_results(shared_data: Path, tmp_path: Path):
    names = ["Football1", "Skiing"]  # Football1: 81 images, 74 annotated -> 74 tracked
    result = evaluate_targets(load_config(), names, shared_data / "otb", "csrt", None, tmp_path)
    assert [(r.sequence, r.status, r.frames) for r in result.records] == [
        ("Football1", "done", 74),
        ("Skiing", "done", 81),
    ]
    assert len(read_box_file(tmp_path / "CSRT" / "Football1.txt")) == 74
    summary = summarize_run(tmp_path, compare_with=[str(shared_data / "otb-results")])
    published = {"Struck", "KCF", "CSK", "TLD", "DSST", "MEEM", "OAB", "CFWLB"}
    assert set(summary["trackers"]) == published | {"CSRT"}
    for scores in summary["trackers"].values():
        assert set(scores["sequences"]) == set(names)
    assert summary["trackers"]["CSRT"]["auc"] == pytest.approx(result.auc)
    csv_header = (tmp_path / "targets.csv").read_text().splitlines()[0]
    assert "KCF auc" in csv_header and "Struck precision" in csv_header
