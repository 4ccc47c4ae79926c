"""`kbsync drift`: the pure comparison (no AWS), the AWS calls on fake paginated clients, then the command against the
local cloud (real syncs, real S3 changes, a real failed document), and the README's drift section run as written."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from kbsync.cli import drift
from kbsync.cli.errors import EXIT_CODE_HELP, CliError, ExitCode
from kbsync.cli.render import PLAIN
from tests.cli.support import REPO, Deployed, Target, cli
from tests.runbooks.runbook_parser import SECTIONS, parse

KB, DS, BUCKET = "KB12345678", "DS12345678", "docs-prod"
LOCATION = drift.Location(KB, DS, BUCKET, ("docs/",))
WAIT = ("--wait", "--interval", "0.05", "--timeout", "120")


def detail(key: str, status: str = "INDEXED", reason: str | None = None, bucket: str = BUCKET) -> dict[str, Any]:
    """A KnowledgeBaseDocumentDetail as ListKnowledgeBaseDocuments returns it."""
    found: dict[str, Any] = {
        "knowledgeBaseId": KB,
        "dataSourceId": DS,
        "status": status,
        "identifier": {"dataSourceType": "S3", "s3": {"uri": f"s3://{bucket}/{key}"}},
    }
    if reason:
        found["statusReason"] = reason
    return found


def keys_of(documents: tuple[drift.Document, ...]) -> list[str]:
    return [document.key for document in documents]


# --------------------------------------------------------------------------- the comparison


def test_nothing_anywhere_is_never_synced_and_no_drift() -> None:
    result = drift.compare(BUCKET, [], [])
    assert (result.never_synced, result.drifted, result.exit_code) == (True, False, ExitCode.OK)
    shown = drift.report(LOCATION, result, 10)
    assert shown["neverSynced"] and shown["action"].startswith("upload documents under s3://docs-prod/docs/")
    assert "missing" not in shown


def test_files_but_no_document_is_never_synced_not_drift() -> None:
    result = drift.compare(BUCKET, ["docs/a.md", "docs/b.md"], [])
    assert (result.never_synced, result.drifted, result.exit_code, result.s3_files) == (True, False, ExitCode.OK, 2)
    shown = drift.report(LOCATION, result, 10)
    assert shown["action"] == f'sync it: kbsync sync --kb {KB} --ds {DS} --reason "drift"'
    text = drift.text(shown, PLAIN)
    assert "never synced" in text and f'kbsync sync --kb {KB} --ds {DS} --reason "drift"' in text


def test_everything_indexed_is_no_drift() -> None:
    result = drift.compare(BUCKET, ["docs/a.md", "docs/b.md"], [detail("docs/a.md"), detail("docs/b.md")])
    assert (result.drifted, result.exit_code) == (False, ExitCode.OK)
    assert result.missing == result.deleted == result.failed == ()
    text = drift.text(drift.report(LOCATION, result, 10), PLAIN)
    assert text.splitlines()[-1] == "no drift: the index matches the files under the prefixes"
    assert "missing from the index: 0" in text and "action:" not in text


def test_missing_files_absent_or_not_found() -> None:
    result = drift.compare(
        BUCKET,
        ["docs/a.md", "docs/new.md", "docs/lost.md", "docs/going.md"],
        [detail("docs/a.md"), detail("docs/lost.md", "NOT_FOUND"), detail("docs/going.md", "DELETE_IN_PROGRESS")],
    )
    assert result.missing == (
        drift.Document("docs/going.md", "DELETE_IN_PROGRESS"),
        drift.Document("docs/lost.md", "NOT_FOUND"),
        drift.Document("docs/new.md"),
    )
    assert result.deleted == result.failed == () and result.exit_code == ExitCode.DRIFT


def test_documents_whose_file_is_gone_are_deleted_whatever_their_status() -> None:
    result = drift.compare(
        BUCKET,
        ["docs/a.md"],
        [
            detail("docs/a.md"),
            detail("docs/gone.md"),
            detail("docs/gone.exe", "FAILED", "Ignored 1 files as their file format was not supported."),
            detail("docs/elsewhere.md", bucket="another-bucket"),
            detail("docs/removing.md", "DELETING"),  # already leaving the index: not drift
            detail("docs/never.md", "NOT_FOUND"),
        ],
    )
    assert result.deleted == (
        drift.Document("docs/gone.exe", "FAILED"),
        drift.Document("docs/gone.md", "INDEXED"),
        drift.Document("s3://another-bucket/docs/elsewhere.md", "INDEXED"),
    )
    assert result.missing == result.failed == () and result.drifted


@pytest.mark.parametrize("status", ["FAILED", "METADATA_UPDATE_FAILED", "PARTIALLY_INDEXED"])
def test_failed_documents_carry_their_reason(status: str) -> None:
    reason = "Ignored 1 files as their metadata file was invalid: not valid JSON"
    result = drift.compare(
        BUCKET, ["docs/a.md", "docs/b.md"], [detail("docs/a.md"), detail("docs/b.md", status, reason)]
    )
    assert result.failed == (drift.Document("docs/b.md", status, reason),)
    shown = drift.report(LOCATION, result, 10)
    assert shown["failed"]["documents"] == [{"key": "docs/b.md", "status": status, "statusReason": reason}]
    assert shown["failed"]["runbook"].endswith("/sync-partial.md#common-failure-reasons-and-their-fix")
    assert f"  docs/b.md ({status}): {reason}" in drift.text(shown, PLAIN).splitlines()


def test_in_flight_and_ignored_documents_are_not_drift() -> None:
    result = drift.compare(
        BUCKET,
        ["docs/a.md", "docs/b.md", "docs/c.md", "docs/empty.txt"],
        [
            detail("docs/a.md", "PENDING"),
            detail("docs/b.md", "IN_PROGRESS"),
            detail("docs/c.md", "METADATA_PARTIALLY_INDEXED"),
            detail("docs/empty.txt", "IGNORED", "Ignored 1 files as they had no text content to index."),
        ],
    )
    assert (result.drifted, keys_of(result.in_flight), keys_of(result.ignored)) == (
        False,
        ["docs/a.md", "docs/b.md"],
        ["docs/empty.txt"],
    )
    text = drift.text(drift.report(LOCATION, result, 10), PLAIN)
    assert "being ingested (not drift): 2" in text and "ignored by Bedrock (not drift): 1" in text


def test_sidecars_folders_and_custom_documents_are_not_files() -> None:
    custom = {"knowledgeBaseId": KB, "dataSourceId": DS, "status": "INDEXED",
              "identifier": {"dataSourceType": "CUSTOM", "custom": {"id": "doc-1"}}}  # fmt: skip
    result = drift.compare(BUCKET, ["docs/", "docs/a.md", "docs/a.md.metadata.json", "docs/sub/"], [custom])
    assert (result.s3_files, result.index_documents, result.never_synced) == (1, 0, True)


def test_more_than_the_limit_is_cut_with_a_count() -> None:
    keys = [f"docs/{index:03}.md" for index in range(25)]
    result = drift.compare(BUCKET, [*keys, "docs/indexed.md"], [detail("docs/indexed.md")])
    shown = drift.report(LOCATION, result, 10)
    assert shown["missing"]["count"] == 25 and shown["missing"]["more"] == 15
    assert [entry["key"] for entry in shown["missing"]["documents"]] == keys[:10]
    lines = drift.text(shown, PLAIN).splitlines()
    assert lines[lines.index("missing from the index: 25") + 11] == "  ... and 15 more"
    assert lines[-1] == "drift: 25 file(s) differ (exit code 14)"


def test_long_reasons_are_cut_in_text_only() -> None:
    reason = "x" * 1000
    result = drift.compare(
        BUCKET, ["docs/a.md", "docs/b.md"], [detail("docs/a.md"), detail("docs/b.md", "FAILED", reason)]
    )
    shown = drift.report(LOCATION, result, 10)
    assert shown["failed"]["documents"][0]["statusReason"] == reason
    line = next(line for line in drift.text(shown, PLAIN).splitlines() if line.startswith("  docs/b.md"))
    assert len(line) < 400 and line.endswith("…")


def test_the_failed_documents_runbook_section_exists() -> None:
    runbook = (REPO / "runbooks" / "sync-partial.md").read_text(encoding="utf-8")
    url = drift.failed_documents_runbook()
    page, anchor = url.rsplit("/", 1)[1].split("#")
    assert page == "sync-partial.md"
    headings = [re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
                for line in runbook.splitlines() if line.startswith("#")]  # fmt: skip
    assert anchor in headings


def test_the_drift_exit_code_is_documented() -> None:
    assert int(ExitCode.DRIFT) == 14
    assert "kbsync drift" in dict(EXIT_CODE_HELP)[ExitCode.DRIFT]


# --------------------------------------------------------------------------- the AWS calls (fake clients)


class Pages:
    def __init__(self, pages: list[dict[str, Any]], calls: list[dict[str, Any]]) -> None:
        self._pages, self._calls = pages, calls

    def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        self._calls.append(kwargs)
        yield from self._pages


class FakeBedrock:
    def __init__(self, source: dict[str, Any], pages: list[dict[str, Any]]) -> None:
        self.source, self.pages = source, pages
        self.calls: list[dict[str, Any]] = []

    def get_data_source(self, **_: Any) -> dict[str, Any]:
        return {"dataSource": self.source}

    def get_paginator(self, name: str) -> Pages:
        assert name == "list_knowledge_base_documents"
        return Pages(self.pages, self.calls)


class FakeS3:
    def __init__(self, pages_by_prefix: dict[str, list[dict[str, Any]]], error: str | None = None) -> None:
        self.pages_by_prefix, self.error = pages_by_prefix, error
        self.calls: list[dict[str, Any]] = []

    def get_paginator(self, name: str) -> Any:
        assert name == "list_objects_v2"
        fake = self

        class Paginator:
            def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
                fake.calls.append(kwargs)
                if fake.error:
                    raise ClientError({"Error": {"Code": fake.error, "Message": "x"}}, "ListObjectsV2")
                yield from fake.pages_by_prefix[kwargs["Prefix"]]

        return Paginator()


def s3_source(prefixes: list[str] | None, owner: str | None = None) -> dict[str, Any]:
    s3: dict[str, Any] = {"bucketArn": f"arn:aws:s3:::{BUCKET}"}
    if prefixes is not None:
        s3["inclusionPrefixes"] = prefixes
    if owner:
        s3["bucketOwnerAccountId"] = owner
    return {"knowledgeBaseId": KB, "dataSourceId": DS, "dataSourceConfiguration": {"type": "S3", "s3Configuration": s3}}


def objects(*keys: str) -> dict[str, Any]:
    return {"Contents": [{"Key": key} for key in keys]}


def test_check_reads_every_page_of_both_sides() -> None:
    bedrock = FakeBedrock(
        s3_source(["docs/"], owner="123456789012"),
        [{"documentDetails": [detail("docs/a.md"), detail("docs/gone.md")], "nextToken": "t"},
         {"documentDetails": [detail("docs/c.md", "FAILED", "bad")]}],
    )  # fmt: skip
    s3 = FakeS3({"docs/": [objects("docs/a.md", "docs/b.md"), objects("docs/c.md", "docs/c.md.metadata.json"), {}]})
    location, result = drift.check(bedrock, s3, KB, DS)
    assert location == drift.Location(KB, DS, BUCKET, ("docs/",), "123456789012")
    assert s3.calls == [{"Bucket": BUCKET, "ExpectedBucketOwner": "123456789012", "Prefix": "docs/"}]
    assert bedrock.calls == [{"knowledgeBaseId": KB, "dataSourceId": DS}]
    assert (result.s3_files, result.index_documents) == (3, 3)
    assert (keys_of(result.missing), keys_of(result.deleted), keys_of(result.failed)) == (
        ["docs/b.md"],
        ["docs/gone.md"],
        ["docs/c.md"],
    )


def test_no_inclusion_prefix_lists_the_whole_bucket() -> None:
    s3 = FakeS3({"": [objects("a.md", "dir/b.md")]})
    location, result = drift.check(FakeBedrock(s3_source(None), [{"documentDetails": [detail("a.md")]}]), s3, KB, DS)
    assert s3.calls == [{"Bucket": BUCKET, "Prefix": ""}] and location.where() == f"s3://{BUCKET}/ (whole bucket)"
    assert keys_of(result.missing) == ["dir/b.md"]


def test_a_missing_bucket_and_a_non_s3_source_are_clear_errors() -> None:
    with pytest.raises(CliError) as missing:
        drift.check(FakeBedrock(s3_source(["docs/"]), []), FakeS3({}, error="NoSuchBucket"), KB, DS)
    assert missing.value.code == ExitCode.NOT_FOUND
    assert f"the bucket {BUCKET} of data source {KB}/{DS} does not exist" in missing.value.message
    web = {"knowledgeBaseId": KB, "dataSourceId": DS, "dataSourceConfiguration": {"type": "WEB"}}
    with pytest.raises(CliError) as other:
        drift.check(FakeBedrock(web, []), FakeS3({}), KB, DS)
    assert other.value.code == ExitCode.USAGE and "S3 data sources only" in other.value.message


# --------------------------------------------------------------------------- against the local cloud


def drift_json(t: Target, *extra: str) -> tuple[int, dict[str, Any]]:
    result = cli("drift", "--kb", t.kb, "--ds", t.ds, "--json", *extra)
    assert result.err == "", result.err
    shown: dict[str, Any] = json.loads(result.out)
    return result.code, shown


def keys_shown(section: dict[str, Any]) -> list[str]:
    return [entry["key"] for entry in section["documents"]]


def test_a_target_never_synced_says_so(deployed: Deployed) -> None:
    t = deployed.new_target()
    result = cli("drift", "--kb", t.kb, "--ds", t.ds)
    assert result.code == ExitCode.OK, result.err
    assert result.out.splitlines() == [
        f"knowledge base {t.kb} / data source {t.ds}: s3://{t.bucket}/docs/: 2 file(s) in S3, no document in the index",
        "never synced: the knowledge base reports no document of this data source",
        f'  action: sync it: kbsync sync --kb {t.kb} --ds {t.ds} --reason "drift"',
    ]


def test_drift_reports_each_file_exactly(deployed: Deployed) -> None:
    t = deployed.new_target({"a.md": b"# A\n", "gone.md": b"# soon deleted\n", "setup.exe": b"MZ\x90\x00 exe-body"})
    assert cli("sync", "--kb", t.kb, "--ds", t.ds, *WAIT).code == ExitCode.PARTIAL  # setup.exe fails
    code, shown = drift_json(t)
    assert code == ExitCode.DRIFT and shown["failed"]["count"] == 1
    assert (shown["missing"]["count"], shown["deleted"]["count"]) == (0, 0)

    s3 = deployed.client("s3")
    s3.delete_object(Bucket=t.bucket, Key="docs/gone.md")
    s3.put_object(Bucket=t.bucket, Key="docs/new.md", Body=b"# new\n")
    code, shown = drift_json(t)
    assert code == ExitCode.DRIFT == shown["exitCode"]
    assert (shown["s3Files"], shown["indexDocuments"], shown["neverSynced"], shown["drift"]) == (3, 3, False, True)
    assert shown["missing"]["documents"] == [{"key": "docs/new.md"}]
    assert shown["deleted"]["documents"] == [{"key": "docs/gone.md", "status": "INDEXED"}]
    assert shown["failed"]["documents"] == [
        {
            "key": "docs/setup.exe",
            "status": "FAILED",
            "statusReason": f"Ignored 1 files as their file format was not supported. [Files: s3://{t.bucket}/docs/setup.exe]",
        }
    ]
    sync = f'kbsync sync --kb {t.kb} --ds {t.ds} --reason "drift"'
    assert shown["missing"]["action"] == f"sync to index them: {sync}"
    assert shown["deleted"]["action"] == f"sync to remove them from the index: {sync}"

    text = cli("drift", "--kb", t.kb, "--ds", t.ds)
    assert text.code == ExitCode.DRIFT
    lines = text.out.splitlines()
    for expected in (
        "missing from the index: 1",
        "  docs/new.md",
        "in the index but deleted from S3: 1",
        "  docs/gone.md (INDEXED)",
        "failed: 1",
        f"  runbook: {drift.failed_documents_runbook()}",
        "drift: 3 file(s) differ (exit code 14)",
    ):
        assert expected in lines, (expected, text.out)
    assert "# new" not in text.out and "exe-body" not in text.out  # never the content of a document (ids are [0-9A-Z])

    assert cli("sync", "--kb", t.kb, "--ds", t.ds, "--reason", "drift", *WAIT).code == ExitCode.PARTIAL
    code, shown = drift_json(t)
    assert code == ExitCode.DRIFT
    assert (shown["missing"]["count"], shown["deleted"]["count"], keys_shown(shown["failed"])) == (
        0,
        0,
        ["docs/setup.exe"],
    )

    s3.delete_object(Bucket=t.bucket, Key="docs/setup.exe")  # the fix for an unsupported file: remove it
    assert cli("sync", "--kb", t.kb, "--ds", t.ds, *WAIT).code == ExitCode.OK
    code, shown = drift_json(t)
    assert (code, shown["drift"], shown["indexDocuments"]) == (ExitCode.OK, False, 2)


def test_unknown_ids_and_a_missing_bucket(deployed: Deployed) -> None:
    t = deployed.new_target()
    unknown_kb = cli("drift", "--kb", "ZZZZZZZZZZ", "--ds", t.ds)
    assert unknown_kb.code == ExitCode.NOT_FOUND
    assert unknown_kb.err.startswith("kbsync: unknown knowledge base ZZZZZZZZZZ: list them with `aws bedrock-agent ")
    unknown_ds = cli("drift", "--kb", t.kb, "--ds", "ZZZZZZZZZZ")
    assert unknown_ds.code == ExitCode.NOT_FOUND
    assert unknown_ds.err.startswith(f"kbsync: unknown data source ZZZZZZZZZZ of knowledge base {t.kb}: list them")
    assert cli("drift", "--kb", "short", "--ds", t.ds).code == ExitCode.USAGE
    gone = deployed.new_target(bucket_exists=False)
    missing = cli("drift", "--kb", gone.kb, "--ds", gone.ds)
    assert missing.code == ExitCode.NOT_FOUND and "does not exist" in missing.err


# --------------------------------------------------------------------------- the README's drift section, run


README_SECTION = "## Drift between S3 and the index"
README_OUTCOMES = {"drift": {0, 14}, "sync": {0, 3}}


def readme_drift_section(tmp_path: Path) -> Path:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = README_SECTION + text.split(README_SECTION, 1)[1].split("\n## ", 1)[0]
    path = tmp_path / "drift-section.md"
    path.write_text(section, encoding="utf-8")
    return path


def test_the_readme_drift_section_is_a_runbook(tmp_path: Path) -> None:
    path = readme_drift_section(tmp_path)
    headings = [line[4:].strip() for line in path.read_text().splitlines() if line.startswith("### ")]
    assert headings == list(SECTIONS)
    commands = [command.text for command in parse(path).commands]
    assert any(c.startswith("kbsync drift ") for c in commands) and any(c.startswith("aws ") for c in commands)


def _expand(text: str, variables: dict[str, str]) -> list[str]:
    for name, value in variables.items():
        text = text.replace("${" + name + "}", value).replace("$" + name, value)
    return shlex.split(text)


def test_the_readme_drift_section_runs(deployed: Deployed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command of the section, as written, with the ids of a drifting data source bound: `kbsync` in-process,
    `aws` through the AWS CLI's own driver in-process (the local cloud is this process's moto)."""
    from awscli.clidriver import create_clidriver

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    t = deployed.new_target({"a.md": b"# A\n", "bad.exe": b"MZ"})
    assert cli("sync", "--kb", t.kb, "--ds", t.ds, *WAIT).code == ExitCode.PARTIAL
    deployed.client("s3").put_object(Bucket=t.bucket, Key="docs/new.md", Body=b"# new\n")
    bound = {"KB_ID": t.kb, "DS_ID": t.ds, "BUCKET": t.bucket, "PREFIX": t.prefix}
    variables: dict[str, str] = {}
    commands = parse(readme_drift_section(tmp_path)).commands
    for command in commands:
        if command.assignment:
            name = command.assignment[0]
            assert name in bound, f"README line {command.line}: unexpected binding {name}"
            variables[name] = bound[name]
            continue
        argv = _expand(command.text, variables)
        if argv[0] == "kbsync":
            extra = ["--interval", "0.05", "--timeout", "120"] if "--wait" in argv else []
            ran = cli(*argv[1:], *extra)
            assert ran.code in README_OUTCOMES.get(argv[1], {0}), (command.text, ran.out, ran.err)
        else:
            assert argv[0] == "aws", command.text
            out = io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
                code = create_clidriver().main(argv[1:])
            assert code == 0, (command.text, out.getvalue())
    assert len(commands) >= 10
