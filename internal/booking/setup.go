package booking

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/migrate"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// SetupVersionTable is [migrate.SetupVersionTable], the table [SetupVersionSQL] reads.
const SetupVersionTable = migrate.SetupVersionTable

// SetupVersionSQL reads a tenant's [SetupVersion]. It is meant to be the first statement of a
// request's transaction (a tenancy.Lead), so that everything the request reads afterwards is at
// least as new as the set-up it uses.
const SetupVersionSQL = `SELECT tableoid::int8, version FROM ` + SetupVersionTable + ` LIMIT 1`

// SetupVersion identifies one state of a tenant's set-up: the version table's oid (a restored or
// recreated schema has a new table, so its versions never match an older copy's) and the version
// its triggers keep.
type SetupVersion struct {
	Table   int64
	Version int64
}

// Setup is a tenant's set-up as of one [SetupVersion]: every branch, service and member, the weekly
// working hours with their breaks, and the date exceptions. Booking decisions and the membership
// check read it instead of those tables. A Setup is never changed after it is loaded, so one value
// is shared by concurrent requests.
type Setup struct {
	branches map[int64]Branch
	zones    map[int64]*time.Location // by branch; absent when the branch's zone does not load
	services map[int64]Service
	members  map[int64]Member
	byUser   map[int64]int64 // the lowest-id active profile of each user
	// hours are every block of working hours, ordered by staff member, weekday and start;
	// staffName and active come from the member.
	hours      []setupHours
	exceptions []exceptionRow
	rows       int
}

type setupHours struct {
	hoursRow
	active bool // the staff member is active
}

// ActiveMember returns the user's active profile, if any.
func (s *Setup) ActiveMember(userID int64) (Member, bool) {
	id, ok := s.byUser[userID]
	return s.members[id], ok
}

// Rows returns how many rows the set-up holds.
func (s *Setup) Rows() int { return s.rows }

// LoadSetup reads the tenant's whole set-up in tx, in one round trip. It fails with
// [ErrSetupTooLarge] when the tenant has more than maxRows set-up rows (0: no limit).
func LoadSetup(ctx context.Context, tx pgx.Tx, zones *Zones, maxRows int) (*Setup, error) {
	s := &Setup{branches: map[int64]Branch{}, zones: map[int64]*time.Location{}, services: map[int64]Service{},
		members: map[int64]Member{}, byUser: map[int64]int64{}}
	each := func(what string, scan func(pgx.Rows) error) func(pgx.Rows) error {
		return func(rows pgx.Rows) error {
			defer rows.Close()
			for rows.Next() {
				if err := scan(rows); err != nil {
					return fmt.Errorf("reading %s: %w", what, err)
				}
				s.rows++
			}
			if err := rows.Err(); err != nil {
				return fmt.Errorf("reading %s: %w", what, err)
			}
			return nil
		}
	}
	// Each query reads at most one row over the limit: enough to tell a set-up too large.
	var lim any // LIMIT NULL: no limit
	if maxRows > 0 {
		lim = int64(maxRows) + 1
	}
	queries := []tenancy.UnkeptQuery{
		{SQL: `SELECT ` + branchColumns + ` FROM organizacion_sede ORDER BY id LIMIT $1`, Args: []any{lim}, Read: each("branches", func(r pgx.Rows) error {
			br, err := scanBranch(r)
			if err == nil {
				s.branches[br.ID] = br
			}
			return err
		})},
		{SQL: `SELECT ` + serviceColumns + ` FROM citas_servicio ORDER BY id LIMIT $1`, Args: []any{lim}, Read: each("services", func(r pgx.Rows) error {
			sv, err := scanService(r)
			if err == nil {
				s.services[sv.ID] = sv
			}
			return err
		})},
		{SQL: `SELECT ` + memberColumns + ` FROM usuarios_perfilusuario ORDER BY id LIMIT $1`, Args: []any{lim}, Read: each("members", func(r pgx.Rows) error {
			m, err := scanMember(r)
			if err == nil {
				s.members[m.ID] = m
				if _, seen := s.byUser[m.UserID]; m.Active && !seen {
					s.byUser[m.UserID] = m.ID
				}
			}
			return err
		})},
		{SQL: setupHoursSQL, Args: []any{lim}, Read: each("working hours", func(r pgx.Rows) error {
			h, err := scanHoursRow(r)
			if err == nil {
				s.hours = append(s.hours, setupHours{hoursRow: h})
			}
			return err
		})},
		{SQL: `SELECT ` + exceptionRowColumns + ` FROM citas_excepcion ORDER BY fecha, id LIMIT $1`, Args: []any{lim}, Read: each("exceptions", func(r pgx.Rows) error {
			e, err := scanExceptionRow(r)
			if err == nil {
				s.exceptions = append(s.exceptions, e)
			}
			return err
		})},
	}
	// Run as statements the connection does not keep: a set-up is read once per tenant and version,
	// and kept plans of five statements for every tenant would fill the backends (QueryUnkept).
	if err := tenancy.QueryUnkept(ctx, tx, queries...); err != nil {
		return nil, translate(err, "reading the set-up")
	}
	if maxRows > 0 && s.rows > maxRows {
		return nil, fmt.Errorf("%w: more than %d rows", ErrSetupTooLarge, maxRows)
	}
	for i := range s.hours {
		h := &s.hours[i]
		m := s.members[h.staffID]
		h.staffName, h.active = m.DisplayName, m.Active
	}
	for id, br := range s.branches {
		if loc, err := zones.Load(br.TimeZone); err == nil {
			s.zones[id] = loc
		}
	}
	return s, nil
}

// ErrSetupTooLarge is returned by [LoadSetup] for a tenant whose set-up is over the limit.
var ErrSetupTooLarge = errors.New("the tenant's set-up is too large to keep in memory")

// setupHoursSQL reads every block of working hours with its breaks, by staff member, weekday and start.
const setupHoursSQL = `SELECT ` + hoursColumns + `, ''
	FROM citas_horario h
	` + hoursBreaks + `
	` + hoursOrder + `
	LIMIT $1`

// fill puts into d what req asks for. It is the one place that decides which working hours and
// exceptions a booking decision reads.
func (s *Setup) fill(d *bookingData, req loadRequest) {
	if req.serviceID != 0 {
		d.service = s.services[req.serviceID]
	}
	if req.branchID != 0 {
		d.branch = s.branches[req.branchID]
		d.loc = s.zones[req.branchID]
	}
	if req.staffID != 0 {
		d.staff, d.hasStaff = s.members[req.staffID]
	}
	if !req.schedule {
		return
	}
	// Working hours at the branch (0: any), of the staff member (0: any active one).
	d.hours = map[int64][]hoursRow{}
	for _, h := range s.hours {
		if (req.branchID == 0 || h.branchID == req.branchID) && (req.staffID == 0 || h.staffID == req.staffID) &&
			(req.staffID != 0 || h.active) {
			d.hours[h.staffID] = append(d.hours[h.staffID], h.hoursRow)
		}
	}
	// Exceptions a day either side of the range: the branch's own, and the staff member's (0:
	// every staff member's) at that branch or at every branch.
	from, to := req.from.AddDays(-1), req.to.AddDays(1)
	for _, e := range s.exceptions {
		if e.date.Before(from) || to.Before(e.date) {
			continue
		}
		if (e.staffID == 0 && e.branchID == req.branchID) ||
			(e.staffID != 0 && (req.staffID == 0 || e.staffID == req.staffID) && (e.branchID == 0 || e.branchID == req.branchID)) {
			d.except = append(d.except, e)
		}
	}
}

// busyStaff returns the staff members whose busy blocks availability at branch reads: those with
// working hours there (only staffID, unless 0), as busySQL's subquery finds them.
func (s *Setup) busyStaff(branchID, staffID int64) []int64 {
	var out []int64
	for _, h := range s.hours {
		if h.branchID == branchID && (staffID == 0 || h.staffID == staffID) &&
			(len(out) == 0 || out[len(out)-1] != h.staffID) {
			out = append(out, h.staffID)
		}
	}
	return out
}

// SetupCache keeps tenants' set-ups in memory, least recently used out first, within a budget of
// rows. A set-up is found only at the exact [SetupVersion] it was loaded at, so a cached set-up is
// never older than what the asking transaction would read. Safe for concurrent use.
type SetupCache struct {
	zones     *Zones
	maxRows   int // the budget, over every tenant
	maxTenant int // the largest set-up kept

	mu      sync.Mutex
	rows    int
	order   *list.List // of *setupEntry, front = most recently used
	entries map[string]*list.Element
	hits    uint64
	misses  uint64
}

type setupEntry struct {
	tenant  string
	version SetupVersion
	setup   *Setup // nil: too large to keep
	weight  int
}

// DefaultSetupCacheRows is the row budget of a SetupCache made with budget 0: about 350 bytes a
// row in the small set-ups most tenants have (TestSetupMemoryPerRow), so under 200 MB.
const DefaultSetupCacheRows = 500_000

// NewSetupCache returns a cache of at most maxRows set-up rows over every tenant (0:
// DefaultSetupCacheRows). A tenant whose set-up holds more than a tenth of the budget is not kept:
// its requests read what they need from its tables instead. zones loads the branches' time zones.
func NewSetupCache(maxRows int, zones *Zones) *SetupCache {
	if maxRows <= 0 {
		maxRows = DefaultSetupCacheRows
	}
	return &SetupCache{zones: zones, maxRows: maxRows, maxTenant: max(maxRows/10, 1),
		order: list.New(), entries: map[string]*list.Element{}}
}

// Get returns tenant's set-up at version v (read by [SetupVersionSQL] in tx), loading it in tx
// when it is not cached at that version. It returns nil, and no error, for a tenant too large to
// keep: the caller then reads from the tables. tenant names the tenant's schema uniquely across
// servers (server and schema).
func (c *SetupCache) Get(ctx context.Context, tx pgx.Tx, tenant string, v SetupVersion) (*Setup, error) {
	c.mu.Lock()
	if e, ok := c.entries[tenant]; ok {
		ent := e.Value.(*setupEntry)
		if ent.version == v {
			c.order.MoveToFront(e)
			c.hits++
			c.mu.Unlock()
			return ent.setup, nil
		}
	}
	c.misses++
	c.mu.Unlock()

	s, err := LoadSetup(ctx, tx, c.zones, c.maxTenant)
	if errors.Is(err, ErrSetupTooLarge) {
		c.put(tenant, v, nil, 1)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c.put(tenant, v, s, s.rows+1)
	return s, nil
}

// Cached returns the set-up the cache holds for tenant and its version, without loading anything
// and without counting a hit or a miss. ok is false when none is held. A held set-up may be nil: the
// tenant's is too large to keep. The caller must check that its transaction reads version v before
// it relies on the set-up (a read in one round trip sends SetupVersionSQL with its query).
func (c *SetupCache) Cached(tenant string) (s *Setup, v SetupVersion, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[tenant]
	if !ok {
		return nil, SetupVersion{}, false
	}
	ent := e.Value.(*setupEntry)
	c.order.MoveToFront(e)
	return ent.setup, ent.version, true
}

// put keeps s as tenant's set-up at v, unless a newer one was kept meanwhile, and evicts the
// least recently used set-ups over the budget.
func (c *SetupCache) put(tenant string, v SetupVersion, s *Setup, weight int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[tenant]; ok {
		ent := e.Value.(*setupEntry)
		if ent.version.Table == v.Table && ent.version.Version > v.Version {
			return // a concurrent request loaded a newer version
		}
		c.rows -= ent.weight
		c.order.Remove(e)
		delete(c.entries, tenant)
	}
	c.entries[tenant] = c.order.PushFront(&setupEntry{tenant: tenant, version: v, setup: s, weight: weight})
	c.rows += weight
	for c.rows > c.maxRows && c.order.Len() > 1 {
		old := c.order.Remove(c.order.Back()).(*setupEntry)
		delete(c.entries, old.tenant)
		c.rows -= old.weight
	}
}

// SetupCacheStats describes a SetupCache's contents and use.
type SetupCacheStats struct {
	Tenants      int
	Rows         int
	Hits, Misses uint64
}

// Stats returns the cache's counters.
func (c *SetupCache) Stats() SetupCacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return SetupCacheStats{Tenants: c.order.Len(), Rows: c.rows, Hits: c.hits, Misses: c.misses}
}
