// pgJDBC (Debian's libpostgresql-jdbc-java, 42.5) against the server named
// by PGHOST/PGPORT/PGUSER/PGDATABASE, used the way an application uses it:
// connect, DDL through Statement, parameterised DML through
// PreparedStatement (past prepareThreshold, so named S_n statements), every
// supported type in text (preferQueryMode=simple) and binary
// (prepareThreshold=1, binaryTransfer=true) results, batches (plain and
// reWriteBatchedInserts), generated keys, transactions with rollback and
// savepoints, errors with their SQLSTATE, DatabaseMetaData and
// ResultSetMetaData.
//
// Prints one line per check group; exits 1 on the first check that does not
// hold, with what it expected and what it got. Every expected value here was
// first checked against a real PostgreSQL 15.

import java.math.BigDecimal;
import java.sql.Array;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.Date;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.LocalTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Properties;
import java.util.TimeZone;
import java.util.TreeSet;
import java.util.UUID;

import org.postgresql.PGResultSetMetaData;
import org.postgresql.PGStatement;
import org.postgresql.util.PGInterval;
import org.postgresql.util.PGobject;

public class JdbcTest {
    static String url;

    static final class CheckFailed extends RuntimeException {
        CheckFailed(String message) {
            super(message);
        }
    }

    static void check(String what, Object expected, Object got) {
        boolean same;
        if (expected instanceof byte[] && got instanceof byte[]) {
            same = Arrays.equals((byte[]) expected, (byte[]) got);
        } else if (expected instanceof Object[] && got instanceof Object[]) {
            same = Arrays.deepEquals((Object[]) expected, (Object[]) got);
        } else {
            same = Objects.equals(expected, got);
        }
        if (!same) {
            throw new CheckFailed(what + ": expected " + show(expected) + ", got " + show(got));
        }
    }

    static void checkTrue(String what, boolean cond) {
        if (!cond) {
            throw new CheckFailed(what);
        }
    }

    static String show(Object o) {
        if (o instanceof byte[]) {
            return "bytes" + Arrays.toString((byte[]) o);
        }
        if (o instanceof Object[]) {
            return Arrays.deepToString((Object[]) o);
        }
        return o == null ? "null" : o + " (" + o.getClass().getSimpleName() + ")";
    }

    static Connection connect(String params) throws SQLException {
        return DriverManager.getConnection(url + params);
    }

    static String one(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            checkTrue("one row from " + sql, rs.next());
            String v = rs.getString(1);
            checkTrue("only one row from " + sql, !rs.next());
            return v;
        }
    }

    static void exec(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement()) {
            st.execute(sql);
        }
    }

    static void expectError(String what, String sqlstate, ThrowingRunnable r) {
        try {
            r.run();
        } catch (SQLException e) {
            check(what + " SQLSTATE (" + e.getMessage() + ")", sqlstate, e.getSQLState());
            return;
        }
        throw new CheckFailed(what + ": expected an error with SQLSTATE " + sqlstate + ", got none");
    }

    interface ThrowingRunnable {
        void run() throws SQLException;
    }

    public static void main(String[] args) throws Exception {
        String host = System.getenv("PGHOST");
        String port = System.getenv("PGPORT");
        String user = System.getenv("PGUSER");
        String db = System.getenv("PGDATABASE");
        url = "jdbc:postgresql://" + host + ":" + port + "/" + db + "?user=" + user;
        // A zone with a non-zero offset makes the time zone handling visible.
        TimeZone.setDefault(TimeZone.getTimeZone("Europe/Berlin"));
        try {
            run();
        } catch (CheckFailed e) {
            System.out.println("FAIL: " + e.getMessage());
            System.exit(1);
        } catch (SQLException e) {
            System.out.println("FAIL: unexpected SQLException [" + e.getSQLState() + "]: " + e.getMessage());
            e.printStackTrace(System.out);
            System.exit(1);
        }
        System.out.println("all checks passed");
    }

    static void run() throws Exception {
        try (Connection c = connect("")) {
            connectChecks(c);
            ddl(c);
            dml(c);
            batches(c);
            generatedKeys(c);
            transactions(c);
            errors(c);
            metadata(c);
            resultSetMetadata(c);
        }
        types();
    }

    // --- connect -------------------------------------------------------

    static void connectChecks(Connection c) throws SQLException {
        check("extra_float_digits after connect", "3", one(c, "SHOW extra_float_digits"));
        check("application_name", "PostgreSQL JDBC Driver", one(c, "SHOW application_name"));
        check("DateStyle", "ISO, MDY", one(c, "SHOW DateStyle"));
        check("TimeZone", "Europe/Berlin", one(c, "SHOW TimeZone"));
        check("client_encoding", "UTF8", one(c, "SHOW client_encoding"));
        try (Connection named = connect("&ApplicationName=jdbc-check")) {
            check("ApplicationName property", "jdbc-check", one(named, "SHOW application_name"));
        }
        check("isValid", true, c.isValid(5));
        System.out.println("connect: ok");
    }

    // --- DDL -----------------------------------------------------------

    static void ddl(Connection c) throws SQLException {
        try (Statement st = c.createStatement()) {
            check("CREATE TABLE update count", 0, st.executeUpdate(
                "CREATE TABLE customers (id serial PRIMARY KEY, name varchar(40) NOT NULL,"
                    + " balance numeric(10,2) DEFAULT 0, note text)"));
            st.execute("CREATE TABLE orders (order_id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
                + " customer_id integer NOT NULL REFERENCES customers (id) ON DELETE CASCADE,"
                + " amount numeric(10,2), placed date)");
            st.execute("CREATE INDEX orders_placed_idx ON orders (placed)");
            st.execute("CREATE UNIQUE INDEX customers_name_key ON customers (name)");
            st.execute("CREATE VIEW big_customers AS SELECT id, name FROM customers WHERE balance > 100");
            st.execute("CREATE TABLE pairs (k integer PRIMARY KEY, v text)");
            st.execute("CREATE TABLE scratch (a int)");
            st.execute("DROP TABLE scratch");
            checkTrue("execute of DDL returns no result set", !st.execute("ALTER TABLE pairs ADD COLUMN w integer"));
        }
        System.out.println("ddl: ok");
    }

    // --- parameterised DML ---------------------------------------------

    static void dml(Connection c) throws SQLException {
        // Eight executions: past the default prepareThreshold of 5, pgJDBC
        // switches from unnamed statements to a named server-side S_n one.
        try (PreparedStatement ins = c.prepareStatement(
                "INSERT INTO customers (name, balance, note) VALUES (?, ?, ?)")) {
            for (int i = 1; i <= 8; i++) {
                ins.setString(1, "cust" + i);
                ins.setBigDecimal(2, new BigDecimal(i * 50 + ".25"));
                if (i % 2 == 0) {
                    ins.setNull(3, Types.VARCHAR);
                } else {
                    ins.setString(3, "note " + i);
                }
                check("insert update count", 1, ins.executeUpdate());
            }
            checkTrue("statement went server-prepared", ins.unwrap(PGStatement.class).isUseServerPrepare());
        }
        try (PreparedStatement q = c.prepareStatement(
                "SELECT name, balance, note FROM customers WHERE balance > ? AND name <> ? ORDER BY id")) {
            for (int round = 0; round < 7; round++) {
                q.setBigDecimal(1, new BigDecimal("200"));
                q.setString(2, "cust5");
                List<String> got = new ArrayList<>();
                try (ResultSet rs = q.executeQuery()) {
                    while (rs.next()) {
                        got.add(rs.getString(1) + "|" + rs.getBigDecimal(2) + "|" + rs.getString(3));
                    }
                }
                check("parameterised select, round " + round,
                    List.of("cust4|200.25|null", "cust6|300.25|null", "cust7|350.25|note 7", "cust8|400.25|null"), got);
            }
        }
        try (PreparedStatement up = c.prepareStatement("UPDATE customers SET balance = balance + ? WHERE id = ?")) {
            up.setBigDecimal(1, new BigDecimal("0.50"));
            up.setInt(2, 1);
            check("update count", 1, up.executeUpdate());
            up.setBigDecimal(1, new BigDecimal("1"));
            up.setInt(2, 999);
            check("update of no row", 0, up.executeUpdate());
        }
        check("updated balance", "50.75", one(c, "SELECT balance FROM customers WHERE id = 1"));
        try (PreparedStatement o = c.prepareStatement(
                "INSERT INTO orders (customer_id, amount, placed) VALUES (?, ?, ?)")) {
            for (int i = 1; i <= 6; i++) {
                o.setInt(1, (i % 3) + 1);
                o.setBigDecimal(2, new BigDecimal("-" + i + "9.99"));
                o.setObject(3, LocalDate.of(2024, 1, i));
                o.executeUpdate();
            }
        }
        try (PreparedStatement del = c.prepareStatement("DELETE FROM orders WHERE placed < ?")) {
            del.setDate(1, Date.valueOf("2024-01-03"));
            check("delete count", 2, del.executeUpdate());
        }
        check("orders left", "4", one(c, "SELECT count(*) FROM orders"));
        check("sum of amounts", "-219.96", one(c, "SELECT sum(amount) FROM orders"));
        System.out.println("dml: ok");
    }

    // --- batches -------------------------------------------------------

    static void batches(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO pairs (k, v) VALUES (?, ?)")) {
            for (int k = 1; k <= 10; k++) {
                ps.setInt(1, k);
                ps.setString(2, "v" + k);
                ps.addBatch();
            }
            int[] counts = ps.executeBatch();
            check("batch size", 10, counts.length);
            for (int n : counts) {
                check("batch count", 1, n);
            }
        }
        try (Statement st = c.createStatement()) {
            st.addBatch("INSERT INTO pairs (k, v) VALUES (100, 'a')");
            st.addBatch("UPDATE pairs SET w = k WHERE k <= 3");
            st.addBatch("DELETE FROM pairs WHERE k = 100");
            check("statement batch counts", "[1, 3, 1]", Arrays.toString(st.executeBatch()));
        }
        try (Connection rw = connect("&reWriteBatchedInserts=true");
                PreparedStatement ps = rw.prepareStatement("INSERT INTO pairs (k, v) VALUES (?, ?)")) {
            for (int k = 11; k <= 30; k++) {
                ps.setInt(1, k);
                ps.setString(2, "w" + k);
                ps.addBatch();
            }
            int[] counts = ps.executeBatch();
            check("rewritten batch size", 20, counts.length);
            for (int n : counts) {
                // Rewritten into multi-row INSERTs, pgJDBC reports SUCCESS_NO_INFO.
                check("rewritten batch count", Statement.SUCCESS_NO_INFO, n);
            }
            check("rows after rewritten batch", "30", one(rw, "SELECT count(*) FROM pairs"));
            check("rewritten values", "w11,w20,w30",
                one(rw, "SELECT string_agg(v, ',' ORDER BY k) FROM pairs WHERE k IN (11, 20, 30)"));
        }
        // A batch with a failing row: BatchUpdateException, SQLSTATE 23505.
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO pairs (k, v) VALUES (?, ?)")) {
            ps.setInt(1, 40);
            ps.setString(2, "x");
            ps.addBatch();
            ps.setInt(1, 1);
            ps.setString(2, "dup");
            ps.addBatch();
            expectError("batch with a duplicate key", "23505", ps::executeBatch);
        }
        System.out.println("batches: ok");
    }

    // --- generated keys ------------------------------------------------

    static void generatedKeys(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "INSERT INTO customers (name, balance) VALUES (?, ?)", Statement.RETURN_GENERATED_KEYS)) {
            ps.setString(1, "keyed");
            ps.setBigDecimal(2, new BigDecimal("7.00"));
            check("insert count", 1, ps.executeUpdate());
            try (ResultSet keys = ps.getGeneratedKeys()) {
                checkTrue("a generated key row", keys.next());
                check("generated serial id", 9, keys.getInt("id"));
                check("generated row's name", "keyed", keys.getString("name"));
                checkTrue("one generated key row", !keys.next());
            }
        }
        try (PreparedStatement ps = c.prepareStatement(
                "INSERT INTO orders (customer_id, amount) VALUES (?, ?)", new String[] {"order_id"})) {
            ps.setInt(1, 9);
            ps.setBigDecimal(2, BigDecimal.ONE);
            ps.executeUpdate();
            try (ResultSet keys = ps.getGeneratedKeys()) {
                checkTrue("an identity key row", keys.next());
                check("generated identity", 7L, keys.getLong(1));
                check("only the named column", 1, keys.getMetaData().getColumnCount());
            }
        }
        try (Statement st = c.createStatement()) {
            st.executeUpdate("INSERT INTO orders (customer_id, amount) VALUES (9, 2), (9, 3)",
                Statement.RETURN_GENERATED_KEYS);
            List<Long> ids = new ArrayList<>();
            try (ResultSet keys = st.getGeneratedKeys()) {
                while (keys.next()) {
                    ids.add(keys.getLong("order_id"));
                }
            }
            check("statement generated keys", List.of(8L, 9L), ids);
        }
        System.out.println("generated keys: ok");
    }

    // --- transactions --------------------------------------------------

    static void transactions(Connection c) throws SQLException {
        c.setAutoCommit(false);
        exec(c, "INSERT INTO pairs (k, v) VALUES (500, 'rolled back')");
        check("visible inside the transaction", "1", one(c, "SELECT count(*) FROM pairs WHERE k = 500"));
        c.rollback();
        check("gone after rollback", "0", one(c, "SELECT count(*) FROM pairs WHERE k = 500"));
        c.commit();

        exec(c, "INSERT INTO pairs (k, v) VALUES (501, 'kept')");
        Savepoint sp = c.setSavepoint();
        exec(c, "INSERT INTO pairs (k, v) VALUES (502, 'undone')");
        Savepoint named = c.setSavepoint("named_sp");
        exec(c, "INSERT INTO pairs (k, v) VALUES (503, 'undone too')");
        c.rollback(named);
        check("after rollback to the named savepoint", "501,502",
            one(c, "SELECT string_agg(k::text, ',' ORDER BY k) FROM pairs WHERE k > 500"));
        c.rollback(sp);
        exec(c, "INSERT INTO pairs (k, v) VALUES (504, 'after savepoint')");
        Savepoint released = c.setSavepoint();
        exec(c, "INSERT INTO pairs (k, v) VALUES (505, 'released')");
        c.releaseSavepoint(released);
        c.commit();
        c.setAutoCommit(true);
        check("after commit", "501,504,505",
            one(c, "SELECT string_agg(k::text, ',' ORDER BY k) FROM pairs WHERE k > 500"));

        // A failed statement inside a transaction: the next one is refused
        // with 25P02 until rollback; a savepoint rolls back just the error.
        c.setAutoCommit(false);
        exec(c, "INSERT INTO pairs (k, v) VALUES (600, 'x')");
        Savepoint before = c.setSavepoint();
        expectError("duplicate key inside a transaction", "23505",
            () -> exec(c, "INSERT INTO pairs (k, v) VALUES (600, 'y')"));
        c.rollback(before);
        exec(c, "INSERT INTO pairs (k, v) VALUES (601, 'z')");
        expectError("division by zero inside a transaction", "22012", () -> one(c, "SELECT 1 / (k - k) FROM pairs WHERE k = 600"));
        expectError("statement after the error", "25P02", () -> one(c, "SELECT 1"));
        c.rollback();
        c.setAutoCommit(true);
        check("nothing of the failed transaction", "0", one(c, "SELECT count(*) FROM pairs WHERE k >= 600"));
        c.setTransactionIsolation(Connection.TRANSACTION_SERIALIZABLE);
        c.setAutoCommit(false);
        check("isolation level", "serializable", one(c, "SHOW transaction_isolation"));
        c.commit();
        c.setAutoCommit(true);
        c.setTransactionIsolation(Connection.TRANSACTION_READ_COMMITTED);
        System.out.println("transactions: ok");
    }

    // --- errors --------------------------------------------------------

    static void errors(Connection c) throws SQLException {
        expectError("unknown table", "42P01", () -> one(c, "SELECT * FROM no_such_table"));
        expectError("unknown column", "42703", () -> one(c, "SELECT no_such_column FROM pairs"));
        expectError("syntax error", "42601", () -> exec(c, "SELEKT 1"));
        expectError("not null violation", "23502", () -> exec(c, "INSERT INTO customers (name) VALUES (NULL)"));
        expectError("foreign key violation", "23503",
            () -> exec(c, "INSERT INTO orders (customer_id) VALUES (12345)"));
        try (PreparedStatement ps = c.prepareStatement("SELECT 10 / ?")) {
            for (int i = 0; i < 7; i++) {
                ps.setInt(1, 5);
                check("prepared division", 2, scalarInt(ps));
            }
            ps.setInt(1, 0);
            expectError("prepared division by zero", "22012", () -> scalarInt(ps));
            ps.setInt(1, 2);
            check("prepared statement after its error", 5, scalarInt(ps));
        }
        try (PreparedStatement ps = c.prepareStatement("SELECT ?::integer")) {
            ps.setString(1, "12x");
            expectError("invalid integer text", "22P02", () -> scalarInt(ps));
        }
        check("connection usable after errors", "1", one(c, "SELECT 1"));
        System.out.println("errors: ok");
    }

    static int scalarInt(PreparedStatement ps) throws SQLException {
        try (ResultSet rs = ps.executeQuery()) {
            checkTrue("a row", rs.next());
            return rs.getInt(1);
        }
    }

    // --- DatabaseMetaData ----------------------------------------------

    static List<String> column(ResultSet rs, String... names) throws SQLException {
        List<String> out = new ArrayList<>();
        try (rs) {
            while (rs.next()) {
                StringBuilder row = new StringBuilder();
                for (int i = 0; i < names.length; i++) {
                    if (i > 0) {
                        row.append('|');
                    }
                    row.append(rs.getString(names[i]));
                }
                out.add(row.toString());
            }
        }
        return out;
    }

    static void metadata(Connection c) throws SQLException {
        DatabaseMetaData md = c.getMetaData();
        check("product name", "PostgreSQL", md.getDatabaseProductName());
        checkTrue("product version 15.x, got " + md.getDatabaseProductVersion(),
            md.getDatabaseProductVersion().startsWith("15."));
        check("major version", 15, md.getDatabaseMajorVersion());
        check("user name", System.getenv("PGUSER"), md.getUserName());
        check("identifier quote", "\"", md.getIdentifierQuoteString());

        check("getTables TABLE and VIEW",
            List.of("public|customers|TABLE", "public|orders|TABLE", "public|pairs|TABLE", "public|big_customers|VIEW"),
            column(md.getTables(null, "public", "%", new String[] {"TABLE", "VIEW"}),
                "TABLE_SCHEM", "TABLE_NAME", "TABLE_TYPE"));
        check("getTables VIEW only", List.of("big_customers"),
            column(md.getTables(null, "public", "%", new String[] {"VIEW"}), "TABLE_NAME"));
        check("getTables by pattern", List.of("customers"),
            column(md.getTables(null, null, "cust%", new String[] {"TABLE"}), "TABLE_NAME"));
        System.out.println("metadata getTables: ok");

        check("getColumns customers", List.of(
                "id|4|serial|10|0|0|nextval('customers_id_seq'::regclass)|1|NO|YES",
                "name|12|varchar|40|0|0|null|2|NO|NO",
                "balance|2|numeric|10|2|1|0|3|YES|NO",
                "note|12|text|2147483647|0|1|null|4|YES|NO"),
            column(md.getColumns(null, "public", "customers", "%"), "COLUMN_NAME", "DATA_TYPE", "TYPE_NAME",
                "COLUMN_SIZE", "DECIMAL_DIGITS", "NULLABLE", "COLUMN_DEF", "ORDINAL_POSITION", "IS_NULLABLE",
                "IS_AUTOINCREMENT"));
        check("getColumns orders", List.of(
                "order_id|-5|int8|19|0|YES",
                "customer_id|4|int4|10|0|NO",
                "amount|2|numeric|10|1|NO",
                "placed|91|date|13|1|NO"),
            column(md.getColumns(null, "public", "orders", "%"), "COLUMN_NAME", "DATA_TYPE", "TYPE_NAME",
                "COLUMN_SIZE", "NULLABLE", "IS_AUTOINCREMENT"));
        check("getColumns of a view", List.of("id|4", "name|12"),
            column(md.getColumns(null, "public", "big_customers", "%"), "COLUMN_NAME", "DATA_TYPE"));
        System.out.println("metadata getColumns: ok");

        check("getPrimaryKeys", List.of("customers|id|1|customers_pkey"),
            column(md.getPrimaryKeys(null, "public", "customers"), "TABLE_NAME", "COLUMN_NAME", "KEY_SEQ", "PK_NAME"));
        check("getPrimaryKeys identity", List.of("orders|order_id|1|orders_pkey"),
            column(md.getPrimaryKeys(null, "public", "orders"), "TABLE_NAME", "COLUMN_NAME", "KEY_SEQ", "PK_NAME"));
        String fk = "customers|id|orders|customer_id|1|" + DatabaseMetaData.importedKeyNoAction + "|"
            + DatabaseMetaData.importedKeyCascade + "|orders_customer_id_fkey|customers_pkey";
        String[] fkColumns = {"PKTABLE_NAME", "PKCOLUMN_NAME", "FKTABLE_NAME", "FKCOLUMN_NAME", "KEY_SEQ",
            "UPDATE_RULE", "DELETE_RULE", "FK_NAME", "PK_NAME"};
        check("getImportedKeys", List.of(fk), column(md.getImportedKeys(null, "public", "orders"), fkColumns));
        check("getExportedKeys", List.of(fk), column(md.getExportedKeys(null, "public", "customers"), fkColumns));
        check("getImportedKeys of a table without", List.of(),
            column(md.getImportedKeys(null, "public", "customers"), fkColumns));
        System.out.println("metadata keys: ok");

        check("getIndexInfo customers", List.of(
                "f|customers_name_key|1|name",
                "f|customers_pkey|1|id"),
            column(md.getIndexInfo(null, "public", "customers", false, false),
                "NON_UNIQUE", "INDEX_NAME", "ORDINAL_POSITION", "COLUMN_NAME"));
        check("getIndexInfo orders", List.of(
                "f|orders_pkey|1|order_id",
                "t|orders_placed_idx|1|placed"),
            column(md.getIndexInfo(null, "public", "orders", false, false),
                "NON_UNIQUE", "INDEX_NAME", "ORDINAL_POSITION", "COLUMN_NAME"));
        check("getIndexInfo unique only", List.of("orders_pkey"),
            column(md.getIndexInfo(null, "public", "orders", true, false), "INDEX_NAME"));
        System.out.println("metadata indexes: ok");

        TreeSet<String> schemas = new TreeSet<>(column(md.getSchemas(), "TABLE_SCHEM"));
        checkTrue("getSchemas has public, pg_catalog, information_schema: " + schemas,
            schemas.containsAll(List.of("public", "pg_catalog", "information_schema")));
        check("getSchemas with a pattern", List.of("public"), column(md.getSchemas(null, "pub%"), "TABLE_SCHEM"));

        List<String> typeInfo = column(md.getTypeInfo(), "TYPE_NAME", "DATA_TYPE");
        for (String t : List.of("int4|4", "int8|-5", "int2|5", "text|12", "numeric|2", "bool|-7", "float8|8",
                "date|91", "timestamptz|93", "bytea|-2", "uuid|1111", "jsonb|1111")) {
            checkTrue("getTypeInfo has " + t, typeInfo.contains(t));
        }
        System.out.println("metadata schemas and types: ok");
    }

    // --- ResultSetMetaData ---------------------------------------------

    static void resultSetMetadata(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT c.id, c.name AS customer, c.balance, c.note, count(o.order_id) AS n, now() AS at"
                    + " FROM customers c LEFT JOIN orders o ON o.customer_id = c.id"
                    + " WHERE c.id = ? GROUP BY c.id, c.name, c.balance, c.note");
                ResultSet rs = execute(ps, 1)) {
            ResultSetMetaData m = rs.getMetaData();
            check("column count", 6, m.getColumnCount());
            List<String> got = new ArrayList<>();
            for (int i = 1; i <= 6; i++) {
                got.add(m.getColumnLabel(i) + "|" + m.getColumnName(i) + "|" + m.getColumnType(i) + "|"
                    + m.getColumnTypeName(i) + "|" + m.getPrecision(i) + "|" + m.getScale(i) + "|"
                    + m.isNullable(i) + "|" + m.getTableName(i) + "|" + m.isAutoIncrement(i) + "|"
                    + m.getColumnClassName(i));
            }
            check("ResultSetMetaData", List.of(
                    "id|id|4|serial|10|0|0|customers|true|java.lang.Integer",
                    "customer|customer|12|varchar|40|0|0|customers|false|java.lang.String",
                    "balance|balance|2|numeric|10|2|1|customers|false|java.math.BigDecimal",
                    "note|note|12|text|2147483647|0|1|customers|false|java.lang.String",
                    "n|n|-5|int8|19|0|2||false|java.lang.Long",
                    "at|at|93|timestamptz|35|6|2||false|java.sql.Timestamp"),
                got);
            PGResultSetMetaData pm = m.unwrap(PGResultSetMetaData.class);
            check("base column of a label", "name", pm.getBaseColumnName(2));
            check("base table", "customers", pm.getBaseTableName(2));
            check("base schema", "public", pm.getBaseSchemaName(2));
        }
        System.out.println("result set metadata: ok");
    }

    static ResultSet execute(PreparedStatement ps, int id) throws SQLException {
        ps.setInt(1, id);
        return ps.executeQuery();
    }

    // --- every supported type, text and binary -------------------------

    static final String TYPES_TABLE = "CREATE TABLE every_type (id int PRIMARY KEY,"
        + " c_int2 smallint, c_int4 integer, c_int8 bigint, c_numeric numeric(40,20), c_numeric_any numeric,"
        + " c_float4 real, c_float8 double precision, c_text text, c_varchar varchar(12), c_char char(5),"
        + " c_bool boolean, c_bytea bytea, c_date date, c_time time, c_timestamp timestamp,"
        + " c_timestamptz timestamptz, c_interval interval, c_uuid uuid, c_json json, c_jsonb jsonb,"
        + " a_int4 int4[], a_int8 int8[], a_text text[], a_float8 float8[], a_numeric numeric[], a_bool bool[],"
        + " a_date date[], a_timestamptz timestamptz[], a_uuid uuid[])";

    static final int TYPE_COLUMNS = 29;

    static final UUID U1 = UUID.fromString("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    static final UUID U2 = UUID.fromString("00000000-0000-0000-0000-000000000000");
    static final String UNICODE = "h\u00e9llo w\u00f6rld \u2603 \ud834\udd1e \u65e5\u672c";
    static final byte[] BYTES = {0, 1, 2, (byte) 0xff, 0, 39, 92, 0};
    static final OffsetDateTime TSTZ = OffsetDateTime.of(2024, 2, 29, 23, 30, 15, 123456000, ZoneOffset.ofHours(-5));

    static void types() throws Exception {
        try (Connection c = connect("")) {
            exec(c, TYPES_TABLE);
            // Row 1 through PreparedStatement setters (unnamed, then named
            // statements: the row-2 insert is the same statement again).
            String insert = "INSERT INTO every_type VALUES (" + "?,".repeat(TYPE_COLUMNS) + "?)";
            try (PreparedStatement ps = c.prepareStatement(insert)) {
                int i = 1;
                ps.setInt(i++, 1);
                ps.setShort(i++, (short) -32768);
                ps.setInt(i++, 2147483647);
                ps.setLong(i++, Long.MIN_VALUE);
                ps.setBigDecimal(i++, new BigDecimal("-12345678901234567890.12345678901234567890"));
                ps.setBigDecimal(i++, new BigDecimal("0.000000000000000000000000000000001"));
                ps.setFloat(i++, 3.25f);
                ps.setDouble(i++, 1.0000000000000002);
                ps.setString(i++, UNICODE);
                ps.setString(i++, "v\u00e4rchar");
                ps.setString(i++, "ab");
                ps.setBoolean(i++, true);
                ps.setBytes(i++, BYTES);
                ps.setObject(i++, LocalDate.of(2024, 2, 29));
                ps.setObject(i++, LocalTime.of(23, 59, 59, 123456000));
                ps.setObject(i++, LocalDateTime.of(1999, 12, 31, 23, 59, 59, 999999000));
                ps.setObject(i++, TSTZ);
                ps.setObject(i++, new PGInterval(1, 2, 3, 4, 5, 6.5));
                ps.setObject(i++, U1);
                ps.setObject(i++, jsonObject("json", "{\"b\": [1, 2], \"a\": null}"));
                ps.setObject(i++, jsonObject("jsonb", "{\"b\": [1, 2], \"a\": \"\u00fc\"}"));
                ps.setArray(i++, c.createArrayOf("int4", new Integer[] {1, null, -2147483648}));
                ps.setArray(i++, c.createArrayOf("int8", new Long[] {Long.MAX_VALUE, 0L}));
                ps.setArray(i++, c.createArrayOf("text", new String[] {"a,b", "\"q\"", null, "", UNICODE, "NULL"}));
                ps.setArray(i++, c.createArrayOf("float8", new Double[] {1.5, Double.NaN, Double.NEGATIVE_INFINITY}));
                ps.setArray(i++, c.createArrayOf("numeric", new BigDecimal[] {new BigDecimal("-1.50"), null}));
                ps.setArray(i++, c.createArrayOf("bool", new Boolean[] {true, false, null}));
                ps.setArray(i++, c.createArrayOf("date", new Date[] {Date.valueOf("2000-01-01")}));
                ps.setArray(i++, c.createArrayOf("timestamptz",
                    new Timestamp[] {Timestamp.from(TSTZ.toInstant())}));
                ps.setArray(i++, c.createArrayOf("uuid", new UUID[] {U1, U2}));
                check("parameter count", TYPE_COLUMNS + 1, i - 1);
                check("insert row 1", 1, ps.executeUpdate());

                // Row 2: NULL in every column.
                ps.clearParameters();
                ps.setInt(1, 2);
                for (int k = 2; k <= TYPE_COLUMNS + 1; k++) {
                    ps.setNull(k, Types.NULL);
                }
                check("insert row 2", 1, ps.executeUpdate());
            }
            // Row 3: edge values (NaN, infinities, empty arrays) from SQL
            // text.
            exec(c, "INSERT INTO every_type (id, c_float4, c_float8, c_text, c_bytea, c_date,"
                + " c_timestamp, c_timestamptz, c_interval, a_int4, a_text, a_float8, c_numeric_any)"
                + " VALUES (3, '-Infinity', 'NaN', '', '\\x', 'infinity', '-infinity', 'infinity',"
                + " '-1 days -00:00:01', '{}', '{}', '{}', 'NaN')");
        }
        readTypes("default", "", false);
        readTypes("binary", "&prepareThreshold=1&binaryTransfer=true", true);
        readTypes("text", "&preferQueryMode=simple", false);
        roundTripBinaryParameters();
    }

    static PGobject jsonObject(String type, String value) throws SQLException {
        PGobject o = new PGobject();
        o.setType(type);
        o.setValue(value);
        return o;
    }

    static void readTypes(String mode, String params, boolean binary) throws Exception {
        try (Connection c = connect(params);
                PreparedStatement ps = c.prepareStatement("SELECT * FROM every_type WHERE id = ?")) {
            // Repeated, so that the default mode also reads through its
            // named statement once the threshold has passed.
            for (int round = 0; round < (binary ? 3 : 6); round++) {
                ps.setInt(1, 1);
                try (ResultSet rs = ps.executeQuery()) {
                    checkTrue(mode + ": row 1", rs.next());
                    // pgJDBC asks for binary results once it has described
                    // the statement, i.e. from the second execution on.
                    if (binary && round > 0) {
                        PGResultSetMetaData pm = rs.getMetaData().unwrap(PGResultSetMetaData.class);
                        for (String col : List.of("c_int2", "c_int4", "c_int8", "c_float4", "c_float8", "c_bytea",
                                "c_date", "c_time", "c_timestamp", "c_timestamptz", "c_uuid", "a_int4", "a_int8",
                                "a_text", "a_float8")) {
                            check(mode + ": " + col + " came in binary", 1, pm.getFormat(rs.findColumn(col)));
                        }
                    } else if (mode.equals("text")) {
                        PGResultSetMetaData pm = rs.getMetaData().unwrap(PGResultSetMetaData.class);
                        for (int k = 1; k <= TYPE_COLUMNS + 1; k++) {
                            check(mode + ": column " + k + " came in text", 0, pm.getFormat(k));
                        }
                    }
                    checkRow1(mode, rs);
                }
            }
            ps.setInt(1, 2);
            try (ResultSet rs = ps.executeQuery()) {
                checkTrue(mode + ": row 2", rs.next());
                for (int k = 2; k <= TYPE_COLUMNS + 1; k++) {
                    String name = rs.getMetaData().getColumnName(k);
                    check(mode + ": NULL " + name + " getObject", null, rs.getObject(k));
                    check(mode + ": NULL " + name + " wasNull", true, rs.wasNull());
                    check(mode + ": NULL " + name + " getString", null, rs.getString(k));
                }
            }
            ps.setInt(1, 3);
            try (ResultSet rs = ps.executeQuery()) {
                checkTrue(mode + ": row 3", rs.next());
                checkRow3(mode, rs);
            }
        }
        System.out.println("types " + mode + ": ok");
    }

    static void checkRow1(String mode, ResultSet rs) throws SQLException {
        String m = mode + ": ";
        check(m + "int2", (short) -32768, rs.getShort("c_int2"));
        check(m + "int2 getObject", -32768, rs.getObject("c_int2"));
        check(m + "int4", 2147483647, rs.getInt("c_int4"));
        check(m + "int4 getObject", 2147483647, rs.getObject("c_int4"));
        check(m + "int8", Long.MIN_VALUE, rs.getLong("c_int8"));
        check(m + "int8 getObject", Long.MIN_VALUE, rs.getObject("c_int8"));
        check(m + "int8 getString", "-9223372036854775808", rs.getString("c_int8"));
        check(m + "numeric", new BigDecimal("-12345678901234567890.12345678901234567890"), rs.getBigDecimal("c_numeric"));
        check(m + "numeric getString", "-12345678901234567890.12345678901234567890", rs.getString("c_numeric"));
        check(m + "numeric tiny", new BigDecimal("0.000000000000000000000000000000001"), rs.getBigDecimal("c_numeric_any"));
        check(m + "float4", 3.25f, rs.getFloat("c_float4"));
        check(m + "float4 getObject", 3.25f, rs.getObject("c_float4"));
        check(m + "float8", 1.0000000000000002, rs.getDouble("c_float8"));
        check(m + "float8 getString", "1.0000000000000002", rs.getString("c_float8"));
        check(m + "text", UNICODE, rs.getString("c_text"));
        check(m + "varchar", "v\u00e4rchar", rs.getObject("c_varchar"));
        check(m + "char padded", "ab   ", rs.getString("c_char"));
        check(m + "bool", true, rs.getBoolean("c_bool"));
        check(m + "bool getObject", Boolean.TRUE, rs.getObject("c_bool"));
        check(m + "bool getString", "t", rs.getString("c_bool"));
        check(m + "bytea", BYTES, rs.getBytes("c_bytea"));
        checkTextForm(m + "bytea getString", "\\x000102ff00275c00", rs, "c_bytea");
        check(m + "date", Date.valueOf("2024-02-29"), rs.getDate("c_date"));
        check(m + "date LocalDate", LocalDate.of(2024, 2, 29), rs.getObject("c_date", LocalDate.class));
        check(m + "date getString", "2024-02-29", rs.getString("c_date"));
        check(m + "time", LocalTime.of(23, 59, 59, 123456000), rs.getObject("c_time", LocalTime.class));
        checkTextForm(m + "time getString", "23:59:59.123456", rs, "c_time");
        check(m + "timestamp", LocalDateTime.of(1999, 12, 31, 23, 59, 59, 999999000),
            rs.getObject("c_timestamp", LocalDateTime.class));
        check(m + "timestamp getTimestamp", Timestamp.valueOf("1999-12-31 23:59:59.999999"),
            rs.getTimestamp("c_timestamp"));
        checkTextForm(m + "timestamp getString", "1999-12-31 23:59:59.999999", rs, "c_timestamp");
        check(m + "timestamptz OffsetDateTime", TSTZ.withOffsetSameInstant(ZoneOffset.UTC),
            rs.getObject("c_timestamptz", OffsetDateTime.class));
        check(m + "timestamptz getTimestamp", Timestamp.from(TSTZ.toInstant()), rs.getTimestamp("c_timestamptz"));
        // The session's TimeZone is the JVM's (Europe/Berlin, +01 in February).
        checkTextForm(m + "timestamptz getString", "2024-03-01 05:30:15.123456+01", rs, "c_timestamptz");
        check(m + "interval", new PGInterval(1, 2, 3, 4, 5, 6.5), rs.getObject("c_interval"));
        check(m + "interval getString", "1 year 2 mons 3 days 04:05:06.5", rs.getString("c_interval"));
        check(m + "uuid", U1, rs.getObject("c_uuid"));
        check(m + "uuid as UUID", U1, rs.getObject("c_uuid", UUID.class));
        check(m + "uuid getString", U1.toString(), rs.getString("c_uuid"));
        check(m + "json keeps its text", "{\"b\": [1, 2], \"a\": null}", rs.getString("c_json"));
        Object json = rs.getObject("c_json");
        check(m + "json getObject type", "json", ((PGobject) json).getType());
        check(m + "jsonb normalised", "{\"a\": \"\u00fc\", \"b\": [1, 2]}", rs.getString("c_jsonb"));
        check(m + "jsonb getObject type", "jsonb", ((PGobject) rs.getObject("c_jsonb")).getType());

        checkArray(m + "int4[]", "int4", new Integer[] {1, null, -2147483648}, "{1,NULL,-2147483648}",
            rs, "a_int4");
        checkArray(m + "int8[]", "int8", new Long[] {Long.MAX_VALUE, 0L}, "{9223372036854775807,0}",
            rs, "a_int8");
        checkArray(m + "text[]", "text", new String[] {"a,b", "\"q\"", null, "", UNICODE, "NULL"},
            "{\"a,b\",\"\\\"q\\\"\",NULL,\"\",\"" + UNICODE + "\",\"NULL\"}",
            rs, "a_text");
        checkArray(m + "float8[]", "float8", new Double[] {1.5, Double.NaN, Double.NEGATIVE_INFINITY},
            "{1.5,NaN,-Infinity}", rs, "a_float8");
        checkArray(m + "numeric[]", "numeric", new BigDecimal[] {new BigDecimal("-1.50"), null}, "{-1.50,NULL}",
            rs, "a_numeric");
        checkArray(m + "bool[]", "bool", new Boolean[] {true, false, null}, "{t,f,NULL}",
            rs, "a_bool");
        checkArray(m + "date[]", "date", new Date[] {Date.valueOf("2000-01-01")}, "{2000-01-01}",
            rs, "a_date");
        checkArray(m + "timestamptz[]", "timestamptz", new Timestamp[] {Timestamp.from(TSTZ.toInstant())},
            "{\"2024-03-01 05:30:15.123456+01\"}", rs, "a_timestamptz");
        checkArray(m + "uuid[]", "uuid", new UUID[] {U1, U2}, "{" + U1 + "," + U2 + "}",
            rs, "a_uuid");
    }

    // pgJDBC's getString of a value received in binary is its own
    // rendering (a bytea's byte[].toString, a time with milliseconds), so
    // the server's text form is only compared when it came in text.
    static void checkTextForm(String what, String expected, ResultSet rs, String column) throws SQLException {
        if (rs.getMetaData().unwrap(PGResultSetMetaData.class).getFormat(rs.findColumn(column)) == 0) {
            check(what, expected, rs.getString(column));
        }
    }

    static void checkArray(String what, String baseType, Object[] expected, String text, ResultSet rs, String column)
            throws SQLException {
        Array got = rs.getArray(column);
        check(what + " base type", baseType, got.getBaseTypeName());
        check(what + " elements", expected, (Object[]) got.getArray());
        checkTextForm(what + " getString", text, rs, column);
        // The same array through its ResultSet view: one row per element.
        List<Object> viaRs = new ArrayList<>();
        try (ResultSet ers = got.getResultSet()) {
            while (ers.next()) {
                viaRs.add(ers.getObject(2));
            }
        }
        check(what + " getResultSet elements", Arrays.asList(expected), viaRs);
    }

    static void checkRow3(String mode, ResultSet rs) throws SQLException {
        String m = mode + ": ";
        check(m + "float4 -Infinity", Float.NEGATIVE_INFINITY, rs.getFloat("c_float4"));
        check(m + "float8 NaN", Double.NaN, rs.getObject("c_float8"));
        check(m + "numeric NaN", "NaN", rs.getString("c_numeric_any"));
        check(m + "numeric NaN getDouble", Double.NaN, rs.getDouble("c_numeric_any"));
        check(m + "empty text", "", rs.getString("c_text"));
        check(m + "empty bytea", new byte[0], rs.getBytes("c_bytea"));
        check(m + "date infinity", PGStatement.DATE_POSITIVE_INFINITY, rs.getDate("c_date").getTime());
        check(m + "date infinity LocalDate", LocalDate.MAX, rs.getObject("c_date", LocalDate.class));
        check(m + "timestamp -infinity", PGStatement.DATE_NEGATIVE_INFINITY, rs.getTimestamp("c_timestamp").getTime());
        check(m + "timestamp -infinity LocalDateTime", LocalDateTime.MIN,
            rs.getObject("c_timestamp", LocalDateTime.class));
        check(m + "timestamptz infinity OffsetDateTime", OffsetDateTime.MAX,
            rs.getObject("c_timestamptz", OffsetDateTime.class));
        check(m + "timestamptz infinity getString", "infinity", rs.getString("c_timestamptz"));
        check(m + "negative interval", "-1 days -00:00:01", rs.getString("c_interval"));
        checkArray(m + "empty int4[]", "int4", new Integer[0], "{}", rs, "a_int4");
        checkArray(m + "empty text[]", "text", new String[0], "{}", rs, "a_text");
        checkArray(m + "empty float8[]", "float8", new Double[0], "{}", rs, "a_float8");
    }

    // Parameters sent in binary (pgJDBC sends int/float/bytea/uuid/date
    // parameters binary when binaryTransfer is on) come back equal.
    static void roundTripBinaryParameters() throws SQLException {
        try (Connection c = connect("&prepareThreshold=1&binaryTransfer=true");
                PreparedStatement ps = c.prepareStatement(
                    "SELECT ?::int2, ?::int4, ?::int8, ?::float4, ?::float8, ?::bytea, ?::uuid, ?::numeric,"
                        + " ?::timestamptz, ?::date, ?::text, ?::int4[], ?::bool")) {
            for (int round = 0; round < 3; round++) {
                int i = 1;
                ps.setShort(i++, (short) 32767);
                ps.setInt(i++, -7);
                ps.setLong(i++, Long.MAX_VALUE);
                ps.setFloat(i++, Float.NaN);
                ps.setDouble(i++, -0.1);
                ps.setBytes(i++, BYTES);
                ps.setObject(i++, U1);
                ps.setBigDecimal(i++, new BigDecimal("-9876543210987654321.000000001"));
                ps.setObject(i++, TSTZ);
                ps.setDate(i++, new Date(PGStatement.DATE_NEGATIVE_INFINITY));
                ps.setString(i++, UNICODE);
                ps.setArray(i++, c.createArrayOf("int4", new Integer[] {3, null}));
                ps.setBoolean(i++, false);
                try (ResultSet rs = ps.executeQuery()) {
                    checkTrue("a row", rs.next());
                    check("int2 param", (short) 32767, rs.getShort(1));
                    check("int4 param", -7, rs.getInt(2));
                    check("int8 param", Long.MAX_VALUE, rs.getLong(3));
                    check("float4 NaN param", Float.NaN, rs.getFloat(4));
                    check("float8 param", -0.1, rs.getDouble(5));
                    check("bytea param", BYTES, rs.getBytes(6));
                    check("uuid param", U1, rs.getObject(7));
                    check("numeric param", new BigDecimal("-9876543210987654321.000000001"), rs.getBigDecimal(8));
                    check("timestamptz param", TSTZ.toInstant(),
                        rs.getObject(9, OffsetDateTime.class).toInstant());
                    check("date -infinity param", PGStatement.DATE_NEGATIVE_INFINITY, rs.getDate(10).getTime());
                    check("text param", UNICODE, rs.getString(11));
                    check("int4[] param", new Integer[] {3, null}, (Object[]) rs.getArray(12).getArray());
                    check("bool param", false, rs.getObject(13));
                }
            }
        }
        System.out.println("binary parameters: ok");
    }
}
