"""Replication positions: parsing, 'has applied', merging, and the token's text form."""

from __future__ import annotations

import pytest

from studyhall.db.replicas.positions import (
    GtidPosition,
    LsnPosition,
    UnknownPosition,
    from_token,
    token_of,
)


def gtid(text: str) -> GtidPosition:
    position = GtidPosition.parse(text)
    assert position is not None
    return position


def lsn(text: str) -> LsnPosition:
    position = LsnPosition.parse(text)
    assert position is not None
    return position


@pytest.mark.parametrize(
    ("applied", "commit", "covers"),
    [
        ("0-1-42", "0-1-42", True),
        ("0-1-43", "0-1-42", True),
        ("0-1-41", "0-1-42", False),
        ("0-1-50,1-2-7", "1-2-7", True),
        ("0-1-50,1-2-6", "0-1-3,1-2-7", False),  # every domain must be reached
        ("0-1-50", "1-2-1", False),  # a domain the replica has never seen
        ("0-2-42", "0-1-42", True),  # gtid_strict_mode: the sequence orders a domain
    ],
)
def test_a_gtid_position_covers_a_commit_in_every_domain(applied, commit, covers):
    assert gtid(applied).covers(gtid(commit)) is covers


def test_gtid_positions_merge_to_the_higher_sequence_per_domain():
    merged = gtid("0-1-5,1-2-9").merged(gtid("0-1-7,2-3-1"))
    assert str(merged) == "0-1-7,1-2-9,2-3-1"


def test_lsn_positions_compare_and_merge():
    assert lsn("16/B374D848").covers(lsn("16/B374D848"))
    assert not lsn("16/B374D847").covers(lsn("16/B374D848"))
    assert lsn("1/0").covers(lsn("0/FFFFFFFF"))
    assert lsn("0/10").merged(lsn("0/20")) == lsn("0/20")


def test_an_insert_position_past_a_page_header_is_the_page_boundary():
    # pg_current_wal_insert_lsn() at a page boundary points past the new page's header;
    # a standby's replay position stops at the boundary itself.
    assert lsn("0/4002018") == lsn("0/4002000")  # 24-byte header of a page
    assert lsn("1/28") == lsn("1/0")  # 40-byte header at a segment's start
    assert lsn("0/4002019").lsn == 0x4002019


def test_an_unknown_position_is_covered_by_none():
    unknown = UnknownPosition()
    assert not lsn("FF/0").covers(unknown) and not gtid("0-1-99").covers(unknown)
    assert unknown.merged(lsn("0/1")) == lsn("0/1")


@pytest.mark.parametrize(
    "position", [GtidPosition(((0, 1, 42), (1, 2, 7))), LsnPosition(0x16B374D848)]
)
def test_tokens_round_trip(position):
    assert from_token(token_of(position)) == position


@pytest.mark.parametrize(
    "text", ["mariadb:0-1", "mariadb:x-y-z", "postgresql:zz", "oracle:1", "", "postgresql:1/G"]
)
def test_a_token_naming_no_position_is_none(text):
    assert from_token(text) is None
