from sqlalchemy import text

from studyhall.database import DatabaseManager, get_current_session, with_db_session


def test_unit_of_work_round_trip(database):
    with DatabaseManager.get_session() as session:
        assert get_current_session() is session
        assert session.execute(text("SELECT 1")).scalar() == 1

    @with_db_session
    def one():
        return get_current_session().execute(text("SELECT 1")).scalar()

    assert one() == 1
