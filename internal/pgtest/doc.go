// Package pgtest gives tests real PostgreSQL databases.
//
// A test binary starts one throwaway cluster from its TestMain, and each
// test asks for its own fresh, empty database on it:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		t.Parallel()
//		url := pgtest.NewDatabase(t) // dropped when the test ends
//		...
//	}
//
// The cluster runs from the locally installed PostgreSQL binaries (see
// package pgserver) in a temporary directory, with durability switched off
// for speed, and is removed when the tests end. When TEST_DATABASE_URL is
// set, no cluster is started and the databases are created on that server
// instead; its user needs the CREATEDB privilege.
//
// [PgBouncer] puts a throwaway PgBouncer in transaction mode in front of a
// test's database, for the tests that must hold behind a pooler.
package pgtest
