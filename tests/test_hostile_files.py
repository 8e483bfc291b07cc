"""Hostile files, round 2 (issue 15): what a spec may read, and where a command may write.

* input files: only regular files are read (a FIFO or /dev/zero must not block or fill memory),
  and a file over the size limit is refused from its size, before it is read;
* ``extends:``/``import:`` read only inside the spec's folder tree, the shipped specs and
  ``--allow-path`` folders, and never quote a file that did not read as a spec;
* outputs are regular files written atomically: a directory, a device, a FIFO, a path below a
  file, a read-only folder or a full disk give one clean error, and nothing else is touched.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest
from test_hostile_input import assert_clean, run_cli, spec_file

import archdsl
from archdsl import fsutil
from archdsl.errors import OutputError, SpecError

TAIL = "input: [3, 8, 8]\nbody: [{relu: {}}]\n"
OK = "archdsl: 1\nname: t\n" + TAIL
SECRET = "root:x:0:0:SECRET-LINE:/root:/bin/bash\nsecond: SECRET-2\n"


def tree_state(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` with its type bits and size: to prove nothing else changed."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            st = os.lstat(p)
            out[str(p.relative_to(root))] = (stat.S_IFMT(st.st_mode), st.st_size)
    return out


# ------------------------------------------------------------------ input files
def test_dev_zero_is_refused_without_reading(capsys):
    rc, err, seconds = run_cli(["check", "/dev/zero"], capsys, limit_s=10)
    assert_clean(rc, err, None, "'/dev/zero' is a character device, not a regular file")
    assert seconds < 5


def test_fifo_as_spec_does_not_block(tmp_path, capsys):
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    rc, err, _ = run_cli(["check", str(fifo)], capsys, limit_s=10)
    assert_clean(rc, err, None, r"is a FIFO \(named pipe\), not a regular file")


def test_directory_as_spec(tmp_path, capsys):
    rc, err, _ = run_cli(["check", str(tmp_path)], capsys)
    assert_clean(rc, err, None, "is a directory, expected a YAML spec file")


def test_ten_gigabyte_spec_is_refused_from_its_size(tmp_path, capsys):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as fh:  # sparse: no disk used, and never read
        fh.truncate(10 * 2**30)
    rc, err, seconds = run_cli(["check", str(big)], capsys, limit_s=10)
    assert_clean(rc, err, f"{big}:1:1:", r"is 10737418240 bytes, more than the limit of 2000000"
                 r"(.|\n)*--max-file-bytes")
    assert seconds < 5


def test_proc_environ_as_spec_never_prints_the_environment(capsys, monkeypatch):
    monkeypatch.setenv("ARCHDSL_TEST_SECRET", "s3cr3t-value")
    rc, err, _ = run_cli(["check", "/proc/self/environ"], capsys)
    assert_clean(rc, err, "/proc/self/environ:1:1:", "NUL bytes")
    assert "s3cr3t" not in err


def test_symlink_loop_and_bad_names(tmp_path, capsys):
    (tmp_path / "a.yaml").symlink_to(tmp_path / "b.yaml")
    (tmp_path / "b.yaml").symlink_to(tmp_path / "a.yaml")
    rc, err, _ = run_cli(["check", str(tmp_path / "a.yaml")], capsys)
    assert_clean(rc, err, None, "cannot read .*symbolic links")
    path = spec_file(tmp_path, "archdsl: 1\nname: t\nextends: " + "x" * 5000 + ".yaml\n")
    rc, err, _ = run_cli(["check", str(path)], capsys)
    assert_clean(rc, err, f"{path}:3:10:", "cannot find 'xxx.*characters omitted")


# ------------------------------------------------------------------ extends / import paths
@pytest.mark.parametrize("key", ["extends", "import"])
@pytest.mark.parametrize("target", ["/etc/passwd", "/proc/self/environ", "../outside.yaml"])
def test_references_outside_the_spec_folder_are_refused(key, target, tmp_path, capsys):
    (tmp_path / "outside.yaml").write_text(SECRET)
    folder = tmp_path / "project"
    folder.mkdir()
    ref = f"extends: {target}\n" if key == "extends" else f"import: [{target}]\n" + TAIL
    path = spec_file(folder, "archdsl: 1\nname: t\n" + ref)
    rc, err, _ = run_cli(["check", str(path)], capsys)
    assert_clean(rc, err, f"{path}:3:", f"'{target}' is outside the folders a spec may read from"
                 r"(.|\n)*--allow-path DIR")
    assert "SECRET" not in err and "root:" not in err


def test_symlink_inside_the_folder_pointing_outside(tmp_path, capsys):
    (tmp_path / "secret.yaml").write_text(SECRET)
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "base.yaml").symlink_to(tmp_path / "secret.yaml")
    path = spec_file(folder, "archdsl: 1\nname: t\nextends: base.yaml\n")
    rc, err, _ = run_cli(["check", str(path)], capsys)
    assert_clean(rc, err, f"{path}:3:10:", "'base.yaml' is outside the folders")


def test_allow_path_reads_but_never_echoes_a_non_spec(tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    (other / "passwd").write_text(SECRET)
    (other / "lib.yaml").write_text("archdsl: 1\nblocks:\n  b:\n    body: [{relu: {}}]\n")
    folder = tmp_path / "project"
    folder.mkdir()
    path = spec_file(folder, f"archdsl: 1\nname: t\nextends: {other / 'passwd'}\n")
    rc, err, _ = run_cli(["check", str(path), "--allow-path", str(other)], capsys)
    assert_clean(rc, err, f"{other / 'passwd'}:2:7:", "invalid YAML")
    assert "SECRET" not in err and "root:" not in err  # located, never quoted
    lib_user = spec_file(folder, f"archdsl: 1\nname: t\nimport: [{other / 'lib.yaml'}]\n"
                         "input: [3, 8, 8]\nbody: [{b: {}}]\n", "uses_lib.yaml")
    rc, err, _ = run_cli(["check", str(lib_user)], capsys)
    assert_clean(rc, err, f"{lib_user}:3:10:", "outside the folders")
    rc, err, _ = run_cli(["check", str(lib_user), "--allow-path", str(other)], capsys)
    assert rc == 0, err


def test_library_that_is_not_a_library_is_not_quoted(tmp_path, capsys):
    (tmp_path / "notes.yaml").write_text("password: hunter2\nuser: admin\n")
    path = spec_file(tmp_path, "archdsl: 1\nname: t\nimport: [notes.yaml]\n" + TAIL)
    rc, err, _ = run_cli(["check", str(path)], capsys)
    assert_clean(rc, err, f"{tmp_path / 'notes.yaml'}:1:1:", "unknown key 'password'")
    assert "hunter2" not in err
    (tmp_path / "lib.yaml").write_text("archdsl: 1\nblocks:\n  b:\n    body: [{relu: {}}]\n"
                                       "    args: {x: 1\n")
    path = spec_file(tmp_path, "archdsl: 1\nname: t\nimport: [lib.yaml]\n" + TAIL)
    rc, err, _ = run_cli(["check", str(path)], capsys)
    assert_clean(rc, err, f"{tmp_path / 'lib.yaml'}:", "invalid YAML")


def test_a_real_library_is_quoted_once_it_reads_as_one(tmp_path, capsys):
    (tmp_path / "lib.yaml").write_text(
        "archdsl: 1\nblocks:\n  b:\n    body: [{conv2d: {filters: 4, kernal: 3}}]\n"
    )
    path = spec_file(tmp_path, "archdsl: 1\nname: t\nimport: [lib.yaml]\n"
                     "input: [3, 8, 8]\nbody: [{b: {}}]\n")
    rc, err, _ = run_cli(["check", str(path)], capsys)
    assert_clean(rc, err, f"{tmp_path / 'lib.yaml'}:4:", "no argument 'kernal'")
    assert "    4 |     body: [{conv2d: {filters: 4, kernal: 3}}]" in err


def test_shipped_spec_is_found_by_name(tmp_path, capsys):
    """Issue 16: ``extends: efficientnet_b0.yaml`` from anywhere uses the shipped copy."""
    path = spec_file(tmp_path, "extends: efficientnet_b0.yaml\nname: mine\n")
    g = archdsl.load(path)
    assert g.name == "mine" and g.output_shapes == [(1000,)]
    rc, err, _ = run_cli(["check", str(path), "--json"], capsys)
    assert rc == 0, err


def test_missing_base_names_every_place_looked(tmp_path, capsys):
    path = spec_file(tmp_path, "extends: efficientnet_b9.yaml\nname: mine\n")
    rc, err, _ = run_cli(["check", str(path)], capsys)
    shipped = archdsl.spec.builtin_specs_dir() / "efficientnet_b9.yaml"
    assert_clean(rc, err, f"{path}:1:10:", "cannot find 'efficientnet_b9.yaml' "
                 rf"\(looked in {tmp_path / 'efficientnet_b9.yaml'}, {shipped}\)")


def test_local_file_wins_over_the_shipped_one(tmp_path):
    (tmp_path / "efficientnet_b0.yaml").write_text(OK.replace("name: t", "name: local"))
    path = spec_file(tmp_path, "extends: efficientnet_b0.yaml\nargs: {}\n")
    assert archdsl.load(path).name == "local"


def test_referenced_fifo_and_device_are_located_at_the_reference(tmp_path, capsys):
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    path = spec_file(tmp_path, "archdsl: 1\nname: t\nextends: pipe.yaml\n")
    rc, err, _ = run_cli(["check", str(path)], capsys, limit_s=10)
    assert_clean(rc, err, f"{path}:3:10:", "pipe.yaml' is a FIFO")
    path = spec_file(tmp_path, "archdsl: 1\nname: t\nimport: [zero.yaml]\n" + TAIL)
    rc, err, _ = run_cli(["check", str(path), "--allow-path", "/dev"], capsys, limit_s=10)
    assert_clean(rc, err, f"{path}:3:10:", "zero.yaml' is a character device")


def test_oversized_library_is_refused_from_its_size(tmp_path, capsys):
    with open(tmp_path / "huge.yaml", "wb") as fh:
        fh.truncate(5 * 2**30)
    path = spec_file(tmp_path, "archdsl: 1\nname: t\nimport: [huge.yaml]\n" + TAIL)
    rc, err, seconds = run_cli(["check", str(path)], capsys, limit_s=10)
    assert_clean(rc, err, f"{path}:3:10:", "is 5368709120 bytes, more than the limit")
    assert seconds < 5


def test_resolve_path_api():
    from archdsl.paths import allowed_roots, resolve_path

    roots = allowed_roots("/tmp/x/net.yaml")
    assert Path("/tmp/x") in roots or Path(os.path.realpath("/tmp/x")) in roots
    with pytest.raises(SpecError, match="outside the folders"):
        resolve_path("/etc/hostname", "/tmp/x/net.yaml", None, roots)
    assert resolve_path("lib/resnet.yaml", "/tmp/x/net.yaml", None, roots).name == "resnet.yaml"


# ------------------------------------------------------------------ outputs
def test_output_onto_a_directory(tmp_path, capsys):
    spec = spec_file(tmp_path, OK)
    (tmp_path / "out").mkdir()
    before = tree_state(tmp_path)
    rc, err, _ = run_cli(["expand", str(spec), "-o", str(tmp_path / "out")], capsys)
    assert_clean(rc, err, None, "output error: cannot write .*out': it is a directory")
    assert tree_state(tmp_path) == before


def test_output_onto_a_character_device_never_replaces_it(capsys, tmp_path):
    spec = spec_file(tmp_path, OK)
    rc, err, _ = run_cli(["expand", str(spec), "-o", "/dev/null"], capsys)
    assert_clean(rc, err, None, "'/dev/null': it is a character device; archdsl only writes "
                 "regular files")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert not [p for p in os.listdir("/dev") if p.startswith(".null.")]  # no temp file left


def test_output_onto_a_fifo(tmp_path, capsys):
    spec = spec_file(tmp_path, OK)
    os.mkfifo(tmp_path / "out.yaml")
    rc, err, _ = run_cli(["expand", str(spec), "-o", str(tmp_path / "out.yaml")], capsys,
                         limit_s=10)
    assert_clean(rc, err, None, "it is a FIFO")
    assert stat.S_ISFIFO(os.stat(tmp_path / "out.yaml").st_mode)


def test_output_below_a_file(tmp_path, capsys):
    spec = spec_file(tmp_path, OK)
    before = tree_state(tmp_path)
    rc, err, _ = run_cli(["expand", str(spec), "-o", str(spec / "deeper" / "x.yaml")], capsys)
    assert_clean(rc, err, None, f"'{spec}' is a file, not a folder")
    assert tree_state(tmp_path) == before


def test_output_into_a_read_only_folder(tmp_path, capsys, monkeypatch):
    spec = spec_file(tmp_path, OK)
    target = tmp_path / "ro" / "x.yaml"
    target.parent.mkdir()

    def refuse(*args: object, **kwargs: object) -> object:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(fsutil.tempfile, "mkstemp", refuse)  # what a read-only folder does
    before = tree_state(tmp_path)
    rc, err, _ = run_cli(["expand", str(spec), "-o", str(target)], capsys)
    assert_clean(rc, err, None, "cannot write .*x.yaml': permission denied")
    assert tree_state(tmp_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_output_into_a_chmod_read_only_folder(tmp_path, capsys):
    spec = spec_file(tmp_path, OK)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        rc, err, _ = run_cli(["expand", str(spec), "-o", str(ro / "x.yaml")], capsys)
    finally:
        ro.chmod(0o755)
    assert_clean(rc, err, None, "permission denied")
    assert list(ro.iterdir()) == []


def test_full_disk_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "net.dot"
    fsutil.atomic_write_text(target, "old\n")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fsutil.os, "fsync", full)
    with pytest.raises(OutputError, match="no space left on the device") as info:
        fsutil.atomic_write_text(target, "new\n")
    assert isinstance(info.value, OSError)  # callers catching OSError keep working
    monkeypatch.undo()
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["net.dot"]


@pytest.mark.parametrize("name", ["", "out/", "."])
def test_output_names_a_folder(name, tmp_path):
    with pytest.raises(OutputError):
        fsutil.check_output_path(str(tmp_path / name) + ("/" if name.endswith("/") else ""))


def test_safe_filename_never_leaves_the_folder(tmp_path):
    for name in ("../../etc/cron.d/x", "/abs/path", "..", "a/../../b", "\x1b[2J", "x" * 500,
                 "CON", "é ü"):
        path = fsutil.output_file(tmp_path, name)
        assert path.parent == tmp_path and path.name not in ("", ".", "..")
        assert "/" not in path.name and len(path.name) <= 100
