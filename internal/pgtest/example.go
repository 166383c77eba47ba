package pgtest

import (
	"fmt"
	"testing"
)

// ExampleDatabase is [NewDatabase] for runnable examples, which have no *testing.T.
// It returns the database's connection string and a function that drops the database.
// It panics where NewDatabase would fail the test.
func ExampleDatabase(name string) (url string, cleanup func()) {
	tb := &exampleTB{name: name}
	return NewDatabase(tb), tb.cleanup
}

// exampleTB is the part of testing.TB that NewDatabase uses.
// Its other methods panic: the embedded TB is nil.
type exampleTB struct {
	testing.TB
	name     string
	cleanups []func()
}

// Helper does nothing.
func (t *exampleTB) Helper() {}

// Name returns the example's name.
func (t *exampleTB) Name() string { return t.name }

// Cleanup registers f to run, last registered first, when cleanup is called.
func (t *exampleTB) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }

// Fatalf panics with the message.
func (t *exampleTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// Fatal panics with the message.
func (t *exampleTB) Fatal(args ...any) { panic(fmt.Sprint(args...)) }

// Errorf panics with the message.
func (t *exampleTB) Errorf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// Logf drops the message.
func (t *exampleTB) Logf(string, ...any) {}

// cleanup runs the registered functions, last registered first.
func (t *exampleTB) cleanup() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}
