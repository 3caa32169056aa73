package config

import (
	"fmt"
	"strconv"
	"time"
)

// Duration is a time.Duration read from TOML or the environment as a Go
// duration string ("10s", "1m30s") or as a number of seconds (10, 0.5), the
// unit Django and Daphne use.
type Duration time.Duration

// UnmarshalTOML implements toml.Unmarshaler.
func (d *Duration) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		*d = Duration(time.Duration(x) * time.Second)
	case float64:
		*d = Duration(time.Duration(x * float64(time.Second)))
	case string:
		return d.parse(x)
	default:
		return fmt.Errorf("want a duration like \"10s\" or a number of seconds, not %T", v)
	}
	return nil
}

func (d *Duration) parse(s string) error {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		*d = Duration(time.Duration(f * float64(time.Second)))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration like \"10s\" or a number of seconds, not %q", s)
	}
	*d = Duration(v)
	return nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
