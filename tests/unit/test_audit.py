"""The audit log: hash chain, head anchor, rotation, crash recovery, privacy, and `hfm-compress audit verify`."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from hfm_compress.cli import audit_cmd
from hfm_runtime.audit import ZERO_HASH, AuditError, AuditLog, record_hash, verify_log
from hfm_runtime.errors import HfmError

TEXTS = ["patient Jane Roe reports chest pain", "fever and cough since Tuesday", "no complaints"]


def write_log(path: Path, n: int, **kwargs) -> list[dict]:
    with AuditLog(path, **kwargs) as log:
        return [log.append({"event": "test", "n": i}) for i in range(n)]


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def set_lines(path: Path, new: list[bytes]) -> None:
    path.write_bytes(b"".join(new))


def problems(path: Path) -> list[str]:
    report = verify_log(path)
    assert not report.ok
    return report.problems


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "audit.jsonl"


# ------------------------------------------------------------ chain


def test_append_chains_records_and_verifies(log_path: Path) -> None:
    records = write_log(log_path, 5)
    assert [r["seq"] for r in records] == [0, 1, 2, 3, 4]
    assert records[0]["prev"] == ZERO_HASH
    assert all(b["prev"] == a["hash"] for a, b in zip(records, records[1:]))
    assert all(r["hash"] == record_hash(r) and r["time"].endswith("Z") for r in records)
    assert [json.loads(line) for line in lines(log_path)] == records
    assert json.loads((log_path.parent / "audit.jsonl.head").read_text())["seq"] == 4
    report = verify_log(log_path)
    assert report.ok and report.problems == []
    assert (report.records, report.first_seq, report.last_seq, report.files) == (5, 0, 4, ["audit.jsonl"])


def test_reopening_continues_the_chain(log_path: Path) -> None:
    first = write_log(log_path, 2)
    again = write_log(log_path, 2)
    assert [r["seq"] for r in again] == [2, 3] and again[0]["prev"] == first[-1]["hash"]
    assert verify_log(log_path).ok


def test_edited_field_is_named(log_path: Path) -> None:
    write_log(log_path, 6)
    content = lines(log_path)
    record = json.loads(content[2])
    record["n"] = 99
    content[2] = json.dumps(record, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    set_lines(log_path, content)
    assert problems(log_path) == ["audit.jsonl line 3: record edited (hash does not match its content)"]


def test_edited_record_with_recomputed_hash_breaks_the_next_link(log_path: Path) -> None:
    write_log(log_path, 6)
    content = lines(log_path)
    record = json.loads(content[2])
    record["n"] = 99
    record["hash"] = record_hash(record)
    content[2] = json.dumps(record, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    set_lines(log_path, content)
    found = problems(log_path)
    assert len(found) == 1 and found[0].startswith("audit.jsonl line 4: prev does not match the hash of audit.jsonl line 3")


def test_deleted_middle_line_is_named(log_path: Path) -> None:
    write_log(log_path, 8)
    content = lines(log_path)
    del content[4]
    set_lines(log_path, content)
    assert problems(log_path) == ["audit.jsonl line 5: seq 5 follows seq 3: 1 record(s) deleted"]


def test_swapped_lines_are_named(log_path: Path) -> None:
    write_log(log_path, 6)
    content = lines(log_path)
    content[2], content[3] = content[3], content[2]
    set_lines(log_path, content)
    assert problems(log_path) == [
        "audit.jsonl line 3: seq 3 follows seq 1: records reordered (seq 2 is at audit.jsonl line 4)",
        "audit.jsonl line 4: seq 2 follows seq 3: records reordered or repeated",
    ]


def test_non_json_line_is_named(log_path: Path) -> None:
    write_log(log_path, 4)
    content = lines(log_path)
    content[1] = b"{not json\n"
    set_lines(log_path, content)
    found = problems(log_path)
    assert found[0].startswith("audit.jsonl line 2: not an audit record")
    assert "seq 2 follows seq 0: 1 record(s) deleted" in found[1]


def test_last_line_cut_mid_way_is_named_and_not_silently_repaired(log_path: Path) -> None:
    write_log(log_path, 5)
    data = log_path.read_bytes()
    log_path.write_bytes(data[: len(data) - 40])
    found = problems(log_path)
    assert "audit.jsonl line 5: partial line (no newline at the end): cut off by a crash or truncated" in found
    assert "audit.jsonl: ends at seq 3 but the head says 4: trailing records deleted" in found
    with pytest.raises(AuditError, match="ends at seq 3 but the head says 4"):
        AuditLog(log_path)
    assert log_path.read_bytes() == data[: len(data) - 40]  # evidence left as found


def test_deleted_trailing_lines_are_caught_by_the_head(log_path: Path) -> None:
    write_log(log_path, 10)
    set_lines(log_path, lines(log_path)[:7])
    assert problems(log_path) == ["audit.jsonl: ends at seq 6 but the head says 9: trailing records deleted"]
    with pytest.raises(HfmError, match="trailing records deleted"):
        AuditLog(log_path)


def test_repair_continues_with_a_record_of_what_was_found(log_path: Path) -> None:
    write_log(log_path, 10)
    set_lines(log_path, lines(log_path)[:7])
    with AuditLog(log_path, repair=True) as log:
        assert log.repairs == ["audit.jsonl: ends at seq 6 but the head says 9: trailing records deleted"]
        log.append({"event": "after"})
    repair = json.loads(lines(log_path)[7])
    assert repair["event"] == "audit-repair" and repair["seq"] == 7 and "trailing records deleted" in repair["problems"][0]
    assert verify_log(log_path).ok


def test_deleted_head_is_a_problem(log_path: Path) -> None:
    write_log(log_path, 3)
    (log_path.parent / "audit.jsonl.head").unlink()
    assert problems(log_path) == ["audit.jsonl.head: missing, so deletion of trailing records cannot be ruled out"]
    with pytest.raises(AuditError, match="missing"):
        AuditLog(log_path)


def test_an_anchor_kept_elsewhere_catches_a_rewritten_chain(log_path: Path) -> None:
    records = write_log(log_path, 4)
    anchor = {"seq": records[2]["seq"], "hash": records[2]["hash"]}
    assert verify_log(log_path, anchor=anchor).ok
    log_path.unlink()
    (log_path.parent / "audit.jsonl.head").unlink()
    write_log(log_path, 4)  # a forger starts a fresh, internally consistent chain
    report = verify_log(log_path, anchor=anchor)
    assert report.problems == ["audit.jsonl: the record with seq 2 does not carry the hash the anchor holds: "
                               "records rewritten"]


# ------------------------------------------------------------ rotation


def test_rotation_keeps_the_chain_across_files_with_the_oldest_dropped(log_path: Path) -> None:
    records = write_log(log_path, 40, max_bytes=600, backups=2)
    names = sorted(p.name for p in log_path.parent.iterdir() if p.name.startswith("audit.jsonl"))
    assert names == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2", "audit.jsonl.head", "audit.jsonl.lock"]
    assert all(p.stat().st_size <= 600 for p in log_path.parent.glob("audit.jsonl*"))
    first_of_active = json.loads(lines(log_path)[0])
    last_of_previous = json.loads(lines(log_path.parent / "audit.jsonl.1")[-1])
    assert first_of_active["prev"] == last_of_previous["hash"] and first_of_active["seq"] == last_of_previous["seq"] + 1
    report = verify_log(log_path)
    assert report.ok, report.problems
    assert report.files == ["audit.jsonl.2", "audit.jsonl.1", "audit.jsonl"]
    assert 0 < report.starts_at_seq and report.last_seq == records[-1]["seq"] == 39
    assert report.records == 40 - report.starts_at_seq


def test_a_deleted_rotated_middle_file_is_named(log_path: Path) -> None:
    write_log(log_path, 40, max_bytes=600, backups=3)
    middle = log_path.parent / "audit.jsonl.2"
    gone = [json.loads(line)["seq"] for line in lines(middle)]
    middle.unlink()
    found = problems(log_path)
    assert found[0].startswith("audit.jsonl.2: missing")
    assert found[1] == (f"audit.jsonl.1 line 1: seq {gone[-1] + 1} follows seq {gone[0] - 1}: "
                        f"{len(gone)} record(s) deleted")


def test_reopen_after_rotation_continues_from_the_rotated_file(log_path: Path) -> None:
    write_log(log_path, 10, max_bytes=600, backups=2)
    log_path.write_bytes(b"")  # as after a crash between the rename and the first line of the new file
    last = json.loads(lines(log_path.parent / "audit.jsonl.1")[-1])
    head = log_path.parent / "audit.jsonl.head"
    head.write_text(json.dumps({"seq": last["seq"], "hash": last["hash"], "file": "audit.jsonl"}))
    with AuditLog(log_path, max_bytes=600, backups=2) as log:
        assert log.append({"event": "next"})["prev"] == last["hash"]
    assert verify_log(log_path).ok


# ------------------------------------------------------------ crashes and concurrency


@pytest.mark.parametrize("tail", [b'{"event":"test","n":5,"prev":"ab', b"\x00\x00\x00", b"{garbage\n"])
def test_crash_leftover_at_the_end_is_cut_away_and_the_chain_continues(log_path: Path, tail: bytes) -> None:
    records = write_log(log_path, 5)
    with open(log_path, "ab") as fh:
        fh.write(tail)
    assert not verify_log(log_path).ok
    with AuditLog(log_path) as log:
        assert log.recovered_partial_line
        nxt = log.append({"event": "after crash"})
    assert nxt["seq"] == 5 and nxt["prev"] == records[-1]["hash"]
    assert log_path.read_bytes().endswith(b"}\n") and len(lines(log_path)) == 6
    assert verify_log(log_path).ok


def test_crash_before_the_head_was_updated_is_accepted(log_path: Path) -> None:
    write_log(log_path, 3)
    head = log_path.parent / "audit.jsonl.head"
    old_head = head.read_bytes()
    write_log(log_path, 4)  # pretend the head update of this call never reached the disk
    head.write_bytes(old_head)
    assert verify_log(log_path).ok
    with AuditLog(log_path) as log:
        assert log.last_seq == 6 and not log.recovered_partial_line


def test_one_writer_per_log(log_path: Path) -> None:
    with AuditLog(log_path):
        with pytest.raises(AuditError, match="already open for writing"):
            AuditLog(log_path)
    AuditLog(log_path).close()


def test_reserved_or_unserialisable_fields_write_nothing(log_path: Path) -> None:
    with AuditLog(log_path) as log:
        with pytest.raises(AuditError, match="seq"):
            log.append({"seq": 7})
        with pytest.raises(AuditError, match="strict JSON"):
            log.append({"latency": float("nan")})
        assert log.append({"ok": np.float32(0.5)})["seq"] == 0
    assert len(lines(log_path)) == 1 and verify_log(log_path).ok


def test_bad_settings_and_missing_log_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="max_bytes"):
        AuditLog(tmp_path / "a.jsonl", max_bytes=0)
    with pytest.raises(AuditError, match="no audit log here"):
        verify_log(tmp_path / "nothing.jsonl")


# ------------------------------------------------------------ inference records


def infer(path: Path, include_raw: bool = False, **overrides) -> list[dict]:
    probs = np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]], dtype=np.float32)
    call = dict(artifact_digest="sha256:abc", signer="key-1", profile="clinic-cpu", task="classification",
                inputs=TEXTS, outputs=probs, labels=["low", "medium", "high"], quality=None, latency_ms=12.3456)
    call.update(overrides)
    with AuditLog(path, include_raw_inputs=include_raw) as log:
        return log.record_inference(**call)


def test_raw_inputs_are_never_written_by_default(log_path: Path) -> None:
    records = infer(log_path)
    data = log_path.read_text(encoding="utf-8")
    assert all(text not in data for text in TEXTS) and "Jane" not in data
    assert [r["input_sha256"] for r in records] == [hashlib.sha256(t.encode()).hexdigest() for t in TEXTS]
    assert all("input" not in r for r in records)


def test_raw_texts_are_written_only_when_asked(log_path: Path) -> None:
    records = infer(log_path, include_raw=True)
    assert [r["input"] for r in records] == TEXTS
    assert all(text in log_path.read_text(encoding="utf-8") for text in TEXTS)


def test_classification_records_label_probability_and_call_details(log_path: Path) -> None:
    records = infer(log_path)
    assert [r["output"]["label"] for r in records] == ["medium", "low", "high"]
    assert records[0]["output"]["probability"] == pytest.approx(0.7)
    assert [(r["batch_index"], r["batch_size"]) for r in records] == [(0, 3), (1, 3), (2, 3)]
    assert {(r["artifact"], r["signer"], r["profile"], r["task"], r["latency_ms"]) for r in records} == {
        ("sha256:abc", "key-1", "clinic-cpu", "classification", 12.346)}
    assert verify_log(log_path).ok


def test_embedding_records_a_vector_hash_not_the_vector(log_path: Path) -> None:
    vectors = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    records = infer(log_path, task="embedding", outputs=vectors, labels=None, signer=None)
    assert records[1]["output"] == {"vector_sha256": hashlib.sha256(vectors[1].tobytes()).hexdigest(), "shape": [8]}
    assert records[1]["signer"] is None


def test_files_and_arrays_are_fingerprinted_by_content(log_path: Path, tmp_path: Path) -> None:
    image = tmp_path / "Jane_Roe_scan.png"
    image.write_bytes(b"\x89PNG fake image bytes")
    frame = np.zeros((4, 4), dtype=np.uint8)
    records = infer(log_path, task="image-classification", inputs=[str(image), frame],
                    outputs=np.array([[0.9, 0.1], [0.4, 0.6]]), labels=None, quality=["ok", "flat_line"])
    assert records[0]["input_kind"] == "file"
    assert records[0]["input_sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
    assert records[1]["input_kind"] == "array" and records[1]["input_sha256"] != records[0]["input_sha256"]
    assert [r["quality"] for r in records] == ["ok", "flat_line"]
    assert "Jane_Roe" not in log_path.read_text()  # file names can name a patient


def test_one_input_with_many_rows_and_mismatches(log_path: Path) -> None:
    rows = infer(log_path, inputs=["one cine"], outputs=np.full((4, 3), 1 / 3))
    assert len(rows) == 4 and len({r["input_sha256"] for r in rows}) == 1
    with pytest.raises(AuditError, match="2 inputs but outputs has 3 rows"):
        infer(log_path, inputs=TEXTS[:2])


def test_a_loaded_model_records_every_run(log_path: Path, tiny_classifier: Path) -> None:
    from hfm_runtime import load

    with AuditLog(log_path) as log:
        model = load(tiny_classifier, profile="clinic-cpu", audit=log)
        before = log.last_seq
        probs = model.run(TEXTS)
    records = [r for r in map(json.loads, lines(log_path)) if r["seq"] > before]
    assert len(records) == len(TEXTS) and records[0]["artifact"] == model.artifact.digest
    assert [r["output"]["class_index"] for r in records] == list(np.argmax(probs, axis=1))
    assert "Jane" not in log_path.read_text(encoding="utf-8") and verify_log(log_path).ok


# ------------------------------------------------------------ CLI

runner = CliRunner()


def cli() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def main() -> None:
        """Stands in for the hfm-compress root app."""

    root.add_typer(audit_cmd.app, name="audit")
    return root


def test_cli_verify_exit_0_when_intact(log_path: Path) -> None:
    write_log(log_path, 3)
    result = runner.invoke(cli(), ["audit", "verify", str(log_path)])
    assert result.exit_code == 0, result.output
    assert "PASS" in result.stdout and "0 .. 2" in result.stdout
    as_json = runner.invoke(cli(), ["audit", "verify", str(log_path), "--json"])
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)["ok"] is True


def test_cli_verify_exit_2_naming_every_problem(log_path: Path) -> None:
    write_log(log_path, 8)
    content = lines(log_path)
    del content[4]
    set_lines(log_path, content[:6])
    result = runner.invoke(audit_cmd.app, ["verify", str(log_path), "--json"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: audit.jsonl line 5: seq 5 follows seq 3: 1 record(s) deleted\n")
    assert "trailing records deleted" in result.stderr
    assert json.loads(result.stdout)["ok"] is False


def test_cli_verify_missing_log_is_a_one_line_error(tmp_path: Path) -> None:
    result = runner.invoke(audit_cmd.app, ["verify", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2 and result.stderr.startswith("error: ") and "no audit log here" in result.stderr
