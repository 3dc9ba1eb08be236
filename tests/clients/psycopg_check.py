"""psycopg 3 and SQLAlchemy 2 against a running `heliosdb serve`.

Usage: python3 psycopg_check.py "host=127.0.0.1 port=N user=heliosdb dbname=heliosdb" [check ...]

Run by tests/clients.rs, which starts the server. Each check prints one
line; the script exits 1 if any check failed, 0 otherwise.
"""

import datetime as dt
import decimal
import json
import sys
import traceback
import uuid

import psycopg
from psycopg import errors, sql
from psycopg.types.json import Json, Jsonb

DSN = sys.argv[1]
CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def connect(**kw):
    return psycopg.connect(DSN, **kw)


def eq(got, want, what=""):
    assert got == want, f"{what}: got {got!r}, want {want!r}"


# --- psycopg -----------------------------------------------------------------


@check
def connect_and_server_info():
    with connect() as conn:
        eq(conn.info.server_version // 10000, 16, "server_version")
        eq(conn.info.parameter_status("server_encoding"), "UTF8", "encoding")
        eq(conn.info.parameter_status("integer_datetimes"), "on", "integer_datetimes")
        eq(conn.info.transaction_status, psycopg.pq.TransactionStatus.IDLE, "status")
        eq(conn.execute("SELECT current_user").fetchone()[0], "heliosdb", "current_user")
        assert conn.info.backend_pid > 0
        eq(conn.execute("SELECT pg_backend_pid()").fetchone()[0], conn.info.backend_pid, "pid")


TYPE_VALUES = [
    ("smallint", -32768),
    ("integer", 2147483647),
    ("bigint", -(2**62)),
    ("numeric", decimal.Decimal("-12345.678900")),
    ("numeric(10,2)", decimal.Decimal("3.14")),
    ("real", 1.5),
    ("double precision", 0.1),
    ("text", "héllo 'quoted' \"double\" \\ back"),
    ("varchar(20)", "short"),
    ("char(3)", "ab "),
    ("boolean", True),
    ("bytea", b"\x00\xff\x07binary"),
    ("date", dt.date(1999, 12, 31)),
    ("time", dt.time(23, 59, 58, 123456)),
    ("timestamp", dt.datetime(2024, 2, 29, 23, 59, 58, 123456)),
    ("timestamptz", dt.datetime(2021, 6, 1, 12, 0, 0, 5, tzinfo=dt.timezone.utc)),
    ("interval", dt.timedelta(days=3, hours=4, minutes=5, seconds=6, microseconds=7)),
    ("uuid", uuid.UUID("12345678-9abc-def0-1234-56789abcdef0")),
    ("json", {"a": [1, 2, {"b": None}], "s": "x"}),
    ("jsonb", {"a": [1, 2, {"b": None}], "s": "x"}),
    ("integer[]", [1, None, 3]),
    ("bigint[]", [1, 2**40]),
    ("text[]", ["a", "b,c", 'q"uote', None]),
    ("boolean[]", [True, False]),
    ("numeric[]", [decimal.Decimal("1.5"), decimal.Decimal("-2")]),
    ("double precision[]", [0.5, -1.25]),
    ("date[]", [dt.date(2020, 1, 1)]),
    ("uuid[]", [uuid.UUID(int=1)]),
]


def adapt(ty, v):
    if ty == "json":
        return Json(v)
    if ty == "jsonb":
        return Jsonb(v)
    return v


@check
def parameter_binding_every_type_text_and_binary():
    with connect() as conn:
        cols = ", ".join(f"c{i} {ty}" for i, (ty, _) in enumerate(TYPE_VALUES))
        conn.execute(f"CREATE TABLE types ({cols})")
        marks = ", ".join(["%s"] * len(TYPE_VALUES))
        values = [adapt(ty, v) for ty, v in TYPE_VALUES]
        conn.execute(f"INSERT INTO types VALUES ({marks})", values)
        conn.execute(f"INSERT INTO types VALUES ({marks})", values, binary=True)
        conn.execute(f"INSERT INTO types VALUES ({marks})", [None] * len(TYPE_VALUES))
        for binary in (False, True):
            cur = conn.cursor(binary=binary)
            rows = cur.execute("SELECT * FROM types").fetchall()
            eq(len(rows), 3, "rows")
            for row in rows[:2]:
                for (ty, want), got in zip(TYPE_VALUES, row):
                    eq(got, want, f"{ty} (binary={binary})")
            eq(list(rows[2]), [None] * len(TYPE_VALUES), f"NULLs (binary={binary})")
        # Each value bound as a parameter and sent back, per type.
        for ty, v in TYPE_VALUES:
            for binary in (False, True):
                got = conn.execute(f"SELECT %s::{ty}", [adapt(ty, v)], binary=binary).fetchone()[0]
                eq(got, v, f"SELECT %s::{ty} (binary={binary})")
        # Column types in the description.
        cur = conn.execute("SELECT c0, c1, c2, c3, c7, c10, c12, c17, c19, c20 FROM types LIMIT 0")
        names = [c.type_code for c in cur.description]
        eq(names, [21, 23, 20, 1700, 25, 16, 1082, 2950, 3802, 1007], "type oids")
        conn.execute("DROP TABLE types")


@check
def python_types_infer_parameter_types():
    with connect() as conn:
        row = conn.execute(
            "SELECT %s + 1, %s || 'x', %s, %s, %s, %s",
            [41, "a", 1.5, True, None, decimal.Decimal("2.50")],
        ).fetchone()
        eq(tuple(row), (42, "ax", 1.5, True, None, decimal.Decimal("2.50")), "inferred")
        eq(conn.execute("SELECT %s::int IS NULL", [None]).fetchone()[0], True, "NULL param")
        # Named placeholders and sql.Identifier/Literal composition.
        q = sql.SQL("SELECT {} FROM (SELECT %(a)s::int AS {}) s").format(
            sql.Identifier("x"), sql.Identifier("x")
        )
        eq(conn.execute(q, {"a": 7}).fetchone()[0], 7, "named")
        eq(conn.execute("SELECT %s = ANY(%s)", [2, [1, 2, 3]]).fetchone()[0], True, "ANY(array)")


@check
def server_side_prepared_statements():
    with connect(prepare_threshold=0) as conn:
        conn.execute("CREATE TABLE prep (id int PRIMARY KEY, name text)")
        for i in range(10):
            conn.execute("INSERT INTO prep VALUES (%s, %s)", [i, f"n{i}"])
        for i in range(10):
            got = conn.execute("SELECT name FROM prep WHERE id = %s", [i]).fetchone()[0]
            eq(got, f"n{i}", "prepared select")
        # explicit prepare=True, and executemany (pipelined)
        cur = conn.cursor()
        cur.executemany(
            "INSERT INTO prep VALUES (%s, %s)", [(i, f"m{i}") for i in range(10, 20)]
        )
        eq(cur.rowcount, 10, "executemany rowcount")
        cur.execute("SELECT count(*) FROM prep WHERE id >= %s", [10], prepare=True)
        eq(cur.fetchone()[0], 10, "prepare=True")
        # RETURNING through a prepared statement.
        cur.execute("UPDATE prep SET name = %s WHERE id < %s RETURNING id", ["z", 3], prepare=True)
        eq(sorted(r[0] for r in cur.fetchall()), [0, 1, 2], "returning")
        eq(cur.rowcount, 3, "update rowcount")
        # DEALLOCATE: psycopg sends DEALLOCATE ALL after a ROLLBACK or DROP
        # with statements prepared; a named one goes, an unknown name is 26000.
        conn.commit()
        conn.execute("DELETE FROM prep WHERE id = %s", [1], prepare=True)
        conn.rollback()
        eq(conn.execute("SELECT count(*) FROM prep").fetchone()[0], 20, "after DEALLOCATE ALL")
        conn.pgconn.prepare(b"mine", b"SELECT 1")
        # A second Parse with the same name fails (42P05) until it is deallocated.
        res = conn.pgconn.prepare(b"mine", b"SELECT 2")
        eq(res.error_field(psycopg.pq.DiagnosticField.SQLSTATE), b"42P05", "duplicate name")
        conn.execute("DEALLOCATE mine")
        try:
            conn.execute("DEALLOCATE mine")
            raise AssertionError("DEALLOCATE of a deallocated statement succeeded")
        except errors.InvalidSqlStatementName as e:
            eq(e.sqlstate, "26000", "DEALLOCATE unknown")
        conn.rollback()
        conn.execute("DEALLOCATE ALL")
        conn.execute("DROP TABLE prep")


@check
def pipeline_mode():
    with connect() as conn:
        conn.execute("CREATE TABLE pipe (id int)")
        with conn.pipeline():
            for i in range(5):
                conn.execute("INSERT INTO pipe VALUES (%s)", [i])
            cur = conn.execute("SELECT sum(id) FROM pipe")
        eq(cur.fetchone()[0], 10, "pipeline sum")
        conn.execute("DROP TABLE pipe")


@check
def transactions_and_rollbacks():
    with connect() as conn:
        conn.execute("CREATE TABLE acct (id int PRIMARY KEY, bal int NOT NULL)")
        conn.commit()
        # psycopg opens a transaction implicitly; rollback discards it.
        conn.execute("INSERT INTO acct VALUES (1, 100)")
        eq(conn.info.transaction_status, psycopg.pq.TransactionStatus.INTRANS, "in txn")
        conn.rollback()
        eq(conn.execute("SELECT count(*) FROM acct").fetchone()[0], 0, "rolled back")
        conn.rollback()
        # conn.transaction() blocks: commit on success, savepoints when nested.
        with conn.transaction():
            conn.execute("INSERT INTO acct VALUES (1, 100)")
            try:
                with conn.transaction():
                    conn.execute("INSERT INTO acct VALUES (2, 50)")
                    conn.execute("INSERT INTO acct VALUES (1, 0)")  # duplicate key
            except errors.UniqueViolation:
                pass
            conn.execute("INSERT INTO acct VALUES (3, 30)")
        eq(
            [r[0] for r in conn.execute("SELECT id FROM acct ORDER BY id")],
            [1, 3],
            "savepoint rollback",
        )
        conn.commit()
        # A failed statement aborts the transaction until rollback.
        try:
            conn.execute("SELECT 1/0")
        except errors.DivisionByZero:
            pass
        eq(conn.info.transaction_status, psycopg.pq.TransactionStatus.INERROR, "failed txn")
        try:
            conn.execute("SELECT 1")
            raise AssertionError("statement ran in a failed transaction")
        except errors.InFailedSqlTransaction as e:
            eq(e.sqlstate, "25P02", "25P02")
        conn.rollback()
        # Isolation levels and read-only transactions.
        conn.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
        eq(conn.execute("SHOW transaction_isolation").fetchone()[0], "serializable", "isolation")
        conn.rollback()
        conn.isolation_level = None
        conn.read_only = True
        try:
            conn.execute("INSERT INTO acct VALUES (9, 9)")
            raise AssertionError("wrote in a read-only transaction")
        except errors.ReadOnlySqlTransaction as e:
            eq(e.sqlstate, "25006", "read only")
        conn.rollback()
        conn.read_only = None
    with connect(autocommit=True) as conn:
        conn.execute("INSERT INTO acct VALUES (4, 40)")
        eq(conn.info.transaction_status, psycopg.pq.TransactionStatus.IDLE, "autocommit")
        conn.execute("DROP TABLE acct")


@check
def errors_carry_sqlstate_and_diagnostics():
    with connect(autocommit=True) as conn:
        conn.execute("CREATE TABLE err (id int PRIMARY KEY, v int CHECK (v > 0))")
        conn.execute("INSERT INTO err VALUES (1, 1)")
        cases = [
            ("SELECT * FROM missing_table", errors.UndefinedTable, "42P01"),
            ("SELECT missing_col FROM err", errors.UndefinedColumn, "42703"),
            ("INSERT INTO err VALUES (1, 1)", errors.UniqueViolation, "23505"),
            ("INSERT INTO err VALUES (2, -1)", errors.CheckViolation, "23514"),
            ("INSERT INTO err VALUES (NULL, 1)", errors.NotNullViolation, "23502"),
            ("SELECT 'x'::int", errors.InvalidTextRepresentation, "22P02"),
            ("SELECT 1/0", errors.DivisionByZero, "22012"),
            ("SELEC 1", errors.SyntaxError, "42601"),
        ]
        for q, cls, code in cases:
            try:
                conn.execute(q)
                raise AssertionError(f"{q} succeeded")
            except cls as e:
                eq(e.sqlstate, code, q)
                eq(e.diag.sqlstate, code, q)
                eq(e.diag.severity, "ERROR", q)
                assert e.diag.message_primary, q
        try:
            conn.execute("INSERT INTO err VALUES (1, 1)")
        except errors.UniqueViolation as e:
            assert e.diag.message_detail and "already exists" in e.diag.message_detail, e.diag
        # The connection is still usable.
        eq(conn.execute("SELECT 1").fetchone()[0], 1, "after errors")
        conn.execute("DROP TABLE err")


@check
def copy_in_and_out():
    with connect(autocommit=True) as conn:
        conn.execute("CREATE TABLE cp (id int, name text, at date, data bytea)")
        with conn.cursor() as cur:
            with cur.copy("COPY cp (id, name, at, data) FROM STDIN") as copy:
                for i in range(100):
                    copy.write_row((i, f"name {i}\ttab", dt.date(2020, 1, 1 + i % 28), b"\x01\x02"))
                copy.write_row((100, None, None, None))
            eq(conn.execute("SELECT count(*) FROM cp").fetchone()[0], 101, "copy in rows")
            with cur.copy("COPY cp FROM STDIN WITH (FORMAT csv)") as copy:
                copy.write(b'200,"a,b",2021-02-03,\\x00ff\n201,,,\n')
            eq(
                conn.execute("SELECT name, at FROM cp WHERE id = 200").fetchone(),
                ("a,b", dt.date(2021, 2, 3)),
                "copy csv",
            )
            rows = []
            with cur.copy("COPY (SELECT id, name, at FROM cp WHERE id < 3 ORDER BY id) TO STDOUT") as copy:
                copy.set_types(["int4", "text", "date"])
                for row in copy.rows():
                    rows.append(row)
            eq(rows[1], (1, "name 1\ttab", dt.date(2020, 1, 2)), "copy out rows")
            data = b""
            with cur.copy("COPY cp (id, name) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
                for block in copy:
                    data += bytes(block)
            assert data.startswith(b"id,name\n0,name 0\ttab\n"), data[:40]
            # An error inside COPY is reported with its SQLSTATE.
            try:
                with cur.copy("COPY cp (id) FROM STDIN") as copy:
                    copy.write(b"not a number\n")
                raise AssertionError("bad COPY data accepted")
            except errors.InvalidTextRepresentation as e:
                eq(e.sqlstate, "22P02", "copy error")
        conn.execute("DROP TABLE cp")


@check
def notices_reach_the_handler():
    with connect(autocommit=True) as conn:
        got = []
        conn.add_notice_handler(lambda d: got.append((d.severity, d.sqlstate, d.message_primary)))
        conn.execute("DROP TABLE IF EXISTS no_such_table")
        conn.execute("COMMIT")
        eq(
            got,
            [
                ("NOTICE", "00000", 'table "no_such_table" does not exist, skipping'),
                ("WARNING", "25P01", "there is no transaction in progress"),
            ],
            "notices",
        )


@check
def parameter_status_and_settings():
    with connect(autocommit=True) as conn:
        conn.execute("SET application_name = 'psycopg-check'")
        eq(conn.info.parameter_status("application_name"), "psycopg-check", "ParameterStatus")
        eq(conn.execute("SHOW application_name").fetchone()[0], "psycopg-check", "SHOW")
    with connect(application_name="from-startup", options="-c search_path=public") as conn:
        eq(conn.execute("SELECT current_setting('application_name')").fetchone()[0], "from-startup", "startup")


@check
def server_side_cursors():
    with connect() as conn:
        conn.execute("CREATE TABLE big AS SELECT g AS id FROM generate_series(1, 1000) AS g(g)")
        conn.commit()
        # DECLARE (with a bound parameter), Describe of the cursor's portal,
        # then FETCH FORWARD n per batch.
        with conn.cursor(name="c1") as cur:
            cur.itersize = 100
            cur.execute("SELECT id, id * 2 AS twice FROM big WHERE id > %s ORDER BY id", [0])
            eq([d.name for d in cur.description], ["id", "twice"], "description")
            eq(cur.fetchone(), (1, 2), "first")
            eq([r[0] for r in cur.fetchmany(3)], [2, 3, 4], "fetchmany")
            eq(sum(1 for _ in cur), 996, "rest")
        conn.rollback()
        # Binary results.
        with conn.cursor(name="cb", binary=True) as cur:
            cur.execute("SELECT id, 'x' || id AS s FROM big WHERE id <= 3 ORDER BY id")
            eq(cur.fetchall(), [(1, "x1"), (2, "x2"), (3, "x3")], "binary cursor")
        conn.rollback()
        # WITH HOLD: usable after the declaring transaction commits.
        with conn.cursor(name="held", withhold=True) as cur:
            cur.execute("SELECT id FROM big ORDER BY id DESC")
            conn.commit()
            eq(cur.fetchmany(2), [(1000,), (999,)], "withhold")
        conn.commit()
        conn.execute("DROP TABLE big")
        conn.commit()


@check
def sqlalchemy_stream_results():
    import sqlalchemy as sa

    eng = engine()
    with eng.connect() as c:
        res = c.execution_options(stream_results=True, max_row_buffer=50).execute(
            sa.text("SELECT g FROM generate_series(1, 500) AS g(g)")
        )
        eq(sum(r[0] for r in res), 500 * 501 // 2, "streamed")
        parts = list(c.execution_options(yield_per=100).execute(sa.text("SELECT 1 AS one")).partitions())
        eq([list(p) for p in parts], [[(1,)]], "partitions")
    eng.dispose()


@check
def type_introspection():
    from psycopg.types import TypeInfo
    from psycopg.types.composite import CompositeInfo  # noqa: F401

    with connect() as conn:
        for name, oid, array_oid in [
            ("int4", 23, 1007),
            ("text", 25, 1009),
            ("uuid", 2950, 2951),
            ("jsonb", 3802, 3807),
            ("numeric", 1700, 1231),
        ]:
            info = TypeInfo.fetch(conn, name)
            assert info is not None, name
            eq((info.oid, info.array_oid), (oid, array_oid), name)
        # Types the engine lacks are simply not found (SQLAlchemy asks for hstore).
        eq(TypeInfo.fetch(conn, "hstore"), None, "hstore")


# --- SQLAlchemy --------------------------------------------------------------


def engine():
    import sqlalchemy as sa

    host = dict(p.split("=", 1) for p in DSN.split())
    url = f"postgresql+psycopg://{host['user']}@{host['host']}:{host['port']}/{host['dbname']}"
    return sa.create_engine(url)


@check
def sqlalchemy_core():
    import sqlalchemy as sa

    eng = engine()
    md = sa.MetaData()
    t = sa.Table(
        "sa_core",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("score", sa.Numeric(8, 2)),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.Column("tags", sa.ARRAY(sa.Text)),
        sa.Column("doc", sa.JSON),
        sa.Column("u", sa.Uuid),
    )
    md.drop_all(eng)
    md.create_all(eng)
    with eng.begin() as c:
        res = c.execute(
            t.insert().returning(t.c.id),
            [
                {"name": "a", "score": decimal.Decimal("1.50"), "tags": ["x"], "doc": {"k": 1}, "u": uuid.UUID(int=5)},
                {"name": "b", "score": None, "tags": [], "doc": None, "u": None},
            ],
        )
        eq(sorted(r[0] for r in res), [1, 2], "insert returning")
    with eng.connect() as c:
        rows = c.execute(sa.select(t.c.name, t.c.score, t.c.tags, t.c.doc, t.c.u).order_by(t.c.id)).all()
        eq(
            [tuple(r) for r in rows],
            [("a", decimal.Decimal("1.50"), ["x"], {"k": 1}, uuid.UUID(int=5)), ("b", None, [], None, None)],
            "select",
        )
        at = c.execute(sa.select(t.c.at).where(t.c.name == "a")).scalar_one()
        assert at.tzinfo is not None, at
        n = c.execute(sa.select(sa.func.count()).select_from(t).where(t.c.name.in_(["a", "b", "c"]))).scalar()
        eq(n, 2, "IN")
        c.execute(t.update().where(t.c.name == "b").values(score=3))
        c.rollback()
        eq(c.execute(sa.select(t.c.score).where(t.c.name == "b")).scalar(), None, "rolled back")
        c.rollback()
    # postgresql_readonly: a READ ONLY transaction refuses writes.
    with eng.connect().execution_options(postgresql_readonly=True) as c:
        eq(c.exec_driver_sql("SHOW transaction_read_only").scalar(), "on", "readonly")
        try:
            c.execute(t.delete())
            raise AssertionError("deleted in a read-only transaction")
        except sa.exc.InternalError as e:
            eq(e.orig.sqlstate, "25006", "readonly delete")
    md.drop_all(eng)
    eng.dispose()


@check
def sqlalchemy_orm_round_trip():
    import sqlalchemy as sa
    from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

    class Base(DeclarativeBase):
        pass

    class Author(Base):
        __tablename__ = "sa_author"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(sa.String(40), unique=True)
        books: Mapped[list["Book"]] = relationship(back_populates="author", cascade="all, delete-orphan")

    class Book(Base):
        __tablename__ = "sa_book"
        id: Mapped[int] = mapped_column(primary_key=True)
        title: Mapped[str]
        author_id: Mapped[int] = mapped_column(sa.ForeignKey("sa_author.id", ondelete="CASCADE"), index=True)
        author: Mapped[Author] = relationship(back_populates="books")

    eng = engine()
    Base.metadata.drop_all(eng)
    Base.metadata.create_all(eng)
    with Session(eng) as s:
        a = Author(name="Ursula", books=[Book(title="The Dispossessed"), Book(title="Lathe of Heaven")])
        s.add(a)
        s.commit()
        aid = a.id
    with Session(eng) as s:
        a = s.get(Author, aid)
        eq(sorted(b.title for b in a.books), ["Lathe of Heaven", "The Dispossessed"], "relationship")
        a.books.pop()
        a.name = "Ursula K. Le Guin"
        s.commit()
        q = sa.select(Book).join(Author).where(Author.name.like("Ursula%"))
        eq(len(s.scalars(q).all()), 1, "join query")
        s.add(Author(name="Ursula K. Le Guin"))
        try:
            s.commit()
            raise AssertionError("duplicate accepted")
        except sa.exc.IntegrityError as e:
            eq(e.orig.sqlstate, "23505", "orm unique")
            s.rollback()
        s.delete(s.get(Author, aid))
        s.commit()
        eq(s.scalar(sa.select(sa.func.count()).select_from(Book)), 0, "cascade delete")
    Base.metadata.drop_all(eng)
    eng.dispose()


@check
def sqlalchemy_inspector():
    import sqlalchemy as sa

    eng = engine()
    with eng.begin() as c:
        c.exec_driver_sql("DROP SCHEMA IF EXISTS insp CASCADE")
        c.exec_driver_sql("CREATE SCHEMA insp")
        c.exec_driver_sql(
            """CREATE TABLE insp.parent (
                id serial PRIMARY KEY,
                code varchar(10) NOT NULL UNIQUE,
                qty integer DEFAULT 0 CHECK (qty >= 0),
                price numeric(10, 2),
                created timestamptz,
                note text
            )"""
        )
        c.exec_driver_sql(
            """CREATE TABLE insp.child (
                id bigint,
                parent_id integer REFERENCES insp.parent (id) ON DELETE CASCADE,
                a int, b int,
                CONSTRAINT child_pk PRIMARY KEY (id),
                CONSTRAINT child_ab UNIQUE (a, b)
            )"""
        )
        c.exec_driver_sql("CREATE INDEX child_a_idx ON insp.child (a)")
        c.exec_driver_sql("CREATE UNIQUE INDEX child_b_idx ON insp.child (b, a)")
        c.exec_driver_sql("CREATE VIEW insp.v AS SELECT id, code FROM insp.parent")
    insp = sa.inspect(eng)
    schemas = insp.get_schema_names()
    # PostgreSQL lists information_schema too (only pg_* are left out).
    eq(schemas, ["information_schema", "insp", "public"], "schemas")
    eq(sorted(insp.get_table_names(schema="insp")), ["child", "parent"], "tables")
    eq(insp.get_view_names(schema="insp"), ["v"], "views")
    assert "SELECT" in insp.get_view_definition("v", schema="insp").upper()
    assert insp.has_table("parent", schema="insp")
    assert not insp.has_table("nope", schema="insp")

    cols = {c["name"]: c for c in insp.get_columns("parent", schema="insp")}
    eq(list(cols), ["id", "code", "qty", "price", "created", "note"], "column order")
    assert isinstance(cols["id"]["type"], sa.Integer), cols["id"]
    assert cols["id"]["autoincrement"] is True, cols["id"]
    assert "nextval" in (cols["id"]["default"] or ""), cols["id"]
    assert isinstance(cols["code"]["type"], sa.String) and cols["code"]["type"].length == 10, cols["code"]
    eq(cols["code"]["nullable"], False, "nullable")
    eq(cols["qty"]["default"], "0", "default")
    assert isinstance(cols["price"]["type"], sa.Numeric), cols["price"]
    eq((cols["price"]["type"].precision, cols["price"]["type"].scale), (10, 2), "numeric(10,2)")
    assert isinstance(cols["created"]["type"], sa.TIMESTAMP) and cols["created"]["type"].timezone, cols["created"]
    assert isinstance(cols["note"]["type"], sa.Text), cols["note"]

    eq(insp.get_pk_constraint("parent", schema="insp")["constrained_columns"], ["id"], "pk")
    pk = insp.get_pk_constraint("child", schema="insp")
    eq((pk["name"], pk["constrained_columns"]), ("child_pk", ["id"]), "named pk")
    fks = insp.get_foreign_keys("child", schema="insp")
    eq(len(fks), 1, "fks")
    fk = fks[0]
    eq(
        (fk["constrained_columns"], fk["referred_schema"], fk["referred_table"], fk["referred_columns"]),
        (["parent_id"], "insp", "parent", ["id"]),
        "fk",
    )
    eq(fk["options"].get("ondelete"), "CASCADE", "fk ondelete")
    idx = {i["name"]: i for i in insp.get_indexes("child", schema="insp")}
    assert "child_a_idx" in idx and "child_b_idx" in idx, idx
    eq((idx["child_a_idx"]["column_names"], idx["child_a_idx"]["unique"]), (["a"], False), "index")
    eq((idx["child_b_idx"]["column_names"], idx["child_b_idx"]["unique"]), (["b", "a"], True), "unique index")
    uqs = {u["name"]: u["column_names"] for u in insp.get_unique_constraints("child", schema="insp")}
    eq(uqs, {"child_ab": ["a", "b"]}, "unique constraints")
    uq = insp.get_unique_constraints("parent", schema="insp")
    eq([u["column_names"] for u in uq], [["code"]], "column unique")
    checks = insp.get_check_constraints("parent", schema="insp")
    eq(len(checks), 1, "checks")
    assert "qty >= 0" in checks[0]["sqltext"], checks
    eq(insp.get_sequence_names(schema="insp"), ["parent_id_seq"], "sequences")
    eq(insp.get_table_comment("parent", schema="insp"), {"text": None}, "comment")
    # Reflect into Table objects and round-trip through them.
    md = sa.MetaData()
    child = sa.Table("child", md, autoload_with=eng, schema="insp")
    parent = md.tables["insp.parent"]
    with eng.begin() as c:
        pid = c.execute(parent.insert().values(code="p1").returning(parent.c.id)).scalar_one()
        c.execute(child.insert().values(id=1, parent_id=pid, a=1, b=2))
        eq(c.execute(sa.select(sa.func.count()).select_from(child.join(parent))).scalar(), 1, "reflected join")
    md2 = sa.MetaData()
    md2.reflect(eng, schema="insp", views=True)
    eq(sorted(md2.tables), ["insp.child", "insp.parent", "insp.v"], "reflect")
    with eng.begin() as c:
        c.exec_driver_sql("DROP SCHEMA insp CASCADE")
    eng.dispose()


def main():
    failed = 0
    only = sys.argv[2:]
    for fn in [f for f in CHECKS if not only or f.__name__ in only]:
        try:
            fn()
            print(f"ok   {fn.__name__}")
        except Exception as e:
            failed += 1
            # Where in this script it failed, and why.
            here = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == __file__]
            where = f" (line {here[-1].lineno}: {here[-1].line})" if here else ""
            print(f"FAIL {fn.__name__}{where}\n     {type(e).__name__}: {e}")
    import sqlalchemy

    ran = len(only) if only else len(CHECKS)
    print(
        f"psycopg {psycopg.__version__}, SQLAlchemy {sqlalchemy.__version__}: "
        f"{ran - failed} of {ran} checks passed"
    )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
