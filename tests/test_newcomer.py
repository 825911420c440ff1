"""A newcomer's first hour with the ``qplane`` command (issue 14): ``--version``, bare
``qplane``, ``--debug`` in every command's help, the progress bar of ``qplane run``, Ctrl-C,
``validate`` on a parameter study, the summary's column names and legend, run labels and
file names, one name per example, the LICENSE, ``.gitignore`` and the grammar of counts.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import qplane
from qplane import RequestStatus
from qplane.cli import main, make_parser
from qplane.scenario import file_stem
from qplane.errors import RunInterrupted
from qplane.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "chain.yaml"
CONSOLE_SCRIPT = ROOT / ".venv" / "bin" / "qplane"


@pytest.fixture(autouse=True)
def _in_tmp(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # results files written by default land here
    for var in ("QPLANE_DISABLE_PLUGIN_AUTOLOAD", "QPLANE_PLUGINS", "QPLANE_TRACE_PLUGINS"):
        monkeypatch.delenv(var, raising=False)


def _main(capsys, *argv) -> tuple[int, str, str]:
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:  # argparse's own exits (--help, --version)
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("QPLANE_")}


# ------------------------------------------------------------------ --version, bare qplane, --debug


def test_version_prints_qplane_and_every_plugin_version(capsys):
    rc, out, err = _main(capsys, "--version")
    assert rc == 0, err
    assert out.startswith(f"qplane {qplane.__version__} (Python ")
    from qplane.plugins import plugin_infos

    infos = plugin_infos(Registry().pm)
    assert infos, "the first-party plugins are installed"
    for name, info in infos.items():
        assert f"  {name}: {info.distribution} {info.version}" in out.splitlines()


def test_bare_qplane_prints_the_usage_and_the_commands(capsys):
    rc, out, err = _main(capsys)
    assert rc == 2
    assert err.startswith("usage: qplane")
    for command in ("run", "validate", "schema", "describe", "plugins", "compare", "sweep"):
        assert re.search(rf"^\s+{command}\s", err, re.M), command
    assert "--version" in err


def test_debug_is_in_every_commands_help(capsys):
    parser = make_parser(Registry())
    commands = parser._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse keeps them there
    assert {"run", "validate", "schema", "describe", "plugins", "compare", "sweep", "new-plugin", "serve"} <= set(commands)
    for name in commands:
        rc, out, err = _main(capsys, name, "--help")
        assert rc == 0, (name, err)
        assert "--debug" in out, f"qplane {name} --help does not list --debug"
    # and it works where the help shows it: the error itself (its traceback), not the one line
    from qplane.errors import ScenarioError

    assert _main(capsys, "validate", "no-such-file.yaml")[0] == 2
    with pytest.raises(ScenarioError):
        main(["validate", "no-such-file.yaml", "--debug"])


# ------------------------------------------------------------------ progress and Ctrl-C


def test_progress_callback_reports_time_and_pairs_and_is_absent_by_default():
    sc = qplane.load_scenario(EXAMPLE, overrides=["requests.0.pairs=20000", "duration=100"])
    seen: list[tuple[float, int]] = []
    sim = qplane.build(sc)
    res = sim.run(progress=lambda now, n: seen.append((now, n)))
    assert len(seen) >= 1
    assert all(0.0 <= now <= res["sim_time_s"] for now, _ in seen)
    assert [n for _, n in seen] == sorted(n for _, n in seen) and seen[-1][1] <= 20000
    assert "step" not in vars(sim.env)  # the kernel is left as it was
    # with the callback or without it, the same numbers (it adds no event)
    plain = qplane.run(sc)
    for r in (res, plain):
        r.pop("wall_time_s")
    assert res == plain


def test_progress_bar_on_stderr_when_forced_and_off_when_not_a_terminal(capsys):
    rc, out, err = _main(capsys, "run", EXAMPLE, "--set", "requests.0.pairs=5000", "--progress", "--json", "a.json")
    assert rc == 0
    assert "simulated s" in err and "pairs delivered" in err and "/5000 pairs delivered" in err
    assert "/5000 pairs delivered" not in out  # the table stays clean
    rc, out, err = _main(capsys, "run", EXAMPLE, "--set", "requests.0.pairs=5000", "--json", "b.json")
    assert rc == 0 and err == ""  # pytest's stderr is not a terminal: no bar
    rc, out, err = _main(capsys, "run", EXAMPLE, "--set", "requests.0.pairs=5000", "--no-progress", "--json", "c.json")
    assert rc == 0 and err == ""


def test_progress_bar_by_default_on_a_terminal(tmp_path):
    """A real pseudo-terminal as stderr: the bar appears without --progress."""
    import pty

    main_fd, sub_fd = pty.openpty()
    try:
        proc = subprocess.run(
            [str(CONSOLE_SCRIPT), "run", str(EXAMPLE), "--set", "requests.0.pairs=30000", "--json", "r.json"],
            cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=sub_fd, timeout=60)
        os.close(sub_fd)
        sub_fd = -1
        chunks = []
        while True:
            try:
                chunk = os.read(main_fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if sub_fd >= 0:
            os.close(sub_fd)
        os.close(main_fd)
    assert proc.returncode == 0
    assert b"simulated s" in b"".join(chunks)


def test_interrupt_in_process_writes_results_with_unfinished_requests_interrupted():
    sc = qplane.load_scenario(EXAMPLE, overrides=["requests.0.pairs=1000000", "duration=1000"])
    sc_data = sc.model_dump()
    sc_data["requests"].append({"src": "n0", "dst": "n1", "pairs": 5, "start": 500.0})  # never started
    sim = qplane.build(qplane.load_scenario(sc_data, allow_large=True))
    calls = []

    def ctrl_c(now: float, delivered: int) -> None:
        calls.append(now)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(RunInterrupted) as exc:
        sim.run(progress=ctrl_c)
    assert isinstance(exc.value, KeyboardInterrupt)  # a script's own `except KeyboardInterrupt` still works
    res = exc.value.results
    assert RequestStatus.INTERRUPTED.final
    busy, later = res["requests"]
    assert busy["status"] == later["status"] == "interrupted"
    assert busy["reason"] == f"the run was interrupted at t={res['sim_time_s']:.6g} s with {busy['delivered']}/1000000 pairs"
    assert 0 < busy["delivered"] < 1000000 and later["delivered"] == 0
    assert res["sim_time_s"] == pytest.approx(calls[-1])
    assert all(h.status == RequestStatus.INTERRUPTED for h in sim.handles)
    sim.check_memory_invariants(final=True)  # the interrupted requests gave their memories back


def test_ctrl_c_on_the_command_line_writes_results_and_exits_130(tmp_path):
    out = tmp_path / "partial.json"
    proc = subprocess.Popen(
        [str(CONSOLE_SCRIPT), "run", str(EXAMPLE), "--set", "requests.0.pairs=5000000", "--set", "duration=1000",
         "--allow-large", "--progress", "--json", str(out)],
        cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen, deadline = b"", time.monotonic() + 30
    while b"pairs delivered" not in seen and time.monotonic() < deadline:  # the loop is running
        chunk = os.read(proc.stderr.fileno(), 4096)
        if not chunk:
            break
        seen += chunk
    assert b"pairs delivered" in seen, seen
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    data = json.loads(out.read_text())
    req = data["requests"][0]
    assert req["status"] == "interrupted" and req["reason"].startswith("the run was interrupted at t=")
    assert 0 < req["delivered"] < 5000000
    assert "interrupted" in stdout.decode() and f"results: {out}" in stdout.decode()
    assert b"qplane: interrupted" in stderr and b"Traceback" not in stderr


# ------------------------------------------------------------------ validate on a parameter study


def test_validate_on_a_parameter_study_points_to_sweep_dry_run(capsys):
    study = ROOT / "examples" / "sweep-distance.yaml"
    rc, out, err = _main(capsys, "validate", study)
    assert rc == 2 and len(err.splitlines()) == 1
    assert "parameter study" in err and f"`qplane sweep {study} --dry-run`" in err
    # and the pointer is right: the dry run validates every run
    rc, out, err = _main(capsys, "sweep", study, "--dry-run")
    assert rc == 0, err and "every one valid" in out


# ------------------------------------------------------------------ the summary table


def test_summary_uses_the_json_names_and_explains_them(capsys):
    rc, out, err = _main(capsys, "run", EXAMPLE, "--json", "r.json")
    assert rc == 0, err
    header = out.splitlines()[1].split()
    data = json.loads(Path("r.json").read_text())
    req = data["requests"][0]
    for column in header:
        if column != "hops":
            assert column in req, f"the table's column {column!r} is not a results field"
    legend = out[out.index("\n", out.index("-- ")):]
    for name in ("fidelity_mean", "fidelity_stderr", "fidelity_estimated_mean", "rate_hz", "latency_p50_s"):
        assert f"{name}" in legend and name in header
    assert "estimate" in legend and "true fidelity" in legend
    assert "F_mean" not in out and "F_est" not in out


# ------------------------------------------------------------------ labels and file names


def test_a_run_is_labelled_and_written_with_its_overrides(capsys, tmp_path):
    rc, out, err = _main(capsys, "run", EXAMPLE, "--set", "topology.nodes=9", "--set", "requests.0.dst=n8")
    assert rc == 0, err
    label = "chain-5[topology.nodes=9,requests.0.dst=n8]"
    assert out.startswith(f"{label}: ")
    written = tmp_path / f"{label}.results.json"
    assert out.splitlines()[-1] == f"results: {written.name}"
    data = json.loads(written.read_text())
    assert data["name"] == label and data["scenario"]["topology"]["nodes"] == 9
    # the plain run does not overwrite it
    rc, out, _ = _main(capsys, "run", EXAMPLE)
    assert (tmp_path / "chain-5.results.json").exists() and written.exists()
    # --seed and --backend are overrides too; --name replaces the label
    rc, out, _ = _main(capsys, "run", EXAMPLE, "--seed", "3")
    assert (tmp_path / "chain-5[seed=3].results.json").exists()
    rc, out, _ = _main(capsys, "run", EXAMPLE, "--set", "topology.nodes=9", "--set", "requests.0.dst=n8",
                       "--name", "nine-nodes")
    assert out.startswith("nine-nodes: ") and json.loads((tmp_path / "nine-nodes.results.json").read_text())["name"] == "nine-nodes"


def test_file_stem_is_safe_for_any_override(tmp_path):
    for label in ("chain-5[protocols.purification={name: dejmps, rounds: 1}]", "a/b\\c:d*e?f\"g<h>i|j",
                  "..", "x" * 500, "chain-5[requests.0.src=n2]"):
        stem = file_stem(label)
        assert re.fullmatch(r"[\w.,=+\[\]~-]+", stem) and not stem.startswith(".") and len(stem) <= 120, stem
        (tmp_path / f"{stem}.results.json").write_text("{}")  # a file name the system takes
    assert file_stem("chain-5[requests.0.src=n2]") == "chain-5[requests.0.src=n2]"
    assert file_stem("x" * 500) != file_stem("x" * 499 + "y")  # shortened, still distinct


# ------------------------------------------------------------------ examples, LICENSE, .gitignore


def _example_files() -> list[Path]:
    return sorted([*ROOT.glob("examples/*.yaml"), *ROOT.glob("contrib/*/examples/*.yaml")])


def test_every_example_has_a_name_of_its_own():
    names: dict[str, Path] = {}
    for path in _example_files():
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert data.get("name"), f"{path} has no name (its results would be scenario.results.json)"
        assert data["name"] not in names, f"{path} and {names[data['name']]} share the name {data['name']!r}"
        names[data["name"]] = path
    assert len(names) >= 8


def test_license_is_mit():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "Copyright (c) 2026 qplane developers" in text
    assert "THE SOFTWARE IS PROVIDED \"AS IS\"" in text


def test_gitignore_covers_run_outputs(tmp_path):
    probe = ["chain-5.results.json", "chain-5[topology.nodes=9].results.json", "compare-purification-compare/runs.csv",
             "sweep-distance-sweep/sweep.png", "examples/x.results.json"]
    proc = subprocess.run(["git", "check-ignore", "--no-index", *probe], cwd=ROOT, capture_output=True, text=True)
    assert sorted(proc.stdout.split()) == sorted(probe), proc.stdout
    kept = subprocess.run(["git", "check-ignore", "--no-index", "examples/chain.yaml", "experiment/src"], cwd=ROOT,
                          capture_output=True, text=True)
    assert kept.stdout == ""


# ------------------------------------------------------------------ grammar of counts


BAD_GRAMMAR = re.compile(r"(?<![\w./])(?:1 (?:requests|runs|links|nodes|pairs|failures|re-routes|seeds|arms|events|"
                         r"messages|values|grid points|workers|files|memories|detections)\b|\ba [aeiou]\w)")


def test_counts_and_articles_read_right(capsys, tmp_path):
    one = yaml.safe_load(EXAMPLE.read_text())
    one["topology"]["nodes"] = 2
    one["requests"][0]["dst"] = "n1"
    (tmp_path / "one.yaml").write_text(yaml.safe_dump(one))
    texts = []
    for argv in (["validate", "one.yaml"], ["run", "one.yaml", "--set", "requests.0.pairs=1"],
                 ["schema", "scenario"], ["describe", "application", "consume"], ["plugins", "--params"]):
        rc, out, err = _main(capsys, *argv)
        assert rc == 0, (argv, err)
        texts.append(out + err)
    # the requests' reasons, in the results file and the summary
    for sets, reason in ((["requests.0.pairs=1"], "1 pair delivered"),
                         (["requests.0.min_fidelity=0.9999"], "over 1 link is below")):
        rc, out, err = _main(capsys, "run", "one.yaml", *(x for s in sets for x in ("--set", s)), "--json", "r.json")
        assert rc == 0, err
        got = json.loads(Path("r.json").read_text())["requests"][0]["reason"]
        assert reason in got, got
        texts += [out, got]
    text = "\n".join(texts)
    assert "(2 nodes, 1 link, 1 request, backend fidelity)" in text
    bad = sorted({m.group(0) for m in BAD_GRAMMAR.finditer(text)})
    assert not bad, bad
