"""`shadercam teach` and `shadercam eval --model NAME` as a user runs them: real processes, the
dog classifier's features on the GPU (llvmpipe, ES 2.0), a folder per class of real photos."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from photo_sets import WATCHED, write_set

REPO = Path(__file__).resolve().parents[2]


def shadercam(state: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(REPO),
                               "STATE_DIRECTORY": str(state),
                               "SHADERCAM_MODEL_STORE": str(state / "models")})
    if check:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def taught(tmp_path_factory, dog_model_path):
    root = tmp_path_factory.mktemp("teach")
    write_set(root / "examples", per_class=6, seed=1)
    (root / "examples" / "cat" / "broken.jpg").write_bytes(b"\xff\xd8 not a picture")
    region = ",".join(str(v) for v in WATCHED)
    done = shadercam(root / "state", "teach", "flap", str(root / "examples"), "--model",
                     str(dog_model_path), "--region", region, "--json", "--no-self-test")
    return root, json.loads(done.stdout), done.stderr


def test_teach_fits_the_folder_and_stores_it(taught):
    root, report, stderr = taught
    assert report["name"] == "flap" and report["classes"] == ["cat", "coffee", "rocket"]
    assert report["counts"] == {"cat": 6, "coffee": 6, "rocket": 6}
    assert report["unreadable"] == 1 and "broken.jpg" in stderr
    assert report["report"]["accuracy"] >= 0.9, report["report"]
    assert report["features"] == {"layer": "b3-scale", "grid": 3, "input_size": [193, 193]}
    assert report["region"] == pytest.approx(list(WATCHED))
    folder = root / "state" / "taught" / "flap"
    assert len(list((folder / "thumbs").glob("*.jpg"))) == 18


def test_eval_scores_the_taught_classifier_on_unseen_pictures(taught, tmp_path):
    root, _, _ = taught
    unseen = write_set(tmp_path / "unseen", per_class=5, seed=2)
    done = shadercam(root / "state", "eval", "--model", "flap", "--report",
                     str(tmp_path / "report.json"), "--no-self-test", str(unseen))
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["model_name"] == "flap" and report["images"] == 15
    assert report["top1"] >= 0.9, report
    assert "top-1" in done.stdout and (tmp_path / "report.png").is_file()
    # the same scores from a Dask worker process, which gets the head with its tasks
    shadercam(root / "state", "eval", "--model", "flap", "--workers", "1", "--report",
              str(tmp_path / "there.json"), "--no-self-test", str(unseen))
    there = json.loads((tmp_path / "there.json").read_text())
    assert (there["top1"], there["top5"], there["confusion"]) == \
        (report["top1"], report["top5"], report["confusion"])


def test_classify_answers_with_the_taught_classes(taught, tmp_path):
    root, _, _ = taught
    unseen = write_set(tmp_path / "unseen", per_class=1, seed=3)
    done = shadercam(root / "state", "classify", "--model", "flap", "--json", "--no-self-test",
                     str(unseen / "rocket" / "00.jpg"), str(unseen / "coffee" / "00.jpg"))
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert [a["top_k"][0]["label"] for a in answers] == ["rocket", "coffee"]
    assert all(a["model_name"] == "flap" and len(a["top_k"]) == 3 for a in answers)


def test_teach_says_what_is_wrong_in_one_line(taught, tmp_path):
    root, _, _ = taught
    (tmp_path / "only").mkdir()
    done = shadercam(root / "state", "teach", "x", str(tmp_path), "--model", "demo", check=False)
    assert done.returncode == 1 and "needs a subfolder per class" in done.stderr
    done = shadercam(root / "state", "teach", "../x", str(root / "examples"), "--model", "demo",
                     check=False)
    assert done.returncode == 1 and "bad classifier name" in done.stderr
    assert "Traceback" not in done.stderr
    done = shadercam(root / "state", "teach", "x", str(root / "examples"), "--region",
                     "0.5,0,0.6,1", check=False)
    assert done.returncode == 2 and "not inside the frame" in done.stderr


def test_batch_writes_the_taught_answers_here_and_on_dask_workers(taught, tmp_path):
    """`batch --model NAME`: batch's records over the taught classes, with the taught answer
    (label, probability, uncertain); the same from a Dask worker process, which gets the head
    with its tasks and the backbone by path."""
    root, _, _ = taught
    unseen = write_set(tmp_path / "unseen", per_class=2, seed=4)
    (unseen / "cat" / "broken.jpg").write_bytes(b"\xff\xd8 not a picture")
    here, there, table = tmp_path / "here.jsonl", tmp_path / "there.jsonl", tmp_path / "t.csv"
    done = shadercam(root / "state", "batch", "--model", "flap", "--no-self-test", "--output",
                     str(here), str(unseen), check=False)
    assert done.returncode == 1, done.stderr  # the broken picture: an error record
    records = {r["path"]: r for r in map(json.loads, here.read_text().splitlines())}
    assert len(records) == 7 and "error" in records[str(unseen / "cat" / "broken.jpg")]
    right = 0
    for path, record in records.items():
        if path.endswith("broken.jpg"):
            continue
        best = record["top_k"][0]
        assert record["model_name"] == "flap" and len(record["top_k"]) == 3
        assert {e["label"] for e in record["top_k"]} == {"cat", "coffee", "rocket"}
        assert record["probability"] == pytest.approx(best["probability"])
        assert record["label"] == ("unknown" if record["uncertain"] else best["label"])
        assert record["uncertain"] == (best["probability"] < 0.7)
        right += best["label"] == Path(path).parent.name
    assert right >= 5, records

    shadercam(root / "state", "batch", "--model", "flap", "--no-self-test", "--workers", "1",
              "--output", str(there), *[p for p in records if not p.endswith("broken.jpg")])
    remote = {r["path"]: r for r in map(json.loads, there.read_text().splitlines())}
    assert set(remote) == set(records) - {str(unseen / "cat" / "broken.jpg")}
    for path, record in remote.items():
        assert record["label"] == records[path]["label"]
        assert record["probability"] == pytest.approx(records[path]["probability"], abs=1e-5)

    shadercam(root / "state", "batch", "--model", "flap", "--no-self-test", "--top-k", "2",
              "--output", str(table), str(unseen / "rocket"))
    header, *rows = table.read_text().splitlines()
    assert header == ("path,frame,time_s,model_name,error,label,probability,uncertain,"
                      "label_1,probability_1,label_2,probability_2")
    assert len(rows) == 2 and all(",flap,," in row for row in rows)
