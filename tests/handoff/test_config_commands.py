import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from handoff.config.document import export_document, import_document
from handoff.management.commands.import_config import Command as ImportConfig
from handoff.models import ApiKey, Bot, ConfigVersion, Queue, User
from tests.handoff.config_helpers import demo_agents, demo_doc, render, snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def allow_private(settings: Any) -> None:
    settings.HANDOFF_WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def demo_file(tmp_path: Path) -> Path:
    demo_agents()
    path = tmp_path / "retail.json"
    path.write_text(json.dumps(demo_doc()), encoding="utf-8")
    return path


def run(*args: Any) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_imports_a_file(demo_file: Path) -> None:
    out, _ = run("import_config", str(demo_file))
    assert "Imported" in out
    assert Queue.objects.count() == 5
    assert ConfigVersion.objects.count() == 0


def test_it_imports_and_publishes(demo_file: Path) -> None:
    out, _ = run("import_config", str(demo_file), "--publish")
    assert "Published version 1." in out
    assert ConfigVersion.objects.get().document == export_document()


def test_it_reads_standard_input(demo_file: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(demo_file.read_text()))
    run("import_config", "-")
    assert Bot.objects.filter(key="retail-bot").exists()


def test_it_creates_users_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(demo_doc()))
    with pytest.raises(CommandError):
        run("import_config", str(path))
    out, _ = run("import_config", str(path), "--create-users")
    assert "Created inactive users: agent1, agent2" in out
    assert not User.objects.get(username="agent1").is_active


def test_it_prints_every_error_and_changes_nothing(demo_file: Path, tmp_path: Path) -> None:
    run("import_config", str(demo_file))
    doc = demo_doc()
    doc["queues"][1]["overflow"]["when_full"]["queue"] = "x"
    doc["rules"][0]["queue"] = "nowhere"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    before = snapshot()
    err = io.StringIO()
    with pytest.raises(CommandError, match="2 error"):
        call_command("import_config", str(bad), "--publish", stdout=io.StringIO(), stderr=err)
    assert err.getvalue().splitlines() == [
        'queues[1].overflow.when_full.queue: unknown queue "x"',
        'rules[0].queue: unknown queue "nowhere"',
    ]
    assert snapshot() == before


def test_it_reports_invalid_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": ')
    with pytest.raises(CommandError, match="invalid JSON"):
        run("import_config", str(bad))


def test_it_exits_non_zero_from_the_command_line(tmp_path: Path, capsys: Any) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    with pytest.raises(SystemExit) as raised:
        ImportConfig().run_from_argv(["manage.py", "import_config", "--skip-checks", str(bad)])
    assert raised.value.code != 0
    assert "(document): must be an object" in capsys.readouterr().err


def test_it_exports_to_stdout(demo_file: Path) -> None:
    run("import_config", str(demo_file))
    out, _ = run("export_config")
    assert out == render(export_document())
    assert out.endswith("}\n")


def test_it_exports_to_a_file_and_round_trips_byte_identical(
    demo_file: Path, tmp_path: Path
) -> None:
    run("import_config", str(demo_file))
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    run("export_config", "-o", str(first))
    run("import_config", str(first))
    run("export_config", "-o", str(second))
    assert first.read_bytes() == second.read_bytes()
    assert "whsec_" not in first.read_text()


def test_it_creates_a_bot_key_printed_alone_on_the_last_line(demo_file: Path) -> None:
    import_document(demo_doc())
    out, _ = run("create_bot_key", "retail-bot", "--name", "ci")
    key = out.splitlines()[-1]
    assert key.startswith("hp_")
    assert " " not in key
    stored = ApiKey.objects.get(prefix=key[:11])
    assert stored.bot.key == "retail-bot"
    assert stored.name == "ci"
    assert stored.hashed == hashlib.sha256(key.encode()).hexdigest()
    assert key not in json.dumps(export_document())


def test_it_refuses_a_key_for_an_unknown_bot(db: Any) -> None:
    with pytest.raises(CommandError, match='unknown bot "ghost"'):
        run("create_bot_key", "ghost")
    assert ApiKey.objects.count() == 0
