package bench

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// Markers delimiting the generated part of docs/benchmarks.md.
const (
	DocBegin = "<!-- laurel-bench results begin -->"
	DocEnd   = "<!-- laurel-bench results end -->"
)

// UpdateDoc replaces the text between DocBegin and DocEnd in path with the
// table of pairs, the date and the command line that produced it.
func UpdateDoc(path string, pairs []Pair, cmdline string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(b)
	i, j := strings.Index(s, DocBegin), strings.Index(s, DocEnd)
	if i < 0 || j < i {
		return fmt.Errorf("bench: %s has no %q ... %q section", path, DocBegin, DocEnd)
	}
	var t strings.Builder
	fmt.Fprintf(&t, "%s\n\nGenerated %s by `laurel-bench %s`.\n\n", DocBegin, time.Now().UTC().Format("2006-01-02 15:04 MST"), cmdline)
	if err := WriteTable(&t, pairs); err != nil {
		return err
	}
	t.WriteString("\n")
	return os.WriteFile(path, []byte(s[:i]+t.String()+s[j:]), 0o644) //nolint:gosec // a doc file
}
