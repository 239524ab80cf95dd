import psycopg
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def test_throwaway_postgres_is_version_15_and_accepts_writes(postgres_db: str) -> None:
    with psycopg.connect(postgres_db) as conn:
        version = conn.execute("show server_version_num").fetchone()[0]
        conn.execute("create table t (amount bigint not null, currency text not null)")
        conn.execute("insert into t values (1999, 'eur')")
        assert conn.execute("select amount, currency from t").fetchone() == (1999, "eur")
    assert version.startswith("15")
