package pgserver

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
)

// serverUser is the OS user initdb and postgres run as.
type serverUser struct {
	name   string
	uid    uint32
	gid    uint32
	groups []uint32
	// cred is nil when the server runs as the calling user.
	cred *syscall.Credential
}

// lookupServerUser returns the calling user, or the postgres OS user when
// the caller is root: PostgreSQL refuses to run as root.
func lookupServerUser() (serverUser, error) {
	if os.Geteuid() != 0 {
		return serverUser{name: "current user", uid: uint32(os.Geteuid()), gid: uint32(os.Getegid())}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return serverUser{}, fmt.Errorf("running as root, PostgreSQL must run as the postgres OS user, "+
			"which the PostgreSQL package creates (`apt-get install postgresql`): %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return serverUser{}, fmt.Errorf("parsing uid of OS user postgres: %w", err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return serverUser{}, fmt.Errorf("parsing gid of OS user postgres: %w", err)
	}
	su := serverUser{name: "postgres", uid: uint32(uid), gid: uint32(gid)}
	gids, err := u.GroupIds()
	if err != nil {
		return serverUser{}, fmt.Errorf("listing groups of OS user postgres: %w", err)
	}
	for _, g := range gids {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil && uint32(n) != su.gid {
			su.groups = append(su.groups, uint32(n))
		}
	}
	su.cred = &syscall.Credential{Uid: su.uid, Gid: su.gid, Groups: su.groups}
	return su, nil
}

// chown gives path to the server user when it is not the caller.
func (u serverUser) chown(path string) error {
	if u.cred == nil {
		return nil
	}
	if err := os.Chown(path, int(u.uid), int(u.gid)); err != nil {
		return fmt.Errorf("giving %s to OS user %s: %w", path, u.name, err)
	}
	return nil
}

// checkTraversable returns an error naming the first existing directory on
// the way to dir (dir included) that the server user cannot enter. Missing
// components are skipped: they are created later and checked again.
// It only checks when the server runs as another user than the caller.
func (u serverUser) checkTraversable(dir string) error {
	if u.cred == nil {
		return nil
	}
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		switch {
		case err == nil:
			if !u.canEnter(fi) {
				return fmt.Errorf("the postgres server runs as OS user %s, which cannot enter %s (mode %s): "+
					"make it traversable with `chmod o+x %s`, or choose a data directory outside it (APPCITAS_DATA)",
					u.name, p, fi.Mode().Perm(), p)
			}
		case !os.IsNotExist(err):
			return fmt.Errorf("checking %s: %w", p, err)
		}
		if parent := filepath.Dir(p); parent == p {
			return nil
		}
	}
}

// canEnter reports whether the server user may search the directory,
// following the owner, then group, then other rule of POSIX permissions.
func (u serverUser) canEnter(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	perm := fi.Mode().Perm()
	switch {
	case u.uid == 0:
		return true
	case st.Uid == u.uid:
		return perm&0o100 != 0
	case st.Gid == u.gid || slices.Contains(u.groups, st.Gid):
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}
