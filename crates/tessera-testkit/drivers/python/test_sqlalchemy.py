"""SQLAlchemy 2 with the psycopg 3 dialect against the server in
PGHOST/PGPORT/PGUSER/PGDATABASE.

Core: metadata.create_all (which runs the dialect's has_table and
has_index catalog queries), insert/select/update/delete expressions,
insert().returning(), executemany with insertmanyvalues; inspect()
reflection of what was created; the ORM: mapped classes with a
relationship and a Session unit of work; an Enum column (a native
ENUM type that create_all makes, the ORM writes and reads, inspect()
reflects and drop_all drops); metadata.drop_all; one round trip through
the async engine. Prints one line per check group; exits
non-zero on the first failure.
"""

import asyncio
import datetime as dt
import enum
import os
import sys
import uuid
from decimal import Decimal
from typing import List, Optional

from sqlalchemy import (
    JSON, BigInteger, Boolean, CheckConstraint, Column, Date, DateTime, Enum, ForeignKey,
    Identity, Index, Integer, LargeBinary, MetaData, Numeric, String, Table, Text,
    UniqueConstraint, create_engine, delete, func, insert, inspect, select, text, update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship


def fail(what, expected, got):
    print(f"FAIL {what}: expected {expected!r}, got {got!r}")
    sys.exit(1)


def check(what, got, expected):
    if got != expected:
        fail(what, expected, got)


def url(driver):
    host = os.environ["PGHOST"]
    port = os.environ["PGPORT"]
    user = os.environ["PGUSER"]
    db = os.environ["PGDATABASE"]
    return f"postgresql+{driver}://{user}@{host}:{port}/{db}"


metadata = MetaData()

authors = Table(
    "sa_authors", metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("email", String(200), nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("joined", Date, server_default=text("CURRENT_DATE")),
    UniqueConstraint("email", name="sa_authors_email_key"),
)

books = Table(
    "sa_books", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("author_id", Integer, ForeignKey("sa_authors.id", ondelete="CASCADE"),
           nullable=False),
    Column("title", Text, nullable=False),
    Column("price", Numeric(10, 2), nullable=False, server_default=text("0")),
    Column("tags", ARRAY(Text)),
    Column("meta", JSONB),
    Column("isbn", UUID(as_uuid=True)),
    Column("cover", LargeBinary),
    Column("published", DateTime(timezone=True)),
    CheckConstraint("price >= 0", name="sa_books_price_check"),
)
Index("sa_books_title_idx", books.c.title)
Index("sa_books_author_price_idx", books.c.author_id, books.c.price)
Index("sa_books_published_idx", books.c.published.desc(), books.c.title)


def check_core(engine, ddl_engine):
    metadata.drop_all(ddl_engine)
    metadata.create_all(ddl_engine)
    with ddl_engine.connect() as conn:
        check("has_table", ddl_engine.dialect.has_table(conn, "sa_books"), True)
        check("has_table missing", ddl_engine.dialect.has_table(conn, "sa_nope"), False)
    # create_all again finds every table and creates nothing.
    metadata.create_all(ddl_engine)
    with engine.begin() as conn:
        ids = conn.execute(
            insert(authors).returning(authors.c.id, authors.c.active),
            [{"name": "Ann", "email": "ann@example.com"},
             {"name": "Bob", "email": "bob@example.com"},
             {"name": "Cé", "email": "ce@example.com"}],
        ).all()
        check("insert returning (insertmanyvalues)", [r.active for r in ids], [True] * 3)
        ann, bob, ce = [r.id for r in ids]
        published = dt.datetime(2020, 5, 17, 10, 30, tzinfo=dt.timezone.utc)
        conn.execute(insert(books), [
            {"author_id": ann, "title": f"Book {i}", "price": Decimal(f"{i}.99"),
             "tags": ["t", f"n{i}"], "meta": {"n": i, "ok": True},
             "isbn": uuid.UUID(int=i), "cover": bytes([0, i]), "published": published}
            for i in range(1, 11)
        ])
        conn.execute(insert(books).values(author_id=bob, title="Bob's", tags=[]))
    with engine.connect() as conn:
        row = conn.execute(
            select(books).where(books.c.title == "Book 3")).one()
        check("select row", (row.price, row.tags, row.meta, row.isbn, row.cover, row.published),
              (Decimal("3.99"), ["t", "n3"], {"n": 3, "ok": True}, uuid.UUID(int=3),
               b"\x00\x03", published))
        check("server default", conn.execute(
            select(books.c.price).where(books.c.title == "Bob's")).scalar_one(), Decimal("0.00"))
        q = (select(authors.c.name, func.count(books.c.id).label("n"),
                    func.coalesce(func.sum(books.c.price), 0).label("total"))
             .select_from(authors.outerjoin(books))
             .group_by(authors.c.name).order_by(authors.c.name))
        check("join group by", [tuple(r) for r in conn.execute(q)],
              [("Ann", 10, Decimal("64.90")), ("Bob", 1, Decimal("0.00")), ("Cé", 0, Decimal("0"))])
        check("jsonb path", conn.execute(
            select(func.count()).select_from(books).where(books.c.meta["n"].as_integer() > 5)
        ).scalar_one(), 5)
        check("array contains", conn.execute(
            select(books.c.title).where(books.c.tags.contains(["n7"]))).scalars().all(),
            ["Book 7"])
        conn.rollback()
    with engine.begin() as conn:
        r = conn.execute(update(books).where(books.c.price > 8)
                         .values(price=books.c.price + 1))
        check("update rowcount", r.rowcount, 3)
        r = conn.execute(delete(books).where(books.c.title.in_(["Book 1", "Book 2"])))
        check("delete rowcount", r.rowcount, 2)
    with engine.connect() as conn:
        check("after update and delete", conn.execute(
            select(func.count(), func.sum(books.c.price)).select_from(books)).one(),
            (9, Decimal("62.92")))
    try:
        with engine.begin() as conn:
            conn.execute(insert(authors).values(name="Dup", email="ann@example.com"))
    except IntegrityError as e:
        check("unique violation sqlstate", e.orig.sqlstate, "23505")
    else:
        fail("unique violation", "IntegrityError", "no error")
    try:
        with engine.begin() as conn:
            conn.execute(insert(books).values(author_id=9999, title="orphan"))
    except IntegrityError as e:
        check("foreign key sqlstate", e.orig.sqlstate, "23503")
    else:
        fail("foreign key violation", "IntegrityError", "no error")
    with engine.connect() as conn:
        check("nothing half-applied", conn.execute(
            select(func.count()).select_from(authors)).scalar_one(), 3)
    # stream_results: psycopg's named (server-side) cursor, fetched in
    # yield_per batches with DECLARE and FETCH FORWARD.
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=3).execute(
            select(books.c.title).order_by(books.c.id))
        check("stream_results batches", [r.title for r in result],
              [f"Book {i}" for i in range(3, 11)] + ["Bob's"])
        conn.rollback()
    print("ok Core: create_all, insert returning, executemany, select, update, delete, errors,"
          " stream_results")


def check_reflection(engine):
    insp = inspect(engine)
    names = insp.get_table_names()
    check("get_table_names", sorted(n for n in names if n.startswith("sa_")),
          ["sa_authors", "sa_books"])
    check("has_table", insp.has_table("sa_authors"), True)
    check("get_schema_names has public", "public" in insp.get_schema_names(), True)
    cols = {c["name"]: c for c in insp.get_columns("sa_books")}
    check("column names", list(cols), ["id", "author_id", "title", "price", "tags", "meta",
                                       "isbn", "cover", "published"])
    types = {n: str(c["type"].compile(dialect=engine.dialect)) for n, c in cols.items()}
    check("column types", types, {
        "id": "BIGINT", "author_id": "INTEGER", "title": "TEXT", "price": "NUMERIC(10, 2)",
        "tags": "TEXT[]", "meta": "JSONB", "isbn": "UUID", "cover": "BYTEA",
        "published": "TIMESTAMP WITH TIME ZONE"})
    check("nullable", {n: c["nullable"] for n, c in cols.items()}, {
        "id": False, "author_id": False, "title": False, "price": False, "tags": True,
        "meta": True, "isbn": True, "cover": True, "published": True})
    check("price default", cols["price"]["default"], "0")
    check("bigserial default", cols["id"]["default"],
          "nextval('sa_books_id_seq'::regclass)")
    check("autoincrement", cols["id"]["autoincrement"], True)
    acols = {c["name"]: c for c in insp.get_columns("sa_authors")}
    check("identity", {k: acols["id"]["identity"][k] for k in ("always", "start", "increment")},
          {"always": False, "start": 1, "increment": 1})
    check("varchar length", acols["name"]["type"].length, 100)
    check("boolean default", acols["active"]["default"], "true")
    check("get_pk_constraint", insp.get_pk_constraint("sa_books"),
          {"constrained_columns": ["id"], "name": "sa_books_pkey", "comment": None,
           "dialect_options": {"postgresql_include": []}})
    fks = insp.get_foreign_keys("sa_books")
    check("get_foreign_keys", [(f["name"], f["constrained_columns"], f["referred_table"],
                                f["referred_columns"], f["options"]) for f in fks],
          [("sa_books_author_id_fkey", ["author_id"], "sa_authors", ["id"],
            {"ondelete": "CASCADE"})])
    check("get_unique_constraints", [(u["name"], u["column_names"])
                                     for u in insp.get_unique_constraints("sa_authors")],
          [("sa_authors_email_key", ["email"])])
    check("get_check_constraints", [(c["name"], c["sqltext"])
                                    for c in insp.get_check_constraints("sa_books")],
          [("sa_books_price_check", "price >= 0::numeric")])
    # get_indexes reads pg_index.indkey and indoption as int2vector text
    # ("1 2"), and generate_subscripts over indkey from 0.
    indexes = sorted(insp.get_indexes("sa_books"), key=lambda i: i["name"])
    check("get_indexes", [(i["name"], i["column_names"], i["unique"], i.get("column_sorting"))
                          for i in indexes],
          [("sa_books_author_price_idx", ["author_id", "price"], False, None),
           ("sa_books_published_idx", ["published", "title"], False,
            {"published": ("desc",)}),
           ("sa_books_title_idx", ["title"], False, None)])
    check("get_indexes of a unique constraint",
          [(i["name"], i["column_names"], i["unique"], i.get("duplicates_constraint"))
           for i in insp.get_indexes("sa_authors")],
          [("sa_authors_email_key", ["email"], True, "sa_authors_email_key")])
    check("has_index", insp.has_index("sa_books", "sa_books_title_idx"), True)
    check("has_index of another table's", insp.has_index("sa_authors", "sa_books_title_idx"),
          False)
    reflected = Table("sa_books", MetaData(), autoload_with=engine)
    check("autoload_with columns", [c.name for c in reflected.columns], list(cols))
    check("autoload_with primary key", [c.name for c in reflected.primary_key], ["id"])
    check("autoload_with indexes",
          sorted((i.name, [c.name for c in i.columns], i.unique) for i in reflected.indexes),
          [("sa_books_author_price_idx", ["author_id", "price"], False),
           ("sa_books_published_idx", ["published", "title"], False),
           ("sa_books_title_idx", ["title"], False)])
    check("autoload_with foreign key", [(f.parent.name, f.target_fullname)
                                        for f in reflected.foreign_keys],
          [("author_id", "sa_authors.id")])
    print("ok reflection: tables, columns, types, defaults, identity, keys, constraints, "
          "indexes, autoload_with")


class Base(DeclarativeBase):
    pass


class Team(Base):
    __tablename__ = "sa_teams"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    members: Mapped[List["Member"]] = relationship(
        back_populates="team", cascade="all, delete-orphan", order_by="Member.id")


class Member(Base):
    __tablename__ = "sa_members"
    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("sa_teams.id"))
    name: Mapped[str] = mapped_column(Text)
    score: Mapped[Decimal] = mapped_column(Numeric(8, 3), default=Decimal("0"))
    note: Mapped[Optional[dict]] = mapped_column(JSON)
    team: Mapped[Team] = relationship(back_populates="members")


def check_orm(engine, ddl_engine):
    Base.metadata.drop_all(ddl_engine)
    Base.metadata.create_all(ddl_engine)
    with Session(engine) as session:
        red = Team(name="red", members=[Member(name="a", score=Decimal("1.5")),
                                        Member(name="b", note={"x": [1, None]})])
        blue = Team(name="blue", members=[Member(name="c")])
        session.add_all([red, blue])
        session.flush()
        check("flush assigned ids", all(m.id is not None for m in red.members), True)
        session.commit()
    with Session(engine) as session:
        red = session.scalars(select(Team).where(Team.name == "red")).one()
        check("relationship loaded", [(m.name, m.score, m.note) for m in red.members],
              [("a", Decimal("1.500"), None), ("b", Decimal("0.000"), {"x": [1, None]})])
        rows = session.execute(
            select(Team.name, func.count(Member.id)).join(Team.members)
            .group_by(Team.name).order_by(Team.name)).all()
        check("join through relationship", [tuple(r) for r in rows], [("blue", 1), ("red", 2)])
        red.members[0].score = Decimal("9.125")
        red.members.append(Member(name="d"))
        session.commit()
        check("update and insert committed", sorted(
            (m.name, m.score) for m in session.scalars(select(Member))),
            [("a", Decimal("9.125")), ("b", Decimal("0.000")), ("c", Decimal("0.000")),
             ("d", Decimal("0.000"))])
        # A rollback discards pending changes.
        red.name = "renamed"
        session.add(Team(name="pending"))
        session.delete(session.scalars(select(Member).where(Member.name == "c")).one())
        session.flush()
        session.rollback()
        check("rollback discards", sorted(session.scalars(select(Team.name))), ["blue", "red"])
        check("rollback keeps members", session.scalar(select(func.count(Member.id))), 4)
        # delete-orphan cascade in one unit of work.
        blue = session.scalars(select(Team).where(Team.name == "blue")).one()
        session.delete(blue)
        session.commit()
        check("cascade delete", sorted(session.scalars(select(Member.name))), ["a", "b", "d"])
        try:
            session.add(Team(name="red"))
            session.commit()
        except IntegrityError as e:
            check("ORM unique violation", e.orig.sqlstate, "23505")
            session.rollback()
        else:
            fail("ORM unique violation", "IntegrityError", "no error")
        check("session usable after error", session.scalar(select(func.count(Team.id))), 1)
    Base.metadata.drop_all(ddl_engine)
    with ddl_engine.connect() as conn:
        check("ORM tables dropped", ddl_engine.dialect.has_table(conn, "sa_teams"), False)
    print("ok ORM: unit of work, relationship, update, rollback, cascade, errors, drop_all")


class Mood(enum.Enum):
    sad = "sad"
    ok = "ok"
    happy = "happy"


class EnumBase(DeclarativeBase):
    pass


class Entry(EnumBase):
    __tablename__ = "sa_entries"
    id: Mapped[int] = mapped_column(primary_key=True)
    mood: Mapped[Mood] = mapped_column(Enum(Mood, name="sa_mood"))
    spare: Mapped[Optional[str]] = mapped_column(Enum("x", "y", name="sa_spare"))


def check_enum(engine, ddl_engine):
    EnumBase.metadata.drop_all(ddl_engine)
    # create_all asks whether each type exists (pg_type), creates it with
    # CREATE TYPE … AS ENUM, then the table; again, it creates nothing.
    EnumBase.metadata.create_all(ddl_engine)
    EnumBase.metadata.create_all(ddl_engine)
    with Session(engine) as session:
        session.add_all([Entry(id=1, mood=Mood.happy), Entry(id=2, mood=Mood.sad, spare="y"),
                         Entry(id=3, mood=Mood.ok), Entry(id=4, mood=Mood.sad)])
        session.commit()
    with Session(engine) as session:
        check("enum in declared order", [(e.id, e.mood) for e in session.scalars(
            select(Entry).order_by(Entry.mood, Entry.id))],
            [(2, Mood.sad), (4, Mood.sad), (3, Mood.ok), (1, Mood.happy)])
        check("enum comparison", sorted(session.scalars(
            select(Entry.id).where(Entry.mood > Mood.sad))), [1, 3])
        check("enum filter", session.scalars(
            select(Entry.spare).where(Entry.mood == Mood.sad, Entry.id == 2)).one(), "y")
        entry = session.get(Entry, 4)
        entry.mood = Mood.happy
        session.commit()
        check("enum update", session.scalars(
            select(Entry.id).where(Entry.mood == Mood.happy).order_by(Entry.id)).all(), [1, 4])
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO sa_entries (id, mood) VALUES (5, 'angry')"))
    except Exception as e:
        check("bad label sqlstate", e.orig.sqlstate, "22P02")
    else:
        fail("bad label", "an error", "no error")
    insp = inspect(engine)
    check("get_enums", sorted((e["name"], e["schema"], e["visible"], e["labels"])
                              for e in insp.get_enums() if e["name"].startswith("sa_")),
          [("sa_mood", "public", True, ["sad", "ok", "happy"]),
           ("sa_spare", "public", True, ["x", "y"])])
    cols = {c["name"]: c["type"] for c in insp.get_columns("sa_entries")}
    check("reflected enum column", (type(cols["mood"]).__name__, cols["mood"].name,
                                    list(cols["mood"].enums)),
          ("ENUM", "sa_mood", ["sad", "ok", "happy"]))
    EnumBase.metadata.drop_all(ddl_engine)
    check("enum types dropped",
          [e["name"] for e in inspect(engine).get_enums() if e["name"].startswith("sa_")], [])
    print("ok Enum: create_all makes the type, ORM writes and reads it, order, inspect(), "
          "drop_all")


async def check_async():
    engine = create_async_engine(url("psycopg_async"))
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(
                select(authors.c.name).where(authors.c.name != text(":n")
                                             .bindparams(n="Bob")).order_by(authors.c.id)
            )).scalars().all()
            check("async select", rows, ["Ann", "Cé"])
            await conn.rollback()
        async with engine.begin() as conn:
            await conn.execute(update(authors).where(authors.c.name == "Cé")
                               .values(active=False))
        async with engine.connect() as conn:
            check("async update", (await conn.execute(
                select(authors.c.active).where(authors.c.name == "Cé"))).scalar_one(), False)
    finally:
        await engine.dispose()
    print("ok async engine")


def main():
    engine = create_engine(url("psycopg"))
    # create_all and drop_all run their DDL in one transaction, as
    # SQLAlchemy does by default.
    ddl_engine = engine
    with engine.connect() as conn:
        check("connect", conn.execute(text("SELECT 1")).scalar_one(), 1)
        check("server version", engine.dialect.server_version_info[0], 15)
    print("ok connect")
    check_core(engine, ddl_engine)
    check_reflection(engine)
    check_orm(engine, ddl_engine)
    check_enum(engine, ddl_engine)
    asyncio.run(check_async())
    metadata.drop_all(ddl_engine)
    with ddl_engine.connect() as conn:
        check("Core tables dropped", ddl_engine.dialect.has_table(conn, "sa_books"), False)
    engine.dispose()
    print("ok all")


main()
