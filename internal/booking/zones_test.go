package booking_test

import (
	"testing"

	"github.com/appcitas/appcitas/internal/booking"
)

// TestZonesLoadsEachZoneOnce checks the zone cache: a zone that loads is kept (the same
// *time.Location comes back), one that does not is refused every time and not kept, and a nil
// cache loads like LoadZone.
func TestZonesLoadsEachZoneOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		zones   *booking.Zones
		zone    string
		wantErr bool
		kept    bool
	}{
		{"ValidZoneIsKept", &booking.Zones{}, "America/Bogota", false, true},
		{"UnknownZoneIsRefusedEveryTime", &booking.Zones{}, "America/Atlantis", true, false},
		{"LocalIsRefused", &booking.Zones{}, "Local", true, false},
		{"NilCacheLoadsEachTime", nil, "America/Santiago", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			first, err1 := tt.zones.Load(tt.zone)
			second, err2 := tt.zones.Load(tt.zone)
			if tt.wantErr {
				if err1 == nil || err2 == nil {
					t.Fatalf("Load(%q) = %v, %v; want an error both times", tt.zone, err1, err2)
				}
				return
			}
			if err1 != nil || err2 != nil {
				t.Fatalf("Load(%q): %v, %v", tt.zone, err1, err2)
			}
			if first.String() != tt.zone || second.String() != tt.zone {
				t.Errorf("loaded %q and %q; want %q", first, second, tt.zone)
			}
			if (first == second) != tt.kept {
				t.Errorf("same *time.Location both times: %v; want %v", first == second, tt.kept)
			}
		})
	}
}
