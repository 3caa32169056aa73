package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

const base = `
SECRET_KEY = "s3cret"
ALLOWED_HOSTS = ["app.example"]
SESSION_SERIALIZER = "django.contrib.sessions.serializers.JSONSerializer"

[DATABASES.default]
ENGINE = "django.db.backends.sqlite3"
NAME = "/tmp/db.sqlite3"

[CHANNEL_LAYERS.default]
BACKEND = "channels_redis.core.RedisChannelLayer"
[CHANNEL_LAYERS.default.CONFIG]
hosts = ["redis://127.0.0.1:6379/0"]
group_expiry = 3600
`

func TestParse(t *testing.T) {
	t.Parallel()
	s, err := Parse([]byte(base+`
[laurel]
queue_size = 64
drain_period = "2s"
ping_interval = 5
[[laurel.routes]]
path = "/ws/chat/{room}/"
auth = "optional"
groups = ["chat_{room}"]
forward = ["chat.*"]
[[laurel.routes.actions]]
name = "join"
join = "topic_{topic}"
`), []string{"LAUREL_SUBSCRIPTION_LIMIT=7", "HOME=/root", "LAUREL_DATABASES__default__PASSWORD=pw", "LAUREL_E2E_KEEP=1"})
	if err != nil {
		t.Fatal(err)
	}
	l := s.Laurel
	if l.QueueSize != 64 || l.SubscriptionLimit != 7 || l.DrainPeriod.D() != 2*time.Second || l.PingInterval.D() != 5*time.Second {
		t.Fatalf("laurel settings %+v", l)
	}
	if len(l.Routes) != 1 || l.Routes[0].Path != "/ws/chat/{room}/" || l.Routes[0].Actions[0].Join != "topic_{topic}" {
		t.Fatalf("routes %+v", l.Routes)
	}
	if pw := s.Django["DATABASES"].(map[string]any)["default"].(map[string]any)["PASSWORD"]; pw != "pw" {
		t.Fatalf("nested override: %v", pw)
	}
	if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "LAUREL_E2E_KEEP") {
		t.Fatalf("warnings %v", s.Warnings)
	}
	layer, err := s.ChannelLayer()
	if err != nil {
		t.Fatal(err)
	}
	if string(layer) != `{"group_expiry":3600,"hosts":["redis://127.0.0.1:6379/0"]}` {
		t.Fatalf("channel layer JSON %s", layer)
	}
	dj, err := s.DjangoJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dj), `"SECRET_KEY":"s3cret"`) || strings.Contains(string(dj), "laurel") {
		t.Fatalf("django JSON %s", dj)
	}
}

func TestEnvOverrides(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		env   string
		check func(*Settings) bool
	}{
		{"secret", "LAUREL_SECRET_KEY=other", func(s *Settings) bool { return s.Django["SECRET_KEY"] == "other" }},
		{"hosts comma", "LAUREL_ALLOWED_HOSTS=a.example, b.example", func(s *Settings) bool {
			h := s.Django["ALLOWED_HOSTS"].([]any)
			return len(h) == 2 && h[1] == "b.example"
		}},
		{"hosts json", `LAUREL_ALLOWED_HOSTS=["x.example"]`, func(s *Settings) bool {
			h := s.Django["ALLOWED_HOSTS"].([]any)
			return len(h) == 1 && h[0] == "x.example"
		}},
		{"debug", "LAUREL_DEBUG=true", func(s *Settings) bool { return s.Django["DEBUG"] == true }},
		{"cookie age", "LAUREL_SESSION_COOKIE_AGE=60", func(s *Settings) bool { return s.Django["SESSION_COOKIE_AGE"] == int64(60) }},
		{"verdict ttl", "LAUREL_VERDICT_TTL=0.5", func(s *Settings) bool { return s.Django["LAUREL_VERDICT_TTL"] == 0.5 }},
		{"user table", "LAUREL_USER_TABLE=accounts_user", func(s *Settings) bool { return s.Django["LAUREL_USER_TABLE"] == "accounts_user" }},
		{"queue", "LAUREL_QUEUE_SIZE=9", func(s *Settings) bool { return s.Laurel.QueueSize == 9 }},
		{"duration", "LAUREL_DRAIN_PERIOD=1m", func(s *Settings) bool { return s.Laurel.DrainPeriod.D() == time.Minute }},
		{"membership", "LAUREL_GROUP_MEMBERSHIP=process", func(s *Settings) bool { return s.Laurel.GroupMembership == "process" }},
		{"per address", "LAUREL_MAX_SOCKETS_PER_ADDRESS=3", func(s *Settings) bool { return s.Laurel.MaxSocketsPerAddress == 3 }},
		{"heartbeat", "LAUREL_HEARTBEAT_INTERVAL=2s", func(s *Settings) bool { return s.Laurel.HeartbeatInterval.D() == 2*time.Second }},
		{"upstream", "LAUREL_UPSTREAM=unix:/run/daphne.sock", func(s *Settings) bool { return s.Laurel.Upstream == "unix:/run/daphne.sock" }},
		{"routes", `LAUREL_ROUTES=[{"path":"/ws/a/","groups":["g"]}]`, func(s *Settings) bool {
			return len(s.Laurel.Routes) == 1 && s.Laurel.Routes[0].Groups[0] == "g"
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := Parse([]byte(base), []string{tc.env})
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(s) {
				t.Fatalf("override %s not applied: %+v %+v", tc.env, s.Django, s.Laurel)
			}
		})
	}
}

// Every [laurel] key can be overridden from the environment.
func TestEveryLaurelKeyHasAnEnvOverride(t *testing.T) {
	t.Parallel()
	typ := reflect.TypeFor[Laurel]()
	for i := range typ.NumField() {
		key, _, _ := strings.Cut(typ.Field(i).Tag.Get("toml"), ",")
		if key == "" || key == "-" {
			continue
		}
		if _, ok := laurelSettings[key]; !ok {
			t.Errorf("laurel.%s has no LAUREL_%s override (laurelSettings)", key, strings.ToUpper(key))
		}
	}
}

func TestEnvReference(t *testing.T) {
	t.Parallel()
	doc := strings.Replace(base, `SECRET_KEY = "s3cret"`, `SECRET_KEY = { env = "DJANGO_SECRET_KEY" }`, 1)
	s, err := Parse([]byte(doc), []string{"DJANGO_SECRET_KEY=from-env"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Django["SECRET_KEY"] != "from-env" {
		t.Fatalf("SECRET_KEY %v", s.Django["SECRET_KEY"])
	}
	if _, err := Parse([]byte(doc), nil); err == nil || !strings.Contains(err.Error(), "DJANGO_SECRET_KEY") {
		t.Fatalf("missing variable: %v", err)
	}
}

func TestErrorsNameTheSetting(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, doc string
		env       []string
		want      string
	}{
		{"no secret", strings.Replace(base, `SECRET_KEY = "s3cret"`, "", 1), nil, "SECRET_KEY"},
		{"no layer", base[:strings.Index(base, "[CHANNEL_LAYERS")], nil, "CHANNEL_LAYERS"},
		{"in-memory layer", strings.Replace(base, "channels_redis.core.RedisChannelLayer", "channels.layers.InMemoryChannelLayer", 1), nil, "CHANNEL_LAYERS.default.BACKEND"},
		{"no hosts", strings.Replace(base, `ALLOWED_HOSTS = ["app.example"]`, "", 1), nil, "ALLOWED_HOSTS"},
		{"unknown laurel key", base + "[laurel]\nqueue_sise = 3\n", nil, "laurel.queue_sise"},
		{"bad duration", base + "[laurel]\ndrain_period = \"soon\"\n", nil, "drain_period"},
		{"bad env int", base, []string{"LAUREL_QUEUE_SIZE=lots"}, "LAUREL_QUEUE_SIZE"},
		{"bad env bool", base, []string{"LAUREL_DEBUG=maybe"}, "LAUREL_DEBUG"},
		{"lower top key", "secret_key = 1\n" + base, nil, "secret_key"},
		{"bad toml", "SECRET_KEY = ", nil, "TOML"},
		{"negative", base + "[laurel]\nqueue_size = -1\n", nil, "laurel.queue_size"},
		{"log format", base + "[laurel]\nlog_format = \"xml\"\n", nil, "laurel.log_format"},
		{"group membership", base + "[laurel]\ngroup_membership = \"shared\"\n", nil, "laurel.group_membership"},
		{"env group membership", base, []string{"LAUREL_GROUP_MEMBERSHIP=per_socket"}, "laurel.group_membership"},
		{"max_sockets string", base + "[laurel]\nmax_sockets = \"lots\"\n", nil, "max_sockets"},
		{"max_sockets float", base + "[laurel]\nmax_sockets = 1.5\n", nil, "max_sockets"},
		{"env max_sockets word", base, []string{"LAUREL_MAX_SOCKETS=lots"}, "LAUREL_MAX_SOCKETS"},
		{"env max_sockets empty", base, []string{"LAUREL_MAX_SOCKETS="}, "LAUREL_MAX_SOCKETS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tc.doc), tc.env)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name %q", err, tc.want)
			}
			if tc.name != "bad toml" && !errors.Is(err, ErrSetting) {
				t.Fatalf("error %v does not wrap ErrSetting", err)
			}
		})
	}
}
