"""`q2c/settings.py` is the only module of q2c's packages that reads environment variables.

Every module of `q2c/`, `extractors/` and `orchestration/` is parsed (ast) and any read or write
of the process environment outside the allow-list fails the test, naming file and line:
`os.environ`, `os.environb`, `os.getenv`, `os.putenv`, `os.unsetenv` (also under another name,
or imported from `os` or `posix`) and `dotenv` (which loads `.env` into the environment).
Secrets declared as Dagster `dg.EnvVar("NAME")` are not reads by our code: Dagster resolves them
at run time, the documented way to keep them out of run config and logs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from q2c.settings import load_settings, override_settings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("q2c", "extractors", "orchestration")
ENV_NAMES = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})
OS_MODULES = frozenset({"os", "posix"})

#: module -> why it may touch the environment
ALLOWED = {
    "q2c/settings.py": "the one reader: Settings, and the scoped setters for child processes",
}


def environment_reads(source: str) -> list[tuple[int, str]]:
    """(line, what) for every use of the process environment in `source`."""
    tree = ast.parse(source)
    os_names: set[str] = set()
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in OS_MODULES:
                    os_names.add(alias.asname or alias.name)
                if alias.name.split(".")[0] == "dotenv":
                    found.append((node.lineno, f"import {alias.name}"))
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module in OS_MODULES:
                for alias in node.names:
                    if alias.name in ENV_NAMES or alias.name == "*":
                        found.append((node.lineno, f"from {node.module} import {alias.name}"))
            if node.module.split(".")[0] == "dotenv":
                found.append((node.lineno, f"from {node.module} import ..."))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ENV_NAMES
            and isinstance(node.value, ast.Name)
            and node.value.id in os_names
        ):
            found.append((node.lineno, f"{node.value.id}.{node.attr}"))
    return sorted(found)


def package_modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_the_checker_finds_every_form_of_an_environment_read() -> None:
    source = (
        "import os\nimport os as o\nfrom os import environ, getenv\n"
        "from dotenv import load_dotenv\n"
        "a = os.environ['A']\nb = o.getenv('B')\nos.environ.update({})\nc = os.path.join('x')\n"
    )
    assert [what for _, what in environment_reads(source)] == [
        "from os import environ",
        "from os import getenv",
        "from dotenv import ...",
        "os.environ",
        "o.getenv",
        "os.environ",
    ]


def test_no_module_outside_settings_reads_the_environment() -> None:
    modules = package_modules()
    assert len(modules) > 100  # the packages were found
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in modules
        if str(path.relative_to(ROOT)) not in ALLOWED
        for line, what in environment_reads(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "read the environment through q2c.settings:\n" + "\n".join(offenders)


def test_every_allowed_module_still_needs_its_exception() -> None:
    for name in ALLOWED:
        assert environment_reads((ROOT / name).read_text(encoding="utf-8")), name


def test_settings_are_cached_per_environment_and_overridable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("Q2C_HOME", str(tmp_path / "a"))
    monkeypatch.setenv("Q2C_POLICY_FILE", str(tmp_path / "contract.yml"))
    monkeypatch.setenv("Q2C_VIES_URL", "http://127.0.0.1:9/vies")
    monkeypatch.setenv("Q2C_TEST_SALT", "pepper")
    first = load_settings()
    assert first is load_settings()  # cached
    assert first.home == tmp_path / "a"
    assert first.policy_file == tmp_path / "contract.yml"
    assert first.vies_url == "http://127.0.0.1:9/vies"
    assert first.variable("Q2C_TEST_SALT") == "pepper"
    assert "pepper" not in repr(first) and "Q2C_TEST_SALT" not in first.model_dump_json()
    monkeypatch.setenv("Q2C_HOME", str(tmp_path / "b"))
    assert load_settings().home == tmp_path / "b"  # a changed environment is read again
    chosen = load_settings({"Q2C_HOME": str(tmp_path / "c")})
    with override_settings(chosen):
        assert load_settings() is chosen
    assert load_settings().home == tmp_path / "b"
