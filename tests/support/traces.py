"""Search a data home, a Redis and a PostgreSQL database for any trace of given values (an erased
customer's pseudonym and raw id): what an auditor would run after an erasure."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq


def file_traces(home: Path, needles: list[str]) -> list[str]:
    """Files under `home` holding a needle: Parquet by its decoded cells (it is compressed), every other
    file (SQLite, CSV, Excel, JSON, models, logs) by its bytes."""
    found = []
    for path in sorted(p for p in Path(home).rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            cells = {str(v) for column in table.columns for v in column.to_pylist() if isinstance(v, str)}
            hit = any(n in cells for n in needles)
        elif path.suffix == ".xlsx":
            import pandas as pd

            cells = set(pd.read_excel(path, dtype=str).astype(str).to_numpy().ravel())
            hit = any(n in cells for n in needles)
        else:
            data = path.read_bytes()
            hit = any(n.encode("utf-8") in data for n in needles)
        if hit:
            found.append(str(path.relative_to(home)))
    return found


def redis_traces(port: int, needles: list[str]) -> list[bytes]:
    """Keys of a Redis whose name or any hash field or value holds a needle."""
    from redis import Redis

    client = Redis(port=port)
    wanted = [n.encode("utf-8") for n in needles]
    found = []
    for key in client.scan_iter(count=1000):
        parts = [key]
        if client.type(key) == b"hash":
            parts += [b for pair in client.hgetall(key).items() for b in pair]
        else:
            parts.append(client.dump(key) or b"")
        if any(n in part for n in wanted for part in parts):
            found.append(key)
    return found


def postgres_traces(url: str, needles: list[str]) -> list[str]:
    """Tables of a PostgreSQL database (SQLAlchemy URL) with a row whose text holds a needle."""
    import psycopg

    found = []
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        for schema, table in tables:
            for needle in needles:
                query = f'SELECT 1 FROM "{schema}"."{table}" AS t WHERE t::text LIKE %s LIMIT 1'
                if conn.execute(query, (f"%{needle}%",)).fetchone():
                    found.append(f"{schema}.{table}")
    return found
