package channelsproto

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	cfg, err := ParseConfig([]byte(`{
		"hosts": ["redis://:pw@r1:6379/2", ["r2", 6380], ["r2b", "6381"],
		          {"address": "rediss://r3:6380", "ssl_cert_reqs": null, "socket_timeout": 5},
		          {"sentinels": [["s1", 26379], ["s2", 26379]], "master_name": "mymaster",
		           "sentinel_kwargs": {"password": "sp"}, "password": "mp", "db": 3},
		          {"host": "r4", "port": 6379, "password": "pw4", "db": 1, "ssl": true}],
		"prefix": "myapp", "expiry": 30, "group_expiry": 3600, "capacity": 150,
		"channel_capacity": {"http.request": 200, "re:^websocket\\.send!.*": 20, "b*": 5},
		"symmetric_encryption_keys": ["k1", "k2"], "random_prefix_length": 0,
		"serializer_format": "json"
	}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Hosts: []Host{
			{URL: "redis://:pw@r1:6379/2"},
			{Addr: "r2:6380"},
			{Addr: "r2b:6381"},
			{URL: "rediss://r3:6380", InsecureSkipVerify: true, ReadTimeout: 5 * time.Second},
			{Sentinels: []string{"s1:26379", "s2:26379"}, MasterName: "mymaster", SentinelPassword: "sp", Password: "mp", DB: 3},
			{Addr: "r4:6379", Password: "pw4", DB: 1, TLS: true},
		},
		Prefix: "myapp", Expiry: 30 * time.Second, GroupExpiry: time.Hour, Capacity: 150,
		ChannelCapacity: []CapacityRule{
			{Pattern: "http.request", Capacity: 200},
			{Pattern: `^websocket\.send!.*`, Regex: true, Capacity: 20},
			{Pattern: "b*", Capacity: 5},
		},
		SymmetricEncryptionKeys: []string{"k1", "k2"},
		SerializerFormat:        "json",
	}
	if cfg.RandomPrefixLength == nil || *cfg.RandomPrefixLength != 0 {
		t.Fatalf("random_prefix_length = %v", cfg.RandomPrefixLength)
	}
	cfg.RandomPrefixLength = nil
	if got, exp := strings.ReplaceAll(sprintCfg(cfg), " ", ""), strings.ReplaceAll(sprintCfg(want), " ", ""); got != exp {
		t.Fatalf("\n got %s\nwant %s", got, exp)
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatalf("New(parsed config): %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func sprintCfg(c Config) string {
	var b strings.Builder
	for _, h := range c.Hosts {
		b.WriteString(strings.Join([]string{h.URL, h.Addr, strings.Join(h.Sentinels, ","), h.MasterName, h.SentinelUsername, h.SentinelPassword, h.Username, h.Password}, "|"))
		b.WriteString("|" + boolStr(h.TLS) + boolStr(h.InsecureSkipVerify) + h.DialTimeout.String() + h.ReadTimeout.String() + ";")
		b.WriteString(string(rune('0' + h.DB)))
	}
	b.WriteString(c.Prefix + c.Expiry.String() + c.GroupExpiry.String())
	for _, r := range c.ChannelCapacity {
		b.WriteString(r.Pattern + boolStr(r.Regex) + string(rune('0'+r.Capacity%10)))
	}
	b.WriteString(strings.Join(c.SymmetricEncryptionKeys, ",") + c.SerializerFormat)
	return b.String() + string(rune('0'+c.Capacity%10))
}

func boolStr(b bool) string {
	if b {
		return "T"
	}
	return "F"
}

func TestParseConfigErrorsNameTheKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, json, key string
	}{
		{"hosts string", `{"hosts": "redis://x"}`, "hosts"},
		{"bad url", `{"hosts": ["http://x"]}`, "hosts[0]"},
		{"bad pair", `{"hosts": [["h"]]}`, "hosts[0]"},
		{"unknown host option", `{"hosts": [{"address": "redis://x", "bogus": 1}]}`, `"bogus"`},
		{"sentinel without master", `{"hosts": [{"sentinels": [["s", 1]]}]}`, "master_name"},
		{"expiry string", `{"expiry": "60"}`, "expiry"},
		{"expiry zero", `{"expiry": 0}`, "expiry"},
		{"group_expiry float", `{"group_expiry": 1.5}`, "group_expiry"},
		{"capacity negative", `{"capacity": -1}`, "capacity"},
		{"channel_capacity value", `{"channel_capacity": {"a": "x"}}`, "channel_capacity"},
		{"bad regex", `{"channel_capacity": {"re:(": 1}}`, "channel_capacity"},
		{"keys string", `{"symmetric_encryption_keys": "k"}`, "symmetric_encryption_keys"},
		{"format", `{"serializer_format": "pickle"}`, "serializer_format"},
		{"prefix type", `{"prefix": 1}`, "prefix"},
		{"unknown key", `{"hostz": []}`, "hostz"},
		{"not object", `[]`, "object"},
		{"not json", `{`, "JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseConfig([]byte(tt.json))
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("got %v, want ErrConfig", err)
			}
			if !strings.Contains(err.Error(), tt.key) {
				t.Fatalf("error %q does not name %q", err, tt.key)
			}
		})
	}
}

func TestFnmatchTranslate(t *testing.T) {
	t.Parallel()
	// Expected matches follow Python fnmatch.fnmatchcase (see also
	// capacity.json from real channels_redis).
	tests := []struct {
		pat, name string
		want      bool
	}{
		{"a*", "abc", true}, {"a*", "xabc", false}, {"a?c", "abc", true}, {"a?c", "a\nc", true},
		{"[!a]b", "ab", false}, {"[!a]b", "cb", true}, {"[]]x", "]x", true}, {"[a-c]", "b", true},
		{"a.b", "aXb", false}, {"x[", "x[", true}, {"*.*", "a.b", true}, {"a\\b", "a\\b", true},
		{"[^a]", "^", true}, {"[^a]", "b", false},
	}
	for _, tt := range tests {
		rules, err := compileRules([]CapacityRule{{Pattern: tt.pat, Capacity: 1}})
		if err != nil {
			t.Fatalf("%q: %v", tt.pat, err)
		}
		if got := rules[0].re.MatchString(tt.name); got != tt.want {
			t.Errorf("fnmatch(%q, %q) = %v, want %v", tt.name, tt.pat, got, tt.want)
		}
	}
}

func TestNewDefaultsAndValidation(t *testing.T) {
	t.Parallel()
	l, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.prefix != "asgi" || l.expiry != 60 || l.groupExpiry != 86400 || l.capacity != 100 || l.ser.prefixLen != 12 || l.hosts[0].URL != "redis://localhost:6379" {
		t.Fatalf("defaults: %+v", l)
	}
	if _, err := New(Config{Expiry: 1500 * time.Millisecond}); !errors.Is(err, ErrConfig) {
		t.Fatalf("fractional expiry: %v", err)
	}
	if _, err := New(Config{Hosts: []Host{{}}}); !errors.Is(err, ErrConfig) {
		t.Fatalf("empty host: %v", err)
	}
}
