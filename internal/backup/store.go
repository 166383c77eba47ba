package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
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
	if err := s.remember(org); err != nil {
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

// organizationsDir, under the store's root, holds one file per organization (named for its id)
// listing the schema directories its backups went to, one a line, so that its backup state
// follows the organization when a restore gives it a new schema. List skips it (not a schema
// name).
const organizationsDir = ".organizations"

func (s Store) indexPath(orgID int64) string {
	return filepath.Join(s.Root, organizationsDir, strconv.FormatInt(orgID, 10))
}

// schemasOf returns the schema directories that may hold org's backups: its current schema, then
// the earlier ones its index names.
func (s Store) schemasOf(org tenancy.Organization) ([]string, error) {
	if err := tenancy.ValidateSchemaName(org.SchemaName); err != nil {
		return nil, err
	}
	out := []string{org.SchemaName}
	body, err := os.ReadFile(s.indexPath(org.ID))
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the backup index of organization %d: %w", org.ID, err)
	}
	for _, schema := range strings.Fields(string(body)) {
		if !slices.Contains(out, schema) && tenancy.ValidateSchemaName(schema) == nil { // two racing backups may both append
			out = append(out, schema)
		}
	}
	return out, nil
}

// remember adds org's current schema to its index unless it is there.
func (s Store) remember(org tenancy.Organization) error {
	body, err := os.ReadFile(s.indexPath(org.ID))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading the backup index of organization %d: %w", org.ID, err)
	}
	if slices.Contains(strings.Fields(string(body)), org.SchemaName) {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(s.Root, organizationsDir), 0o700); err != nil {
		return fmt.Errorf("creating the backup index: %w", err)
	}
	f, err := os.OpenFile(s.indexPath(org.ID), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("writing the backup index of organization %d: %w", org.ID, err)
	}
	_, err = f.WriteString(org.SchemaName + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing the backup index of organization %d: %w", org.ID, err)
	}
	return nil
}
