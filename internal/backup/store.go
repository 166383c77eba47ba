package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/appcitas/appcitas/internal/tenancy"
)

// timestampLayout names backup files; it sorts in time order.
const timestampLayout = "20060102T150405.000Z"

// Store is a directory of backups laid out as <Root>/<schema_name>/<timestamp>.appcitas-backup.
type Store struct {
	// Root is the directory, usually $APPCITAS_DATA/backups.
	Root string
}

// PathFor returns where a backup of schema taken at t goes.
func (s Store) PathFor(schema string, t time.Time) (string, error) {
	if err := tenancy.ValidateSchemaName(schema); err != nil {
		return "", err
	}
	return filepath.Join(s.Root, schema, t.UTC().Format(timestampLayout)+Extension), nil
}

// Backup writes a backup of org into the store (see [WriteFile]).
func (s Store) Backup(ctx context.Context, m *tenancy.Manager, org tenancy.Organization) (Result, error) {
	return s.BackupAt(ctx, m, org, time.Now())
}

// BackupAt is [Store.Backup] with the file named for t (the scheduler names files for its slot
// clock). A failure is recorded in the store (see [Store.Status]: list_tenants, list_backups
// --status and the dashboard show it) unless the backup did not run: another one of the tenant
// was running ([ErrInProgress]) or ctx was cancelled.
func (s Store) BackupAt(ctx context.Context, m *tenancy.Manager, org tenancy.Organization, t time.Time) (Result, error) {
	path, err := s.PathFor(org.SchemaName, t)
	if err != nil {
		return Result{}, err
	}
	res, err := WriteFile(ctx, m, org, path)
	if err != nil && !errors.Is(err, ErrInProgress) && !errors.Is(err, context.Canceled) {
		if rerr := s.recordFailure(org.SchemaName, t, err); rerr != nil {
			return Result{}, errors.Join(err, fmt.Errorf("recording the failure: %w", rerr))
		}
	}
	return res, err
}

// Entry is one backup file of a store.
type Entry struct {
	// Path is the file.
	Path string
	// Size is its size in bytes.
	Size int64
	// Manifest is read from the file's head, not verified; Err says why it could not be read.
	Manifest Manifest
	Err      error
}

// List returns the backups in the store, newest first. With organizationID > 0, only that
// organization's. Files whose manifest cannot be read are listed with Err set.
func (s Store) List(organizationID int64) ([]Entry, error) {
	var out []Entry
	dirs, err := os.ReadDir(s.Root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing backups: %w", err)
	}
	for _, d := range dirs {
		if !d.IsDir() || tenancy.ValidateSchemaName(d.Name()) != nil {
			continue
		}
		files, err := os.ReadDir(filepath.Join(s.Root, d.Name()))
		if err != nil {
			return nil, fmt.Errorf("listing backups: %w", err)
		}
		for _, f := range files {
			if f.IsDir() || !strings.HasSuffix(f.Name(), Extension) || strings.HasPrefix(f.Name(), ".") {
				continue
			}
			e := Entry{Path: filepath.Join(s.Root, d.Name(), f.Name())}
			e.Manifest, e.Size, e.Err = readManifestFile(e.Path)
			if organizationID > 0 && (e.Err != nil || e.Manifest.Organization.ID != organizationID) {
				continue
			}
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		return filepath.Base(out[i].Path) > filepath.Base(out[j].Path)
	})
	return out, nil
}

func readManifestFile(path string) (Manifest, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return Manifest{}, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Manifest{}, 0, err
	}
	man, err := ReadManifest(f)
	return man, st.Size(), err
}
