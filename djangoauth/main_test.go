package djangoauth

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaks a goroutine (pools not closed,
// single-flight waiters left behind).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
