package djangoauth

import "testing"

func TestPyIntString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string // "" = ValueError
	}{
		{"1", "1"}, {" 1 ", "1"}, {"1_0", "10"}, {"+7", "7"}, {"-3", "-3"}, {"\t\n42\r\x0b", "42"},
		{"007", "7"}, {"\u0661\u0662", "12"}, {"\u00a012\u2003", "12"},
		{"abc", ""}, {"", ""}, {" ", ""}, {"1__0", ""}, {"_1", ""}, {"1_", ""}, {"1.0", ""}, {"0x10", ""},
		{"+", ""}, {"--1", ""}, {"1 2", ""}, {"99999999999999999999999", "99999999999999999999999"},
	}
	for _, tc := range tests {
		n, ok := pyIntString(tc.in)
		got := ""
		if ok {
			got = n.String()
		}
		if got != tc.want {
			t.Errorf("int(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
