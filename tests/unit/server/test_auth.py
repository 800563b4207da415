"""Where the server's token comes from and how it is compared (orderflow.server.auth)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orderflow.core.errors import ConfigError
from orderflow.server.auth import check_token, read_token_file, resolve_token, token_matches


def private(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "token"
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("bad", ["", " ", "two words", "tab\there", "é-accent", "x" * 1025])
def test_a_token_is_visible_ascii_without_spaces(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"server\.token: a token is 1 to 1024"):
        check_token(bad)


def test_the_command_line_wins_and_two_sources_of_one_level_are_refused(tmp_path: Path) -> None:
    path = private(tmp_path, "from-file\n")
    assert resolve_token("cli", None, "setting", None) == "cli"
    assert resolve_token(None, path, "setting", None) == "from-file"
    assert resolve_token(None, None, "setting", None) == "setting"
    assert resolve_token(None, None, None, path) == "from-file"
    assert resolve_token(None, None, None, None) is None
    with pytest.raises(ConfigError, match="--token and --token-file"):
        resolve_token("cli", path)
    with pytest.raises(ConfigError, match=r"server\.token and server\.token_file"):
        resolve_token(None, None, "setting", path)
    with pytest.raises(ConfigError, match="empty"):
        resolve_token(None, None, "", None)  # ORDERFLOW_SERVER__TOKEN= is not "no token"


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o666])
def test_a_token_file_others_may_read_or_write_is_refused(tmp_path: Path, mode: int) -> None:
    path = private(tmp_path, "secret", mode)
    with pytest.raises(ConfigError, match=f"mode {mode:04o}.*chmod 600"):
        read_token_file(path)


def test_a_missing_or_empty_token_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"server\.token_file"):
        read_token_file(tmp_path / "nope")
    with pytest.raises(ConfigError, match="empty"):
        read_token_file(private(tmp_path, "\n"))


def test_tokens_compare_whole_and_exact_whatever_the_bytes() -> None:
    assert token_matches("abc", "abc") and token_matches("abc", b"abc")
    for given in (None, "", "ab", "abcd", "ABC", b"\xffabc", "é", b"a" * 100_000):
        assert not token_matches("abc", given)
