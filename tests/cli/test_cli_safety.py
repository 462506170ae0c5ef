"""Outputs and inputs handled safely: writes go through a unique temporary file and never
replace a link, device, FIFO or an input; reads refuse anything but a regular file."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import rules_export
from rules_export import RuleSetError
from rules_export.files import UnsafeFileError, write_atomic


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, cli):
    d = tmp_path_factory.mktemp("safety")
    rng = np.random.default_rng(0)
    n = 2000
    x0, x1 = rng.random(n), rng.random(n)
    y = ((x0 > 0.6) | ((x0 > 0.3) & (rng.random(n) < 0.5))).astype(np.int64)
    data = d / "data.csv"
    pl.DataFrame({"x0": x0, "x1": x1, "y": y}).write_csv(data)
    rules = d / "rules.json"
    cli.run("fit", data, "--target", "y", "--seed", 0, "-o", rules, "-q")
    return {"dir": d, "data": data, "rules": rules}


# --- item 5: outputs never replace a link, a device or a FIFO; the temp name is not guessable ----
def test_outputs_refuse_a_symlink_target(fitted, cli, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    for out, args in (
        ("r.json", ("fit", fitted["data"], "--target", "y", "-q")),
        ("o.csv", ("apply", fitted["rules"], fitted["data"], "-q")),
        ("q.sql", ("export", fitted["rules"], "--to", "sql")),
    ):
        link = tmp_path / out
        link.symlink_to(victim)
        line = cli.fails(*args, "-o", link)
        assert f"{link}: is a symbolic link; refusing to replace it" in line, line
        assert link.is_symlink() and victim.read_text() == "precious\n"


def test_outputs_refuse_devices_fifos_and_proc_fd(fitted, cli, tmp_path):
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    assert "is a FIFO (named pipe); refusing to replace it" in cli.fails(
        "export", fitted["rules"], "--to", "json", "-o", fifo
    )
    assert "is a character device; refusing to replace it" in cli.fails(
        "fit", fitted["data"], "--target", "y", "-o", "/dev/null", "-q"
    )
    assert "is a symbolic link" in cli.fails(
        "export", fitted["rules"], "--to", "json", "-o", "/proc/self/fd/1"
    )
    d = tmp_path / "d.csv"
    d.mkdir()
    assert f"{d}: is a directory; refusing to replace it" in cli.fails(
        "apply", fitted["rules"], fitted["data"], "-o", d, "-q"
    )


def test_a_planted_tmp_link_is_not_followed(fitted, cli, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    for name in ("out.json", "out.csv"):
        for planted in (f"{name}.tmp", f".{name}.tmp"):  # the old predictable names
            (tmp_path / planted).symlink_to(victim)
    cli.run("export", fitted["rules"], "--to", "json", "-o", tmp_path / "out.json")
    cli.run("apply", fitted["rules"], fitted["data"], "-o", tmp_path / "out.csv", "-q")
    rules = rules_export.load(fitted["rules"])
    rules.save(tmp_path / "out.json")
    assert victim.read_text() == "precious\n"
    assert rules_export.load(tmp_path / "out.json") == rules
    assert pl.read_csv(tmp_path / "out.csv").height == 2000
    leftovers = {p.name for p in tmp_path.iterdir()} - {
        "victim.txt",
        "out.json",
        "out.csv",
        "out.json.tmp",
        ".out.json.tmp",
        "out.csv.tmp",
        ".out.csv.tmp",
    }
    assert leftovers == set()


def test_write_atomic_keeps_mode_and_cleans_up_on_failure(tmp_path):
    target = tmp_path / "t.txt"
    target.write_text("old")
    target.chmod(0o640)
    write_atomic(target, "new")
    assert target.read_text() == "new" and (target.stat().st_mode & 0o777) == 0o640

    def broken(fh):
        fh.write(b"half")
        raise RuntimeError("writer failed")

    with pytest.raises(RuntimeError):
        write_atomic(target, broken)
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["t.txt"]
    with pytest.raises(UnsafeFileError, match="does not exist"):
        write_atomic(tmp_path / "no" / "x.txt", "x")


def test_ruleset_save_refuses_a_symlink(fitted, tmp_path):
    victim = tmp_path / "v"
    victim.write_text("keep")
    (tmp_path / "r.json").symlink_to(victim)
    with pytest.raises(UnsafeFileError, match="symbolic link"):
        rules_export.load(fitted["rules"]).save(tmp_path / "r.json")
    assert victim.read_text() == "keep"


def test_demo_refuses_a_linked_output_before_training(cli, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    out = tmp_path / "demo"
    out.mkdir()
    (out / "report.md").symlink_to(victim)
    line = cli.fails("demo", "--out-dir", out, "-q")
    assert "report.md: is a symbolic link; refusing to replace it" in line
    assert victim.read_text() == "keep"


# --- item 6: an output is never one of the inputs ------------------------------------------------
def test_output_onto_an_input_is_refused(fitted, cli, tmp_path):
    data, rules = fitted["data"], fitted["rules"]
    before = {p: p.read_bytes() for p in (data, rules)}
    assert "is the input file" in cli.fails("fit", data, "--target", "y", "-o", data, "-q")
    assert "is the input file" in cli.fails("export", rules, "--to", "sql", "-o", rules)
    assert "is the input file" in cli.fails("apply", rules, data, "-o", data, "-q")
    hard = tmp_path / "hard.csv"  # a hard link is the same file under another name
    os.link(data, hard)
    assert "is the input file" in cli.fails("apply", rules, hard, "-o", data, "-q")
    assert "is the input file" in cli.fails("apply", rules, data, "-o", hard, "-q")
    same_dir = Path(os.path.relpath(data))  # another spelling of the same path
    assert "is the input file" in cli.fails("fit", same_dir, "--target", "y", "-o", data, "-q")
    assert {p: p.read_bytes() for p in (data, rules)} == before


# --- item 8: inputs that are not regular files ---------------------------------------------------
def test_rule_file_linked_to_dev_zero_or_a_fifo_is_refused(fitted, cli, tmp_path):
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    assert "is a character device, not a rule file" in cli.fails("show", zero)
    with pytest.raises(RuleSetError, match="character device"):
        rules_export.load(zero)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    assert "is a FIFO (named pipe), not a rule file" in cli.fails("show", fifo)


def test_data_fifo_or_device_is_refused_without_hanging(fitted, cli, tmp_path):
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    done = []

    def go():
        done.append(cli.fails("apply", fitted["rules"], fifo, "-o", tmp_path / "o.csv", "-q"))

    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(60)
    if t.is_alive():  # unblock the reader so the test process can end
        with open(fifo, "w"):
            pass
        t.join(10)
        pytest.fail("reading a FIFO as data hangs")
    assert "is a FIFO (named pipe), not a data file" in done[0]
    zero = tmp_path / "zero.csv"
    zero.symlink_to("/dev/zero")
    assert "is a character device, not a data file" in cli.fails(
        "audit", fitted["rules"], zero, "--target", "y", "-q"
    )
