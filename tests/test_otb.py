"""The OTB sequence table, named lists and reader: real sequences and broken inputs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from gdt_core.data.box_file import BoxFileError, read_box_file
from gdt_core.data.otb import (
    OTBDataError,
    load_ground_truth,
    load_sequence,
    load_sequence_dir,
    sequence_names,
    sequence_table,
)
from gdt_core.data.synthetic_otb import write_synthetic_sequence
from gdt_core.metrics.otb_results import find_trackers, read_result, result_path, write_result

# name: (frames, first 0-based box = line of the file minus (1, 1), first image file)
REAL_TARGETS = {
    "Couple": (140, [50, 46, 25, 62], "0001.jpg"),
    "Crossing": (120, [204, 150, 17, 50], "0001.jpg"),
    "Football1": (74, [152, 104, 26, 43], "0001.jpg"),
    "Jumping": (313, [146, 109, 34, 33], "0001.jpg"),
    "Skiing": (81, [445, 180, 29, 26], "0001.jpg"),
    "David": (471, [128, 79, 64, 78], "0300.jpg"),
    "Jogging-1": (307, [110, 97, 25, 101], "0001.jpg"),
    "Jogging-2": (307, [179, 78, 37, 114], "0001.jpg"),
    "Human7": (250, [109, 110, 37, 116], "0001.jpg"),
}


def test_sequence_table_and_named_lists():
    table = sequence_table()
    assert len(table) == 100
    assert len(sequence_names("cvpr13")) == 51
    assert len(sequence_names("tb50")) == 50
    assert sequence_names("tb100") == list(table)
    assert all(table[n].cvpr13 for n in sequence_names("cvpr13"))
    jog = table["Jogging-1"]
    assert (jog.img_dir, jog.gt_file) == ("Jogging", "groundtruth_rect.1.txt")
    human = table["Human4-2"]
    assert (human.img_dir, human.gt_file) == ("Human4", "groundtruth_rect.2.txt")
    assert table["Skating2-2"].gt_file == "groundtruth_rect.2.txt"
    tiger = table["Tiger1"]  # tracked from frame 6 = line 6
    assert (tiger.num_frames, tiger.gt_slice) == (349, slice(5, 354))
    david = table["David"]  # tracked from frame 300 = line 1
    assert (david.num_frames, david.gt_slice) == (471, slice(0, 471))
    assert david.image_names()[0] == "0300.jpg"


def test_sequence_names_accepts_lists_and_names_unknown_targets():
    assert sequence_names("David, Jogging-2") == ["David", "Jogging-2"]
    with pytest.raises(OTBDataError, match="Nope"):
        sequence_names("David,Nope")
    with pytest.raises(OTBDataError, match="empty"):
        sequence_names(" , ")
    with pytest.raises(OTBDataError, match=r"Footbal1 .*\(did you mean Football1\?\)"):
        sequence_names("Footbal1")
    with pytest.raises(OTBDataError) as exc:
        sequence_names("Qqqqqq")
    assert "did you mean" not in str(exc.value)


@pytest.mark.parametrize("name", list(REAL_TARGETS))
def test_real_targets(shared_data: Path, name: str):
    frames, first_box, first_image = REAL_TARGETS[name]
    seq = load_sequence(shared_data / "otb", name)
    assert len(seq) == frames == len(seq.ground_truth)
    assert seq.ground_truth[0].tolist() == first_box
    assert seq.frame_paths[0].name == first_image
    image = seq.frame(len(seq) - 1)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    flat = load_sequence(shared_data / "otb", name, anno_dir=shared_data / "otb-anno")
    np.testing.assert_array_equal(flat.ground_truth, seq.ground_truth)
    assert seq.attributes == seq.info.attributes and seq.attributes


def test_real_quirks(shared_data: Path):
    root = shared_data / "otb"
    david = load_sequence(root, "David")
    assert david.frame_paths[-1].name == "0770.jpg"
    jog1, jog2 = load_sequence(root, "Jogging-1"), load_sequence(root, "Jogging-2")
    assert jog1.frame_paths == jog2.frame_paths
    assert not np.array_equal(jog1.ground_truth, jog2.ground_truth)
    football = load_sequence(root, "Football1")  # 81 images, 74 annotated
    assert len(list((root / "Football1" / "img").glob("*.jpg"))) == 81
    assert football.frame_paths[-1].name == "0074.jpg"
    gray = load_sequence(root, "Jumping").frame(0)  # a grayscale JPEG
    assert cv2.imread(str(root / "Jumping" / "img" / "0001.jpg"), cv2.IMREAD_UNCHANGED).ndim == 2
    assert gray.shape == (288, 352, 3)
    assert np.array_equal(gray[..., 0], gray[..., 2])


def test_every_flat_annotation_matches_the_table(shared_data: Path):
    table = sequence_table()
    for info in table.values():
        gt = load_ground_truth(info, anno_dir=shared_data / "otb-anno")
        assert len(gt) == info.num_frames, info.name


def _fake_video(root: Path, folder: str, numbers: range, digits: int = 4) -> None:
    (root / folder / "img").mkdir(parents=True)
    tiny = np.full((6, 8, 3), 128, np.uint8)
    for n in numbers:
        cv2.imwrite(str(root / folder / "img" / f"{n:0{digits}d}.jpg"), tiny)


def test_table_columns_drive_frames_lines_and_file_names(tmp_path: Path):
    # frames 3..6 tracked, line 1 = frame 1, images numbered frame + 10 with 5 digits
    csv = tmp_path / "table.csv"
    csv.write_text(
        "name,start_frame,end_frame,anno_begin,gt_lines,img_dir,gt_file,attributes,cvpr13,tb50,"
        "img_offset,img_digits\nFake-2,3,6,1,8,Fake,gt.2.txt,IV OCC,0,0,10,5\n"
    )
    root = tmp_path / "otb"
    _fake_video(root, "Fake", range(11, 19), digits=5)
    lines = [f"{k}\t{k}\t4\t3" for k in range(1, 9)]
    (root / "Fake" / "gt.2.txt").write_text("\n".join(lines) + "\n")
    seq = load_sequence(root, "Fake-2", table=sequence_table(csv))
    assert [p.name for p in seq.frame_paths] == ["00013.jpg", "00014.jpg", "00015.jpg", "00016.jpg"]
    assert seq.ground_truth[:, 0].tolist() == [2, 3, 4, 5]  # lines 3..6, 0-based
    assert seq.attributes == ("IV", "OCC")
    assert seq.frame(0).shape == (6, 8, 3)


def test_separators_and_invalid_rows_are_accepted(tmp_path: Path):
    path = tmp_path / "gt.txt"
    path.write_text("1,2,3,4\n5\t6\t7\t8\n9 10  11 12\nNaN,NaN,NaN,NaN\n0,0,0,0\n\n\n")
    boxes = read_box_file(path)
    assert boxes.shape == (5, 4)
    assert boxes[2].tolist() == [9, 10, 11, 12]
    assert np.isnan(boxes[3]).all() and boxes[4].tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("1,2,3,4\n1,2,3\n", r"gt\.txt:2: expected 4 numbers"),
        ("", "empty"),
        ("1,2,x,4\n", ":1:"),
        ("1,2,3,4\n\n\n5,6,7,8\n", r"gt\.txt:2: blank line between boxes"),
    ],
)
def test_bad_box_files_name_file_and_line(tmp_path: Path, text: str, match: str):
    path = tmp_path / "gt.txt"
    path.write_text(text)
    with pytest.raises(BoxFileError, match=match):
        read_box_file(path)


def test_missing_and_unreadable_images_are_named(tmp_path: Path):
    folder = write_synthetic_sequence(tmp_path, "Toy", 4, seed=0)
    (folder / "img" / "0002.jpg").write_bytes(b"not a jpeg")
    seq = load_sequence_dir(folder)
    with pytest.raises(OTBDataError, match=r"0002\.jpg: unreadable image \(frame 2 of Toy\)"):
        seq.frame(1)
    (folder / "img" / "0003.jpg").unlink()
    with pytest.raises(OTBDataError, match=r"0003\.jpg: missing image \(frame 3 of Toy\)"):
        seq.frame(2)


@pytest.mark.parametrize(
    ("first", "problem"),
    [("10,20,-5,30", "has a width or height <= 0"), ("NaN,1,2,3", "is not four finite")],
)
def test_a_degenerate_first_box_names_file_line_and_values_as_written(
    tmp_path: Path, first: str, problem: str
):
    folder = write_synthetic_sequence(tmp_path, "Toy", 4, seed=0)
    gt = folder / "groundtruth_rect.txt"
    gt.write_text(first + "\n" + "".join(gt.read_text().splitlines(keepends=True)[1:]))
    with pytest.raises(
        OTBDataError,
        match=rf"groundtruth_rect\.txt:1: the first box \(x,y,w,h = "
        rf"{first.replace('NaN', 'nan')}\) {problem}",
    ):
        load_sequence_dir(folder)
    root = tmp_path / "otb"
    _fake_video(root, "Skiing", range(1, 82))
    (root / "Skiing" / "groundtruth_rect.txt").write_text(first + "\n" + "1,1,4,4\n" * 80)
    with pytest.raises(OTBDataError, match=rf"groundtruth_rect\.txt:1: the first box .*{problem}"):
        load_sequence(root, "Skiing")


def test_missing_image_of_a_table_target_fails_at_load(tmp_path: Path):
    root = tmp_path / "otb"
    _fake_video(root, "Skiing", range(1, 81))  # Skiing needs frames 1..81
    (root / "Skiing" / "groundtruth_rect.txt").write_text("1,1,4,4\n" * 81)
    with pytest.raises(OTBDataError, match=r"0081\.jpg: missing image"):
        load_sequence(root, "Skiing")
    (root / "Skiing" / "groundtruth_rect.txt").write_text("1,1,4,4\n" * 80)
    with pytest.raises(OTBDataError, match=r"groundtruth_rect\.txt: 80 lines.*1\.\.81"):
        load_sequence(root, "Skiing")


def test_load_sequence_dir_tracks_only_annotated_frames(tmp_path: Path):
    folder = write_synthetic_sequence(tmp_path, "Toy", 6, seed=1)
    gt_path = folder / "groundtruth_rect.txt"
    gt_path.write_text("".join(gt_path.read_text().splitlines(keepends=True)[:4]))
    seq = load_sequence_dir(folder)
    assert (seq.name, len(seq), seq.frame_paths[-1].name) == ("Toy", 4, "0004.jpg")


def test_result_files_round_trip(tmp_path: Path):
    boxes = np.array([[0, 0, 10, 10], [np.nan] * 4, [2.5, 3, 4, 5]])
    path = result_path(tmp_path, "MyTracker", "David")
    write_result(path, boxes)
    assert path.read_text().splitlines()[0] == "1.000,1.000,10.000,10.000"  # 1-based on disk
    np.testing.assert_array_equal(read_result(path), boxes)
    assert find_trackers(tmp_path) == ["MyTracker"]
