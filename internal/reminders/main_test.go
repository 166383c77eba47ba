package reminders_test

import (
	"os"
	"testing"

	"github.com/appcitas/appcitas/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
