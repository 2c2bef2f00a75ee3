"""Read-only SQL on the catalog: the one place that decides which statements a user may run.

A read-only connection is not enough. DuckDB refuses ``CREATE`` and ``DROP`` on a database
attached read-only, but still runs ``COPY … TO`` (over the lake's own Parquet too),
``EXPORT DATABASE``, ``ATTACH`` of a new writable file, ``INSTALL``/``LOAD``, ``SET`` and
``EXPLAIN ANALYZE COPY …`` (which executes the copy), even with external access limited to
the lake's folders, because those folders must stay readable. So every statement is parsed
with DuckDB's own parser and only plain reads run: ``SELECT`` (which is also what
``DESCRIBE``, ``SHOW``, ``SUMMARIZE``, ``FROM …``, ``VALUES`` and ``PIVOT … IN (…)`` parse
to) and ``EXPLAIN`` of such a read. Everything else is refused before anything runs.
"""

from __future__ import annotations

import re

import duckdb

READ_TYPES = frozenset({duckdb.StatementType.SELECT})
# EXPLAIN [ANALYZE] [(option, …)] <statement>: what follows is checked like any statement
_EXPLAIN_PREFIX = re.compile(r"^\s*explain\s+(?:analy[sz]e\s+)?(?:\([^()]*\)\s*)?",
                             re.IGNORECASE)


class RefusedStatement(ValueError):
    """A statement that is not a plain read."""


def _text(statement: duckdb.Statement, whole: str) -> str:
    try:
        text = statement.query.strip()
    except IndexError:   # DuckDB 1.5 cannot slice the statements it adds (PIVOT's CREATE TYPE)
        text = ""
    return text or whole.strip()


def _is_read(statement: duckdb.Statement, text: str) -> bool:
    if statement.type in READ_TYPES:
        return True
    if statement.type == duckdb.StatementType.EXPLAIN:
        inner = _EXPLAIN_PREFIX.sub("", text, count=1)
        if inner == text:
            return False
        try:
            explained = duckdb.extract_statements(inner)
        except duckdb.Error:
            return False
        return len(explained) == 1 and explained[0].type in READ_TYPES
    return False


def read_statements(sql: str) -> list[duckdb.Statement]:
    """The statements of ``sql``, parsed by DuckDB; RefusedStatement naming the first one
    that is not a plain read (and its type), or when there is none."""
    statements = duckdb.extract_statements(sql)
    if not statements:
        raise RefusedStatement("no SQL statement to run")
    for number, statement in enumerate(statements, 1):
        text = _text(statement, sql)
        if not _is_read(statement, text):
            short = " ".join(text.split())
            short = short if len(short) <= 80 else short[:77] + "..."
            hint = (" (PIVOT needs an explicit IN (…) list here)"
                    if statement.type == duckdb.StatementType.CREATE and "pivot" in sql.lower()
                    else "")
            where = f"statement {number} " if len(statements) > 1 else ""
            raise RefusedStatement(
                f"refused {where}`{short}`: its type is {statement.type.name}, and the "
                f"lake's SQL is read-only (SELECT, DESCRIBE, SHOW, SUMMARIZE or EXPLAIN of "
                f"those){hint}")
    return statements


def run_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyRelation | None:
    """Run ``sql`` on ``con`` when every statement is a plain read (see module doc); the
    last statement's result. The statements checked are the ones executed (no re-parse)."""
    statements = read_statements(sql)
    for statement in statements[:-1]:
        con.execute(statement)
    return con.sql(statements[-1])
