"""Bad import files and configs: each is one line on stderr naming file, row and column, exit 2,
no traceback, and the database as it was.

The cases are a table (what a campaign of mutated files and broken configs found) and, for
import files, Hypothesis mutating one cell or one row of a good CSV or JSON Lines file. The CLI
runs in this process (`dora_impact.cli.run` with its real argument parsing and error mapping) so
that hundreds of examples fit in seconds; the cases that need another process (a file the
process may not read) run it in one.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.files import FALSE_WORDS, TRUE_WORDS, read_entity_file
from tests.conftest import Result, dump_tables, run_in_process, write

GOOD_TEAMS = "team,repo\npayments,acme/shop\n"


def cli(*args: str) -> Result:
    """The real entry point, in this process: argument parsing, error mapping, exit code."""
    return run_in_process(list(args))


@pytest.fixture
def loaded_db(tmp_path, monkeypatch) -> Path:
    """A database holding one good import, so that "unchanged" compares real rows."""
    monkeypatch.delenv("DORA_IMPACT_CONFIG", raising=False)
    monkeypatch.delenv("DORA_IMPACT_DB", raising=False)
    db = tmp_path / "dora.duckdb"
    good = write(tmp_path / "good" / "teams.csv", GOOD_TEAMS)
    assert cli("--db", str(db), "import", str(good)).code == 0
    return db


def assert_one_line(result: Result, *fragments: str) -> str:
    assert result.code == 2, result.stderr[:2000]
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[:2000]
    assert len(lines[0]) < 1000  # quoted values are capped
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# -- the table -------------------------------------------------------------------------------------

DEPLOY_HEADER = "deployment_id,repo,environment,status,finished_at\n"
GOOD_DEPLOY = {"deployment_id": "d1", "repo": "acme/shop", "environment": "production",
               "status": "success", "finished_at": "2026-09-01T10:00:00Z"}


def jsonl(*records: dict | str) -> str:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n"


BAD_FILES = [
    # (id, file name, content, row, column, what the message says)
    ("naive timestamp says what is expected", "deployments.csv",
     DEPLOY_HEADER + "d1,r,prod,success,2026-09-01 10:00:00\n", 1, "finished_at",
     "timestamp '2026-09-01 10:00:00' has no UTC offset; expected ISO 8601 with an offset "
     "(Z, +02, +02:00 or +0200), e.g. '2026-09-01 10:00:00Z'"),
    ("date in a timestamp column", "deployments.csv",
     DEPLOY_HEADER + "d1,r,prod,success,2026-09-01\n", 1, "finished_at",
     "e.g. '2026-09-01T00:00:00Z'"),
    ("offset out of range", "deployments.csv",
     DEPLOY_HEADER + "d1,r,prod,success,2026-09-01T10:00:00+25\n", 1, "finished_at",
     "'2026-09-01T10:00:00+25' is not a valid timestamp"),
    ("started_on with garbage after the date", "initiatives.csv",
     "name,started_on\nportal,2026-03-02garbage\n", 1, "started_on",
     "'2026-03-02garbage' is not a date (YYYY-MM-DD)"),
    ("started_on with a time and offset", "initiatives.csv",
     "name,started_on\nportal,2026-03-02T23:30:00-05:00\n", 1, "started_on",
     "'2026-03-02T23:30:00-05:00' is not a date"),
    ("ramp_weeks above the bound", "initiatives.csv",
     "name,started_on,ramp_weeks\nportal,2026-03-02,521\n", 1, "ramp_weeks",
     "521 is not a number of weeks from 0 to 520"),
    ("object where other rows hold a string", "deployments.jsonl",
     jsonl(GOOD_DEPLOY, {**GOOD_DEPLOY, "deployment_id": "d2", "repo": {"owner": "acme"}}), 2, "repo",
     """'{"owner": "acme"}' is an object, not a single value"""),
    ("list in a field", "deployments.jsonl",
     jsonl(GOOD_DEPLOY, {**GOOD_DEPLOY, "deployment_id": ["d2", "d3"]}), 2, "deployment_id",
     """'["d2", "d3"]' is a list, not a single value"""),
    ("NaN literal, after a blank line", "deployments.jsonl",
     jsonl(GOOD_DEPLOY, "", '{"deployment_id": "d2", "repo": NaN}'), 3, None,
     "not valid JSON: NaN is not a JSON value (use null)"),
    ("bad value after a blank line: rows are line numbers", "deployments.jsonl",
     jsonl(GOOD_DEPLOY, "", "  ", {**GOOD_DEPLOY, "deployment_id": "d2", "status": "deployed"}), 4, "status",
     "unknown status 'deployed'"),
    ("bad JSON after a blank line: the same numbering", "deployments.jsonl",
     jsonl(GOOD_DEPLOY, "", "  ", '{"deployment_id": "d2",'), 4, None, "not valid JSON"),
    ("a JSON line that is not an object", "deployments.jsonl",
     jsonl(GOOD_DEPLOY, '["d2"]'), 2, None, "each line must be a JSON object"),
    ("CSV row with extra fields", "deployments.csv",
     DEPLOY_HEADER + "d1,r,prod,success,2026-09-01T10:00:00Z\nd2,r,prod,success,2026-09-01T10:00:00Z,x,y\n",
     2, None, "7 fields where the header has 5"),
    ("CSV not UTF-8", "deployments.csv",
     DEPLOY_HEADER + "d1,r,prod,success,2026-09-01T10:00:00Z\nd2,r\udcff,prod,success,2026-09-01T10:00:00Z\n",
     2, "repo", "not UTF-8 text"),
    ("JSON Lines not UTF-8", "deployments.jsonl",
     jsonl(GOOD_DEPLOY, '{"deployment_id": "d\udcff"}'), 2, None, "not UTF-8 text"),
]


def _write_bytes(path: Path, content: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8", "surrogateescape"))  # \udcff: a lone 0xff byte
    return path


@pytest.mark.parametrize(("name", "content", "row", "column", "message"),
                         [case[1:] for case in BAD_FILES], ids=[case[0] for case in BAD_FILES])
def test_bad_file_is_one_line_naming_file_row_and_column(tmp_path, loaded_db, name, content, row, column,
                                                         message):
    before = dump_tables(loaded_db)
    other = write(tmp_path / "in" / "incidents.csv", "incident_id,opened_at\ni1,2026-09-01T10:00:00Z\n")
    bad = _write_bytes(tmp_path / "in" / name, content)
    where = f"{bad}, row {row}" + (f", column {column!r}" if column else "") + ": "
    line = assert_one_line(cli("--db", str(loaded_db), "import", str(other), str(bad)), where, message)
    assert line.startswith(f"dora-impact: {where}")
    assert dump_tables(loaded_db) == before


def test_a_10_mb_field_is_not_echoed_whole(tmp_path, loaded_db):
    before = dump_tables(loaded_db)
    huge = "x" * 10_000_000
    bad = write(tmp_path / "deployments.csv", DEPLOY_HEADER + f"d1,r,prod,{huge},2026-09-01T10:00:00Z\n")
    line = assert_one_line(cli("--db", str(loaded_db), "import", str(bad)),
                           ", row 1, column 'status': unknown status 'xxxx", "(10,000,000 characters)")
    assert len(line) < 300
    assert dump_tables(loaded_db) == before


def test_import_of_a_missing_path_says_it_does_not_exist(tmp_path, loaded_db):
    missing = tmp_path / "nope"
    assert_one_line(cli("--db", str(loaded_db), "import", f"{missing}/"), f"{missing}: no such file or folder")
    assert_one_line(cli("--db", str(loaded_db), "import", str(tmp_path / "deployments.csv")), "no such file")


# -- accepted inputs the campaign found refused ------------------------------------------------------

@pytest.mark.parametrize(("text", "utc"), [
    ("2024-01-02 12:00:00+00", datetime(2024, 1, 2, 12, 0, tzinfo=UTC)),  # PostgreSQL timestamptz
    ("2024-01-02 12:00:00.5-03", datetime(2024, 1, 2, 15, 0, 0, 500000, tzinfo=UTC)),
    ("2024-01-02T12:00:00+05:30", datetime(2024, 1, 2, 6, 30, tzinfo=UTC)),
    ("2024-01-02T12:00:00-0330", datetime(2024, 1, 2, 15, 30, tzinfo=UTC)),
    ("2024-01-02T12:00+01", datetime(2024, 1, 2, 11, 0, tzinfo=UTC)),
    ("2024-01-02t12:00:00z", datetime(2024, 1, 2, 12, 0, tzinfo=UTC)),
    ("2024-01-02T12:00:00,25Z", datetime(2024, 1, 2, 12, 0, 0, 250000, tzinfo=UTC)),
    ("20240102T120000+0100", datetime(2024, 1, 2, 11, 0, tzinfo=UTC)),
    ("2024-01-02T12:00:00.123456789Z", datetime(2024, 1, 2, 12, 0, 0, 123456, tzinfo=UTC)),
])
def test_every_iso_8601_offset_form_is_read_as_its_utc_instant(tmp_path, text, utc):
    path = write(tmp_path / "deployments.csv", DEPLOY_HEADER + f"d1,r,prod,success,\"{text}\"\n")
    _, frame = read_entity_file(path)
    assert frame["finished_at"].to_list() == [utc]


def test_json_lines_with_a_bom_is_accepted_like_csv(tmp_path, loaded_db):
    body = jsonl(GOOD_DEPLOY).encode()
    path = tmp_path / "deployments.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + body)
    csv_path = tmp_path / "csv" / "deployments.csv"
    csv_path.parent.mkdir()
    csv_path.write_bytes(b"\xef\xbb\xbf" + (DEPLOY_HEADER + "d1,acme/shop,production,success,"
                                            "2026-09-01T10:00:00Z\n").encode())
    _, from_jsonl = read_entity_file(path)
    _, from_csv = read_entity_file(csv_path)
    assert from_jsonl.to_dicts() == from_csv.to_dicts()
    result = cli("--db", str(loaded_db), "import", str(path))
    assert result.code == 0, result.stderr
    assert len(dump_tables(loaded_db)["deployments"]) == 1


def test_json_lines_scalars_are_read_as_csv_text_would_be(tmp_path):
    record = {"repo": "r", "sha": "a", "committed_at": "2026-09-01T10:00:00Z", "pr_number": 12,
              "extra": {"ignored": ["as", "every", "extra", "column"]}}
    _, frame = read_entity_file(write(tmp_path / "changes.jsonl", jsonl(record)))
    assert frame["pr_number"].to_list() == [12]
    assert "extra" not in frame.columns


# -- configs ------------------------------------------------------------------------------------------

BAD_CONFIGS = [
    # (id, TOML bytes or None for a folder, what the message says)
    ("a folder", None, "is a folder, not a config file"),
    ("not UTF-8", b'db = "caf\xe9.duckdb"\n', "not UTF-8 text (byte 10); TOML files are UTF-8"),
    ("arrays nested too deep", b"a = " + b"[" * 20000 + b"]" * 20000 + b"\n", "nested too deeply"),
    ("inline tables nested too deep", b"a = " + b"{b=" * 20000 + b"1" + b"}" * 20000 + b"\n",
     "nested too deeply"),
    ("not TOML", b"db = \n", "not valid TOML"),
    ("ramp_weeks above the bound import uses", b'[[initiatives]]\nname = "p"\nstarted_on = 2026-03-02\n'
     b"ramp_weeks = 100000\n", "key initiatives.0.ramp_weeks: Input should be less than or equal to 520"),
    ("started_on with garbage", b'[[initiatives]]\nname = "p"\nstarted_on = "2026-03-02garbage"\n',
     "key initiatives.0.started_on:"),
    ("started_on with a time", b'[[initiatives]]\nname = "p"\nstarted_on = 2026-03-02T23:30:00-05:00\n',
     "key initiatives.0.started_on:"),
]


@pytest.mark.parametrize(("content", "message"), [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_is_one_line_naming_the_file(tmp_path, loaded_db, content, message):
    before = dump_tables(loaded_db)
    config = tmp_path / "dora.toml"
    if content is None:
        config.mkdir()
    else:
        config.write_bytes(content)
    good = write(tmp_path / "in" / "incidents.csv", "incident_id,opened_at\ni1,2026-09-01T10:00:00Z\n")
    result = cli("--db", str(loaded_db), "--config", str(config), "import", str(good))
    assert_one_line(result, f"dora-impact: {config}: ", message)
    assert dump_tables(loaded_db) == before


def test_ramp_weeks_bound_is_the_same_in_config_and_import(tmp_path, loaded_db):
    from warehouse.impact.config import MAX_RAMP_WEEKS

    for weeks, ok in ((MAX_RAMP_WEEKS, True), (MAX_RAMP_WEEKS + 1, False)):
        config = write(tmp_path / f"c{weeks}.toml",
                       f'[[initiatives]]\nname = "p"\nstarted_on = 2026-03-02\nramp_weeks = {weeks}\n')
        imported = write(tmp_path / f"i{weeks}" / "initiatives.csv",
                         f"name,started_on,ramp_weeks\np,2026-03-02,{weeks}\n")
        good = write(tmp_path / "good" / "teams.csv", GOOD_TEAMS)
        from_config = cli("--db", str(loaded_db), "--config", str(config), "import", str(good))
        from_import = cli("--db", str(loaded_db), "import", str(imported))
        assert (from_config.code == 0, from_import.code == 0) == (ok, ok), (from_config, from_import)


# -- files this process may not read (another process, without root's override if root) -----------


def run_unprivileged(*args: str, db: Path) -> Result:
    command = [sys.executable, "-m", "dora_impact", "--db", str(db), *args]
    if os.geteuid() == 0:
        # Root reads a mode-000 file anyway; without these two capabilities it is refused like
        # anyone else, so the test means the same as root and as a user.
        if not shutil.which("setpriv"):
            pytest.skip("running as root and setpriv (util-linux) is missing to drop CAP_DAC_OVERRIDE")
        command = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--", *command]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DORA_IMPACT_")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    return Result(done.returncode, done.stdout, done.stderr)


@pytest.mark.parametrize("what", ["config", "import file", "import folder"])
def test_unreadable_config_file_or_folder_is_exit_2_naming_it(tmp_path, loaded_db, what):
    before = dump_tables(loaded_db)
    good = write(tmp_path / "in" / "incidents.csv", "incident_id,opened_at\ni1,2026-09-01T10:00:00Z\n")
    if what == "config":
        locked = write(tmp_path / "dora.toml", 'db = "x.duckdb"\n')
        args = ["--config", str(locked), "import", str(good)]
        message = "cannot read the config file: Permission denied"
    elif what == "import file":
        locked = good
        args = ["import", str(good)]
        message = "cannot read the file: Permission denied"
    else:
        locked = good.parent
        args = ["import", str(locked)]
        message = "cannot read the folder: Permission denied"
    locked.chmod(0)
    try:
        result = run_unprivileged(*args, db=loaded_db)
    finally:
        locked.chmod(0o755)
    assert_one_line(result, f"dora-impact: {locked}: {message}")
    assert dump_tables(loaded_db) == before


# -- Hypothesis: one bad cell or row in a good file --------------------------------------------------

GOOD_ROWS = {
    "deployments": [
        {"deployment_id": f"d{i}", "repo": "acme/shop", "environment": "production", "status": "success",
         "finished_at": f"2026-09-0{i}T10:00:00Z", "started_at": f"2026-09-0{i} 09:00:00+02",
         "is_hotfix": "false"}
        for i in range(1, 5)
    ],
    "changes": [
        {"repo": "acme/shop", "sha": f"a{i}", "committed_at": "2026-08-31T08:00:00+0100", "pr_number": "12",
         "author": "ana"}
        for i in range(1, 5)
    ],
    "initiatives": [
        {"name": f"p{i}", "started_on": "2026-01-05", "ramp_weeks": "4", "ended_on": "2026-06-01", "kind": "portal"}
        for i in range(1, 5)
    ],
}
COLUMN_KINDS = {
    "finished_at": "timestamp", "started_at": "timestamp", "committed_at": "timestamp",
    "started_on": "date", "ended_on": "date", "is_hotfix": "bool", "pr_number": "int",
    "ramp_weeks": "int", "status": "status",
}
REQUIRED = {"deployment_id", "repo", "environment", "status", "finished_at", "sha", "committed_at", "name",
            "started_on"}
WORDS = set(TRUE_WORDS + FALSE_WORDS)
PRINTABLE = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp"))
WITH_A_LETTER = st.text(PRINTABLE, min_size=1, max_size=30).map(lambda s: "q" + s)


@st.composite
def bad_value(draw, column: str) -> tuple[str, str]:
    """(a value that is wrong for `column`, a fragment of the message it must give)."""
    kind = COLUMN_KINDS.get(column, "text")
    choices = ["empty"] if column in REQUIRED else []
    choices += {"timestamp": ["naive", "garbage"], "date": ["suffix", "datetime", "garbage"],
                "bool": ["word"], "int": ["garbage"], "status": ["word"], "text": []}[kind]
    if not choices:
        return draw(st.nothing())
    choice = draw(st.sampled_from(choices))
    if choice == "empty":
        return "", "required value is empty"
    if choice == "naive":
        moment = draw(st.datetimes(datetime(1000, 1, 1), datetime(9999, 12, 31)))
        fmt = draw(st.sampled_from(["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d"]))
        return moment.strftime(fmt), "has no UTC offset; expected ISO 8601 with an offset"
    if choice == "suffix":
        return "2026-03-02" + draw(st.text("abcxyzT:-+0123456789", min_size=1, max_size=12)), "is not a date"
    if choice == "datetime":
        return "2026-03-02T23:30:00-05:00", "is not a date"
    if kind == "timestamp":
        return draw(WITH_A_LETTER), "is not an ISO 8601 timestamp with an offset"
    if kind == "date":
        return draw(WITH_A_LETTER), "is not a date"
    if kind == "int":
        return draw(WITH_A_LETTER), "is not a whole number"
    word = draw(WITH_A_LETTER.filter(lambda s: s.strip().lower() not in WORDS | {"success", "failure"}))
    return word, "is not true or false" if kind == "bool" else "unknown status"


@st.composite
def mutated_file(draw, fmt: str) -> tuple[str, bytes, int, str | None, str]:
    """(entity, file bytes, row, column or None, message fragment) for one mutated good file."""
    entity = draw(st.sampled_from(sorted(GOOD_ROWS)))
    rows = [dict(r) for r in GOOD_ROWS[entity]]
    index = draw(st.integers(0, len(rows) - 1))
    columns = list(rows[0])
    structural = {"csv": ["extra fields"], "jsonl": ["object", "list", "NaN"]}[fmt]
    typed = [c for c in columns if COLUMN_KINDS.get(c) or c in REQUIRED]
    what = draw(st.sampled_from(typed + structural))
    column: str | None = what
    raw_json: str | None = None
    if what == "extra fields":
        column, fragment = None, f"fields where the header has {len(columns)}"
    elif what in ("object", "list"):
        column = draw(st.sampled_from([c for c in columns if COLUMN_KINDS.get(c) is None]))
        value = {"owner": draw(WITH_A_LETTER)} if what == "object" else [draw(WITH_A_LETTER)]
        rows[index][column] = value
        fragment = f"is {'an object' if what == 'object' else 'a list'}, not a single value"
    elif what == "NaN":
        column, fragment = None, "not valid JSON: NaN is not a JSON value"
        raw_json = json.dumps(rows[index])[:-1] + ', "score": NaN}'
    else:
        rows[index][what], fragment = draw(bad_value(what))
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for i, row in enumerate(rows):
            writer.writerow([row[c] for c in columns] + (["x", "y"] if i == index and what == "extra fields" else []))
        return entity, out.getvalue().encode(), index + 1, column, fragment
    # JSON Lines: blank lines anywhere; a row is its line number.
    lines: list[str] = []
    row_number = 0
    for i, row in enumerate(rows):
        lines += [draw(st.sampled_from(["", " ", "\t"]))] * draw(st.integers(0, 2))
        lines.append(raw_json if i == index and raw_json else json.dumps(row))
        if i == index:
            row_number = len(lines)
    bom = b"\xef\xbb\xbf" if draw(st.booleans()) else b""
    return entity, bom + ("\n".join(lines) + "\n").encode(), row_number, column, fragment


def check_mutated(tmp_path: Path, db: Path, before: dict, fmt: str, case) -> None:
    entity, content, row, column, fragment = case
    folder = Path(os.path.join(tmp_path, f"ex{len(list(tmp_path.iterdir()))}"))
    folder.mkdir()
    other = write(folder / "incidents.csv", "incident_id,opened_at\ni1,2026-09-01T10:00:00Z\n")
    bad = folder / f"{entity}.{fmt}"
    bad.write_bytes(content)
    where = f"{bad}, row {row}" + (f", column {column!r}" if column else "") + ": "
    line = assert_one_line(cli("--db", str(db), "import", str(other), str(bad)), where, fragment)
    assert line.startswith(f"dora-impact: {where}")
    assert dump_tables(db) == before


HYPOTHESIS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@HYPOTHESIS
@given(case=mutated_file("csv"))
def test_mutated_csv_is_one_line_naming_file_row_and_column(tmp_path_factory, case):
    check_mutated(*_arena(tmp_path_factory), "csv", case)


@HYPOTHESIS
@given(case=mutated_file("jsonl"))
def test_mutated_json_lines_is_one_line_naming_file_row_and_column(tmp_path_factory, case):
    check_mutated(*_arena(tmp_path_factory), "jsonl", case)


_ARENA: list[tuple[Path, Path, dict]] = []


def _arena(factory) -> tuple[Path, Path, dict]:
    """One loaded database shared by every example (each must leave it unchanged)."""
    if not _ARENA:
        root = factory.mktemp("mutated")
        db = root / "dora.duckdb"
        assert cli("--db", str(db), "import", str(write(root / "good" / "teams.csv", GOOD_TEAMS))).code == 0
        (root / "examples").mkdir()
        _ARENA.append((root / "examples", db, dump_tables(db)))
    return _ARENA[0]
