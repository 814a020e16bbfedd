"""The README opens with the two commands, and CI runs the test command."""

import re

from tests.helpers import REPO


def _readme_commands():
    text = (REPO / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text, flags=re.S)


def test_readme_starts_with_two_commands():
    text = (REPO / "README.md").read_text()
    first_block = text.index("```bash")
    assert text[:first_block].strip() == "# keras-sr"
    commands = _readme_commands()
    assert len(commands) >= 2
    main_job, tests = commands[0], commands[1]
    assert "keras-sr" in main_job and "pip install" in main_job
    assert "pytest" in tests and "pip install" in tests


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert _readme_commands()[1] in ci
