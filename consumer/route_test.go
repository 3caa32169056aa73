package consumer

import (
	"errors"
	"strings"
	"testing"

	"github.com/laurel-server/laurel/channelsproto"
)

func TestRouteMatch(t *testing.T) {
	t.Parallel()
	r, err := compileRoute(Route{Path: "/ws/chat/{room}/{topic}/"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path string
		ok   bool
		kw   map[string]string
	}{
		{"/ws/chat/lobby/news/", true, map[string]string{"room": "lobby", "topic": "news"}},
		{"/ws/chat/lobby/news", false, nil},
		{"/ws/chat//news/", false, nil},
		{"/ws/chat/lobby/news/extra/", false, nil},
		{"/ws/chat/lobby/", false, nil},
		{"ws/chat/a/b/", false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			kw, ok := r.match(tc.path)
			if ok != tc.ok {
				t.Fatalf("match = %v, want %v", ok, tc.ok)
			}
			for k, v := range tc.kw {
				if kw[k] != v {
					t.Fatalf("kwargs %v, want %v", kw, tc.kw)
				}
			}
		})
	}
}

func TestRouteConfigErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		route Route
		want  string
	}{
		{"relative path", Route{Path: "ws/"}, "must start with /"},
		{"partial kwarg", Route{Path: "/ws/x{room}/"}, "whole path segment"},
		{"reserved kwarg", Route{Path: "/ws/{user_id}/"}, "kwarg"},
		{"unknown group ref", Route{Path: "/ws/", Groups: []string{"g_{room}"}}, "{room}"},
		{"unclosed", Route{Path: "/ws/", Groups: []string{"g_{room"}}, "unclosed"},
		{"bad auth", Route{Path: "/ws/", Auth: "sometimes"}, "auth"},
		{"join and leave", Route{Path: "/ws/", Actions: []Action{{Name: "a", Join: "x", Leave: "y"}}}, "exactly one"},
		{"neither", Route{Path: "/ws/", Actions: []Action{{Name: "a"}}}, "exactly one"},
		{"dup action", Route{Path: "/ws/", Actions: []Action{{Name: "a", Join: "x"}, {Name: "a", Leave: "x"}}}, "duplicate"},
		{"bad glob", Route{Path: "/ws/", Forward: []string{"task.["}}, "forward"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(Config{Layer: newFakeLayer(), Authenticator: &fakeAuth{}, Routes: []Route{tc.route}})
			if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrConfig mentioning %q", err, tc.want)
			}
		})
	}
	_, err := New(Config{Layer: newFakeLayer(), Authenticator: &fakeAuth{}, Routes: []Route{{Path: "/a/"}, {Path: "/a/"}}})
	if err == nil || !strings.Contains(err.Error(), "duplicate path") {
		t.Fatalf("duplicate path: %v", err)
	}
}

func TestDeclarativeRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) {
		c.RootPath = "/app"
		c.Routes = []Route{{
			Path:   "/ws/chat/{room}/",
			Auth:   AuthOptional,
			Groups: []string{"chat_{room}", "chat_{room}_user_{user_id}"},
			Actions: []Action{
				{Name: "follow", Join: "topic_{room}_{topic}"},
				{Name: "unfollow", Leave: "topic_{room}_{topic}"},
			},
			Forward: []string{"chat.*", "topic.message"},
		}}
	})
	anon := e.mustDial("/app/ws/chat/lobby/", "")
	alice := e.mustDial("/app/ws/chat/lobby/", aliceCookie)
	if m := e.layer.members("chat_lobby"); len(m) != 2 {
		t.Fatalf("chat_lobby members %v, want 2", m)
	}
	if m := e.layer.members("chat_lobby_user_7"); len(m) != 1 {
		t.Fatalf("chat_lobby_user_7 members %v, want alice only", m)
	}
	if _, status, err := e.dial("/ws/chat/lobby/", aliceCookie); err == nil || status != 404 {
		t.Fatalf("path outside the root path: %v", err)
	}
	if err := alice.WriteJSON(map[string]any{"action": "follow", "topic": "go"}); err != nil {
		t.Fatal(err)
	}
	if err := anon.WriteJSON(map[string]any{"action": "follow", "topic": "bad topic"}); err != nil {
		t.Fatal(err)
	}
	if got := readText(t, anon); !strings.Contains(got, `"error": "invalid_topic"`) {
		t.Fatalf("bad topic: %s", got)
	}
	eventually(t, "follow", func() bool { return len(e.layer.members("topic_lobby_go")) == 1 })

	e.layer.groupSend("chat_lobby", channelsproto.Map{{Key: "type", Value: "chat.message"}, {Key: "text", Value: "hi"}})
	e.layer.groupSend("chat_lobby", channelsproto.Map{{Key: "type", Value: "task.update"}})
	e.layer.groupSend("topic_lobby_go", channelsproto.Map{{Key: "type", Value: "topic.message"}})
	for _, c := range []*struct {
		name string
		want []string
	}{{"anon", []string{`{"type": "chat_message", "text": "hi"}`}}, {"alice", []string{`{"type": "chat_message", "text": "hi"}`, `{"type": "topic_message"}`}}} {
		conn := anon
		if c.name == "alice" {
			conn = alice
		}
		for _, w := range c.want {
			if got := readText(t, conn); got != w {
				t.Fatalf("%s got %s, want %s", c.name, got, w)
			}
		}
	}
	if err := alice.WriteJSON(map[string]any{"action": "unfollow", "topic": "go"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "unfollow", func() bool { return len(e.layer.members("topic_lobby_go")) == 0 })
}
