// Package pgserver runs a private PostgreSQL cluster from the locally
// installed PostgreSQL binaries, so appcitas works without a DATABASE_URL.
//
// Start initialises a cluster in a data directory on first use (initdb with
// SCRAM authentication and a random superuser password kept beside it), then
// runs postgres as a child process listening only on 127.0.0.1 on a free
// port, with no Unix socket. The child is tied to the calling process with a
// parent-death signal, so the cluster shuts down even when the caller is
// killed with SIGKILL. When another process already runs the cluster in the
// same data directory, Start attaches to it instead, and Stop leaves it
// running.
//
// When the caller runs as root, initdb and postgres run as the postgres OS
// user, which must be able to enter every parent of the data directory;
// Start checks this before touching anything and names the directory to fix.
//
// The application does not connect as the superuser. Start creates, or
// updates, the login role appcitas_app (not a superuser, NOINHERIT,
// CREATEROLE), and the appcitas database owned by it, with its schema
// public owned by it too (a NOINHERIT role does not use pg_database_owner's
// rights). URL and URLFor log in as appcitas_app; SuperuserURL and
// SuperuserURLFor as the superuser. A database made before appcitas_app
// existed is handed over to it on the next Start: the database, public,
// what the superuser made in public and river, and membership in every
// tenant role.
//
// A data directory holds:
//
//	pgdata/              the cluster (PGDATA)
//	postgres.log         the server log, appended to on every start
//	superuser-password   the password of the appcitas superuser (0600)
//	app-password         the password of the appcitas_app login role (0600)
package pgserver
