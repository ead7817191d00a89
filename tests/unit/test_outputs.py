"""``make outputs``: which notebooks it executes, and how."""

from dockercourse import outputs
from tests.utils.paths import NOTEBOOKS


def test_the_lectures_are_the_numbered_notebooks_only():
    names = [p.name for p in outputs.lectures()]
    assert names == sorted(names) and names[0].startswith("00_") and len(names) >= 6
    assert all(p.parent == NOTEBOOKS for p in outputs.lectures())  # not the instructor's dashboard


def test_nbconvert_executes_in_place_with_a_cell_timeout():
    cmd = outputs.nbconvert_command([NOTEBOOKS / "00_demarrage.ipynb"], timeout=60)
    assert cmd[0].endswith("jupyter") and cmd[1:5] == ["nbconvert", "--to", "notebook", "--execute"]
    assert "--inplace" in cmd and "--ExecutePreprocessor.timeout=60" in cmd
    assert cmd[-1] == str(NOTEBOOKS / "00_demarrage.ipynb")


def test_the_committed_store_is_the_containerd_one():
    from dockercourse.currentengine import STORES

    assert outputs.STORE == "containerd" and STORES[outputs.STORE].snapshotter
