"""token.key_repository and FernetProvider: Keystone's key layout, rotation and loading."""
from __future__ import annotations

import os
import stat

import pytest
from cryptography.fernet import Fernet

from keystone_lite.token import key_repository, payload as token_payload
from keystone_lite.token.key_repository import KeyRepositoryError
from keystone_lite.token.payload import TokenPayload, new_audit_id, now_us
from keystone_lite.token.providers.fernet import FernetProvider


def key_files(path) -> dict[int, bytes]:
    return {int(name): (path / name).read_bytes() for name in os.listdir(path) if name.isdigit()}


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def a_payload() -> TokenPayload:
    issued = now_us()
    return TokenPayload(user_id="0" * 32, methods=("external",), issued_at=issued,
                        expires_at=issued + 3600 * 10**6, audit_ids=(new_audit_id(),))


@pytest.fixture
def repository(tmp_path):
    path = tmp_path / "fernet-keys"
    key_repository.setup(str(path))
    return path


# -- setup ----------------------------------------------------------------------------------------

def test_setup_creates_staged_and_primary_keys_owner_only(tmp_path):
    path = tmp_path / "keys"
    assert key_repository.setup(str(path)) == [0, 1]
    assert mode(path) == 0o700
    for number in (0, 1):
        assert mode(path / str(number)) == 0o600
        Fernet(key_files(path)[number])  # a valid key
    assert key_files(path)[0] != key_files(path)[1]
    assert sorted(os.listdir(path)) == ["0", "1"]  # no temporary file left behind


def test_setup_tightens_an_existing_directory_to_0700(tmp_path):
    path = tmp_path / "keys"
    path.mkdir(mode=0o755)
    key_repository.setup(str(path))
    assert mode(path) == 0o700


def test_setup_twice_keeps_the_existing_keys(repository):
    before = key_files(repository)
    assert key_repository.setup(str(repository)) == [0, 1]
    assert key_files(repository) == before


def test_setup_after_rotation_keeps_the_rotated_keys(repository):
    key_repository.rotate(str(repository), 3)
    before = key_files(repository)
    assert key_repository.setup(str(repository)) == [0, 1, 2]
    assert key_files(repository) == before


def test_setup_of_repository_with_only_a_staged_key_adds_a_primary(tmp_path):
    path = tmp_path / "keys"
    key_repository.setup(str(path))
    os.remove(path / "1")
    staged = (path / "0").read_bytes()
    assert key_repository.setup(str(path)) == [0, 1]
    assert (path / "0").read_bytes() == staged
    keys, _, _ = key_repository.load(str(path))
    assert keys[0] != staged  # a staged key is never the primary


# -- rotate ---------------------------------------------------------------------------------------

def test_rotate_promotes_the_staged_key_and_stages_a_new_one(repository):
    before = key_files(repository)
    assert key_repository.rotate(str(repository), 3) == [0, 1, 2]
    after = key_files(repository)
    assert after[2] == before[0]  # staged key became the primary
    assert after[1] == before[1]  # old primary kept as a secondary
    assert after[0] not in before.values()
    Fernet(after[0])
    assert mode(repository / "0") == 0o600
    assert mode(repository / "2") == 0o600


def test_rotate_purges_oldest_secondaries_beyond_max_active_keys(repository):
    for _ in range(4):
        key_repository.rotate(str(repository), 3)
    assert sorted(key_files(repository)) == [0, 4, 5]


def test_rotate_with_larger_max_active_keys_keeps_more_secondaries(repository):
    for _ in range(4):
        numbers = key_repository.rotate(str(repository), 4)
    assert numbers == [0, 3, 4, 5]


def test_rotate_with_max_active_keys_2_keeps_only_staged_and_primary(repository):
    key_repository.rotate(str(repository), 2)
    assert key_repository.rotate(str(repository), 2) == [0, 3]


def test_rotate_of_missing_repository_says_to_run_fernet_setup(tmp_path):
    path = tmp_path / "absent"
    with pytest.raises(KeyRepositoryError, match="fernet_setup") as raised:
        key_repository.rotate(str(path), 3)
    assert str(path) in str(raised.value)


def test_rotate_without_staged_key_says_to_run_fernet_setup(repository):
    os.remove(repository / "0")
    with pytest.raises(KeyRepositoryError, match="fernet_setup"):
        key_repository.rotate(str(repository), 3)


# -- load -----------------------------------------------------------------------------------------

def test_load_returns_primary_first_and_staged_last(repository):
    key_repository.rotate(str(repository), 3)
    files = key_files(repository)
    keys, _, _ = key_repository.load(str(repository))
    assert keys == [files[2], files[1], files[0]]


def test_load_ignores_files_that_are_not_key_numbers(repository):
    (repository / "README").write_text("not a key")
    (repository / "3.tmp").write_text("half-written")
    keys, _, _ = key_repository.load(str(repository))
    assert len(keys) == 2


def test_load_of_missing_directory_names_the_path(tmp_path):
    path = tmp_path / "absent"
    with pytest.raises(KeyRepositoryError, match="does not exist") as raised:
        key_repository.load(str(path))
    assert str(path) in str(raised.value)


def test_load_of_a_file_instead_of_a_directory_names_the_path(tmp_path):
    path = tmp_path / "keys"
    path.write_text("x")
    with pytest.raises(KeyRepositoryError) as raised:
        key_repository.load(str(path))
    assert str(path) in str(raised.value)


def test_load_of_empty_directory_names_the_path(tmp_path):
    path = tmp_path / "keys"
    path.mkdir()
    with pytest.raises(KeyRepositoryError, match="no keys") as raised:
        key_repository.load(str(path))
    assert str(path) in str(raised.value)


@pytest.mark.parametrize("content", [b"", b"not a fernet key", b"A" * 44,
                                     Fernet.generate_key()[:-4]])
def test_load_of_invalid_key_names_the_key_file(repository, content):
    (repository / "1").write_bytes(content)
    with pytest.raises(KeyRepositoryError, match="not a valid Fernet key") as raised:
        key_repository.load(str(repository))
    assert str(repository / "1") in str(raised.value)


def test_load_of_unreadable_key_names_the_key_file(repository):
    # Tests run as root, whom chmod 000 does not stop; a directory named like a key cannot be
    # read as one, which takes the same "cannot read" path. (Invalid content is tested above.)
    (repository / "2").mkdir()
    with pytest.raises(KeyRepositoryError) as raised:
        key_repository.load(str(repository))
    assert str(repository / "2") in str(raised.value)


def test_load_accepts_a_key_file_with_a_trailing_newline(repository):
    key = Fernet.generate_key()
    (repository / "1").write_bytes(key + b"\n")
    keys, _, _ = key_repository.load(str(repository))
    assert keys[0] == key


# -- the provider ---------------------------------------------------------------------------------

def test_provider_on_missing_repository_fails_at_construction(tmp_path):
    with pytest.raises(KeyRepositoryError):
        FernetProvider(str(tmp_path / "absent"))


def test_provider_token_round_trips_and_stays_short(repository):
    provider = FernetProvider(str(repository))
    payload = a_payload()
    token = provider.issue(payload)
    assert provider.open(token) == payload
    assert len(token) < 255


def test_provider_refuses_a_token_of_other_keys(repository, tmp_path):
    other = tmp_path / "other"
    key_repository.setup(str(other))
    token = FernetProvider(str(other)).issue(a_payload())
    assert FernetProvider(str(repository)).open(token) is None


@pytest.mark.parametrize("token", ["", "garbage", "é", "gAAAAA" + "A" * 200])
def test_provider_open_of_garbage_is_none(repository, token):
    assert FernetProvider(str(repository)).open(token) is None


@pytest.mark.parametrize("respell", [
    lambda token: " ".join(token),  # base64 decoding alone skips what is not in its alphabet
    lambda token: token[:8] + "!.~\x00" + token[8:],
    lambda token: token + "=" * (-len(token) % 4),  # the padding issue() strips
    lambda token: token.replace("-", "+").replace("_", "/"),  # the other base64 alphabet
], ids=["spaces", "foreign-characters", "padding", "standard-alphabet"])
def test_provider_accepts_no_other_spelling_of_a_token(repository, respell):
    provider = FernetProvider(str(repository))
    token = provider.issue(a_payload())
    while respell(token) == token:  # "-"/"_" or padding may happen not to occur in a token
        token = provider.issue(a_payload())
    assert provider.open(respell(token)) is None


def test_provider_refuses_a_last_character_with_spare_bits_set(repository):
    """Fernet tokens are 4n+1 bytes: their last base64 character carries 4 spare bits."""
    provider = FernetProvider(str(repository))
    token = provider.issue(a_payload())
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(token[-1])
    assert last & 0b1111 == 0  # what a canonical encoder writes
    for spare in range(1, 16):
        assert provider.open(token[:-1] + alphabet[last | spare]) is None


def test_provider_picks_up_a_rotation_without_restart(repository):
    provider = FernetProvider(str(repository))
    before_rotation = provider.issue(a_payload())
    staged = (repository / "0").read_bytes()

    key_repository.rotate(str(repository), 3)
    provider.refresh_keys()  # as the token service does at the start of each request

    after_rotation = provider.issue(a_payload())
    # The new token is made with the promoted key (the old staged key) ...
    assert Fernet(staged).decrypt(after_rotation + "=" * (-len(after_rotation) % 4))
    # ... and the token made before the rotation is still accepted.
    assert provider.open(before_rotation) is not None


def test_provider_accepts_tokens_of_the_newly_staged_key_right_after_rotation(repository):
    # Another node whose rotation promoted the same staged key signs with it: this node must
    # accept those tokens, however soon after its last look at the directory the rotation came
    # (directory timestamps have a coarse, clock-tick granularity).
    provider = FernetProvider(str(repository))
    key_repository.rotate(str(repository), 3)
    provider.refresh_keys()
    payload = a_payload()
    token = Fernet((repository / "0").read_bytes()).encrypt(
        token_payload.encode(payload)).rstrip(b"=").decode()
    assert provider.open(token) == payload


def test_provider_forgets_purged_keys_after_rotation(repository):
    provider = FernetProvider(str(repository))
    old = provider.issue(a_payload())
    for _ in range(3):
        key_repository.rotate(str(repository), 3)
    provider.refresh_keys()
    assert provider.open(old) is None


def fernet_token(key: bytes, payload: TokenPayload) -> str:
    return Fernet(key).encrypt(token_payload.encode(payload)).rstrip(b"=").decode()


def test_key_copied_over_in_place_within_one_clock_tick_is_picked_up(repository):
    # A copy in place (cp, scp) keeps the inode and the size; on a file system with clock-tick
    # timestamps it can also keep the mtime. Right after such a change no look is trusted.
    provider = FernetProvider(str(repository))
    staged = repository / "0"
    before = os.stat(staged)
    new_key = Fernet.generate_key()
    with open(staged, "r+b") as handle:  # in place: same inode
        handle.write(new_key)
    os.utime(staged, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert key_repository.look(str(repository), [str(staged)])[1] == (
        before.st_ino, before.st_mtime_ns, before.st_size)
    provider.refresh_keys()
    payload = a_payload()
    assert provider.open(fernet_token(new_key, payload)) == payload


def test_unchanged_repository_keeps_its_version(repository):
    # The version is part of every cache stamp: a re-read that finds the same keys (as happens
    # right after a change) must not empty the caches.
    provider = FernetProvider(str(repository))
    version = provider.refresh_keys()
    assert provider.refresh_keys() == version
    key_repository.rotate(str(repository), 3)
    assert provider.refresh_keys() != version


def test_quiet_repository_is_not_read_again(repository, monkeypatch):
    provider = FernetProvider(str(repository))
    loads = []
    real_load = key_repository.load
    monkeypatch.setattr(key_repository, "load", lambda path, *hint: loads.append(path) or
                        real_load(path, *hint))
    monkeypatch.setattr(key_repository, "RACY_SECONDS", 0.0)
    provider.refresh_keys()  # the first look after set-up may still be racy
    loads.clear()
    for _ in range(3):
        provider.refresh_keys()
    assert loads == []
