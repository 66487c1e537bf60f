import os

from appliance import disk


def test_space_of_a_folder_matches_statvfs(tmp_path):
    measured = disk.space(str(tmp_path))
    stat = os.statvfs(tmp_path)
    assert measured.total == stat.f_blocks * stat.f_frsize
    assert 0 < measured.free <= measured.total
    assert 0 < measured.free_fraction <= 1


def test_space_of_a_path_not_made_yet_is_its_parent_volume(tmp_path):
    assert disk.space(str(tmp_path / "a" / "b")).total == disk.space(str(tmp_path)).total


def test_database_size_counts_the_sqlite_file(db):
    size, path = disk.database_size()
    assert path and size >= os.path.getsize(path) > 0


def test_human_sizes():
    assert disk.human(512) == "512 B"
    assert disk.human(1536) == "1.5 KiB"
    assert disk.human(3 * 1024 ** 3) == "3.0 GiB"
